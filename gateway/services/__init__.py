"""Use cases, one unit of work each: payments, refunds, customers and saved cards, installment
plans, wallets, webhooks and events, ledger, settlement, reconciliation, devices (enrollment,
ingest, confirmations, credit, commands). No Flask, no environment: settings come from
gateway.config.Settings through the composition root (gateway.bootstrap)."""
