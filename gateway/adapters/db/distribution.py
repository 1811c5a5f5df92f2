"""How each table would distribute on Citus (distributed PostgreSQL), for when one primary is no
longer enough: the column a table is sharded by, or REFERENCE for a small table copied to every
node. docs/scaling.md explains the choices; tests/unit/test_distribution.py checks that every
table of the schema is named here, by a column it has.

Co-location groups (tables sharded by the same value land on the same node, so their joins and
transactions stay on one shard):
- merchant: a merchant's payments, refunds, customers, cards, plans, events, webhooks and keys.
  A payment, its refund and its event are written in one local transaction.
- device: a device and everything it sends or is sent (ingest writes a batch per device shard).
- ledger account: an account's balance row and its postings move together; a ledger
  transaction touching several accounts (merchant, clearing, fees) is a distributed one (2PC).
"""
from __future__ import annotations

REFERENCE = "reference"

DISTRIBUTION: dict[str, str] = {
    # merchant group
    "merchants": "id",
    "api_keys": REFERENCE,  # looked up by key hash before the merchant is known; small
    "card_tokens": "merchant_id",
    "customers": "merchant_id",
    "saved_cards": "merchant_id",
    "payments": "merchant_id",
    "refunds": "merchant_id",
    "events": "merchant_id",
    "webhook_endpoints": "merchant_id",
    "webhook_deliveries": "merchant_id",
    "idempotency_keys": "merchant_id",
    "installment_products": "merchant_id",
    "installment_plans": "merchant_id",
    "enrollment_tokens": "merchant_id",
    # the hosted page finds its session by id alone: one lookup across shards per page view
    "checkout_sessions": "merchant_id",
    # dashboard sign-in: users are found by e-mail before their merchant is known; few of them
    "dashboard_users": REFERENCE,
    # by their parent's key, until they carry merchant_id (see docs/scaling.md)
    "consents": "customer_id",
    "installments": "plan_id",
    # device group
    "devices": "id",
    "device_messages": "device_id",
    "device_commands": "device_id",
    "device_rejections": "device_id",
    "device_tokens": "device_id",
    "device_confirmations": "device_id",
    "device_payg_credentials": "device_id",
    # money-market fund (docs/fund.md)
    "funds": REFERENCE,  # a handful of rows, read by every order and joined by the accrual on every node
    "fund_income_figures": REFERENCE,  # one row per fund and day, read by the accrual on every node
    # A holder's money by customer: the day's set-based accrual then runs on every node at once
    # (by fund, one fund's million holders would sit on one node).
    "fund_holdings": "customer_id",
    # Orders by merchant: written in one local transaction with their payment and event.
    "fund_subscriptions": "merchant_id",
    "fund_redemptions": "merchant_id",
    # by their holding's key, until they carry customer_id (like consents and installments above)
    "fund_movements": "holding_seq",
    "fund_holder_income": "holding_seq",
    # the accrual's bookkeeping: one run per fund and day, its chunks with it
    "fund_accrual_runs": "fund_id",
    "fund_accrual_chunks": "run_id",
    # credit score: a customer's features and scores go with the customer's rows (sharded like
    # consents, by customer_id, until they carry merchant_id); contests and bureau queries are a
    # merchant's requests; daily usage follows its device; training examples are read in bulk by
    # the offline training only, sharded by their subject (a customer id or a simulated key).
    "credit_features": "customer_id",
    "credit_scores": "customer_id",
    "credit_contests": "merchant_id",
    "credit_bureau_queries": "merchant_id",
    "credit_observations": "subject",
    "device_usage_days": "device_id",
    # Model versions are few (a handful a quarter) and every scoring joins the live one; the
    # nightly job's runs are one row a day that every worker claims: both copied to every node.
    "credit_models": REFERENCE,
    "credit_job_runs": REFERENCE,
    # ledger
    "ledger_accounts": "id",
    "ledger_postings": "account_id",
    "ledger_transactions": "id",
    # sandbox banks and wallets (test mode only; in production these are the banks' systems)
    "sandbox_bank_transactions": "reference",
    "sandbox_card_bindings": "reference",
    "sandbox_wallet_orders": "payment_id",
    "sandbox_provider_keys": REFERENCE,
    "sandbox_clock": REFERENCE,  # one row: the test-mode time every process reads
    "wallet_notifications": "provider",
}
