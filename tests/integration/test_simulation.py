"""A deterministic simulation (hypothesis stateful testing) of a merchant's life on PostgreSQL:
payments approved, declined, timed out or answered by callback, authorized and captured in part,
cancelled, refunded in pieces, retried with the same Idempotency-Key, settled by reconciliation;
installment plans collected over travelled months; and injected faults: a gateway that dies
between asking the bank and recording its answer, and bank callbacks delivered twice.

After every step: the ledger balances, no payment went where the state machine forbids, the
merchant's balance is what its captures, fees and refunds say, and the bank never took money
twice for one payment or one installment. A failure prints the steps and the seed to replay
(`--hypothesis-seed=N`)."""
from __future__ import annotations

import os
import uuid
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, invariant, rule
from sqlalchemy import func, select

from gateway.adapters.connectors.sandbox_core import SandboxBankTransaction
from gateway.adapters.db.installment_models import InstallmentPlan
from gateway.adapters.db.models import Payment
from gateway.domain.money import merchant_fee
from gateway.domain.reconciliation import RECONCILE_SCHEDULE
from gateway.entrypoints.workers import installments as installment_worker
from gateway.entrypoints.workers import reconciliation as reconciliation_worker
from gateway.services.ledger import verify
from tests.integration.conftest import Shop, TimeMachine, approved_last4, make_gateway

pytestmark = pytest.mark.postgres_only

SIM_EXAMPLES = int(os.environ.get("PAYGATE_SIM_EXAMPLES", "8"))  # more for a longer hunt

# Where a payment may go from each state, over any number of steps.
ALLOWED_NEXT = {
    "requires_confirmation": {"requires_confirmation", "processing", "succeeded", "failed", "requires_capture", "canceled"},
    "requires_action": {"requires_action", "processing", "succeeded", "failed", "requires_capture", "canceled"},
    "processing": {"processing", "succeeded", "failed", "requires_capture", "canceled"},
    "requires_capture": {"requires_capture", "succeeded", "canceled"},
    "succeeded": {"succeeded"},
    "failed": {"failed"},
    "canceled": {"canceled"},
}

KEYS_KEPT = timedelta(hours=24)  # how long idempotency keys are kept

CARDS = {  # what the sandbox bank does with a card, by its last four digits
    "approve": None,
    "decline": "0002",
    "timeout": "0119",  # the bank takes the money, its answer is lost
}


class CrashBetweenPhases:
    """A connector wrapper: while armed, the bank is asked and answers, and then the gateway
    'dies' before it records the answer (the call raises)."""

    def __init__(self, connector):
        self.connector, self.armed = connector, False

    def __getattr__(self, name):
        return getattr(self.connector, name)

    def authorize(self, request):
        result = self.connector.authorize(request)
        if self.armed:
            raise ConnectionResetError("simulated crash after the bank answered")
        return result


class MerchantLife(RuleBasedStateMachine):
    gw = None  # set by the test

    payments = Bundle("payments")
    plans = Bundle("plans")

    def __init__(self):
        super().__init__()
        self.shop = Shop(self.gw, f"Sim {uuid.uuid4().hex[:8]}")
        self.clock = TimeMachine(self.gw)
        self.seen: dict[str, str] = {}  # payment id -> last status seen
        self.replays: dict[str, tuple] = {}  # idempotency key -> (body, payment id, sent at)
        self.product = self.shop.post("/v1/installment_products", {
            "name": "Phone", "terms": [3, 6], "method": "equal_installment", "apr": "12", "down_payment_share": "0.1",
            "grace_days": 3, "late_fee_fixed": 1_000, "late_fee_cap": 3_000}).json

    def teardown(self):
        self.clock.restore()
        for wrapper in self.gw.connectors.values():
            if isinstance(wrapper, CrashBetweenPhases):
                wrapper.armed = False

    # ---- rules ----------------------------------------------------------------------------

    @rule(target=payments, amount=st.integers(100, 500_000), card=st.sampled_from(sorted(CARDS)),
          bank=st.sampled_from(["ICBC", "CMB", "PSBC"]), manual=st.booleans(), crash=st.booleans())
    def pay(self, amount, card, bank, manual, crash):
        key = str(uuid.uuid4())
        body = {"amount": amount, "currency": "CNY", "payment_method": self.shop.token(CARDS[card] or approved_last4(), bank),
                "confirm": True, "capture_method": "manual" if manual else "automatic"}
        self._arm(crash)
        try:
            response = self.shop.post("/v1/payments", body, idempotency_key=key)
        finally:
            self._arm(False)
        assert response.status_code == 200, response.json
        payment = response.json
        assert payment["amount"] == amount
        self.replays[key] = (body, payment["id"], self.gw.clock())
        self._observe(payment)
        return payment["id"]

    @rule(data=st.data())
    def retry_with_the_same_key(self, data):
        if not self.replays:
            return
        key = data.draw(st.sampled_from(sorted(self.replays)))
        body, payment_id, sent_at = self.replays[key]
        response = self.shop.post("/v1/payments", body, idempotency_key=key)
        replayed = response.status_code == 200 and response.json["id"] == payment_id  # the first answer
        refused = (response.status_code, response.json.get("error", {}).get("code")) == (409, "token_already_used")
        age = self.gw.clock() - sent_at
        if age < KEYS_KEPT - timedelta(hours=1):
            assert replayed, response.json
        elif age > KEYS_KEPT + timedelta(hours=1):  # expired: a new request, which the spent token refuses
            assert refused, response.json
        else:
            assert replayed or refused, response.json

    @rule(payment_id=payments, share=st.sampled_from([None, 0.3, 1.0]))
    def capture(self, payment_id, share):
        payment = self._get(payment_id)
        amount = None if share is None else max(1, int(payment["amount_capturable"] * share))
        response = self.shop.post(f"/v1/payments/{payment_id}/capture", {} if amount is None else {"amount_to_capture": amount},
                                  idempotency_key=str(uuid.uuid4()))
        assert response.status_code in (200, 400, 409), response.json
        self._observe(self._get(payment_id))

    @rule(payment_id=payments)
    def cancel(self, payment_id):
        response = self.shop.post(f"/v1/payments/{payment_id}/cancel", {}, idempotency_key=str(uuid.uuid4()))
        assert response.status_code in (200, 409), response.json
        self._observe(self._get(payment_id))

    @rule(payment_id=payments, share=st.sampled_from([None, 0.25, 0.5]))
    def refund(self, payment_id, share):
        payment = self._get(payment_id)
        left = payment["amount_received"] - payment["amount_refunded"]
        body = {"payment": payment_id} if share is None or left < 4 else {"payment": payment_id, "amount": int(left * share)}
        response = self.shop.post("/v1/refunds", body, idempotency_key=str(uuid.uuid4()))
        assert response.status_code in (200, 400, 409), response.json
        self._observe(self._get(payment_id))

    @rule(payment_id=payments)
    def bank_calls_back_twice(self, payment_id):
        payment = self._get(payment_id)
        connector = self.gw.connector(self._connector_of(payment_id))
        if not hasattr(connector, "signed_callback") or not self._bank_rows(payment_id, "debit"):
            return
        body, signature = connector.signed_callback(payment_id)
        for _ in range(2):
            response = self.shop.client.post(f"/v1/bank_callbacks/{connector.name}", data=body,
                                              headers={"Bank-Signature": signature, "Content-Type": "application/json"})
            assert response.status_code in (200, 400), response.json
        self._observe(self._get(payment_id))
        assert payment["amount"] == self._get(payment_id)["amount"]

    @rule()
    def reconciliation_runs(self):
        self.clock.travel(RECONCILE_SCHEDULE[0] + timedelta(seconds=1))
        reconciliation_worker.run_once(self.gw)

    @rule(target=plans, term=st.sampled_from([3, 6]), amount=st.integers(60_000, 400_000))
    def buy_on_installments(self, term, amount):
        customer = self.shop.customer()
        card = self.shop.saved_card(customer["id"], "ICBC")
        response = self.shop.post("/v1/installment_plans", {"customer": customer["id"], "card": card["id"], "product": self.product["id"],
                                                            "term_months": term, "amount": amount}, idempotency_key=str(uuid.uuid4()))
        assert response.status_code in (200, 402, 409), response.json
        return response.json.get("id") if response.status_code == 200 else None

    @rule(plan_id=plans, days=st.integers(1, 40), crash=st.booleans())
    def months_pass_and_installments_are_collected(self, plan_id, days, crash):
        self.clock.travel(timedelta(days=days))
        self._arm(crash)
        try:
            installment_worker.run_once(self.gw)
        finally:
            self._arm(False)
        reconciliation_worker.run_once(self.gw)

    # ---- invariants -----------------------------------------------------------------------

    @invariant()
    def the_ledger_balances(self):
        report = verify(self.gw)
        assert report.ok, report.problems

    @invariant()
    def payments_only_move_as_the_state_machine_allows(self):
        for payment_id in list(self.seen):
            self._observe(self._get(payment_id))

    @invariant()
    def the_balance_is_captures_less_fees_less_refunds(self):
        """Card payments and down payments: what was captured, less the fee, less refunds; plans
        in force: the financed part, less its fee, paid at once (a plan cancelled in its
        cooling-off period is reversed, one whose down payment failed was never paid)."""
        rate = self.gw.settings.default_discount_rate
        with self.gw.db.unit_of_work() as session:
            captured = session.execute(select(Payment.amount_received, Payment.amount_refunded).where(
                Payment.merchant_id == self.shop.id, Payment.purpose != "installment")).all()
            financed = session.execute(select(InstallmentPlan.financed).where(
                InstallmentPlan.merchant_id == self.shop.id, InstallmentPlan.state.in_(("active", "completed")))).scalars().all()
        expected = sum(received - merchant_fee(received, rate) - refunded for received, refunded in captured)
        expected += sum(amount - merchant_fee(amount, rate) for amount in financed)
        assert self.shop.balance() == expected

    @invariant()
    def the_bank_never_takes_money_twice(self):
        with self.gw.db.unit_of_work() as session:
            ours = select(Payment.id).where(Payment.merchant_id == self.shop.id)
            twice = session.execute(
                select(SandboxBankTransaction.payment_id, func.count())
                .where(SandboxBankTransaction.kind == "debit", SandboxBankTransaction.outcome == "approved",
                       SandboxBankTransaction.payment_id.in_(ours))
                .group_by(SandboxBankTransaction.payment_id).having(func.count() > 1)
            ).all()
            installment_twice = session.execute(
                # a scheduled debit's description names its installment and plan
                select(Payment.description, func.count())
                .join(SandboxBankTransaction, SandboxBankTransaction.payment_id == Payment.id)
                .where(Payment.merchant_id == self.shop.id, Payment.purpose == "installment", Payment.description.like("installment %"),
                       SandboxBankTransaction.kind == "debit", SandboxBankTransaction.outcome == "approved")
                .group_by(Payment.description)
                .having(func.count() > 1)
            ).all()
        assert twice == [], f"payments debited twice: {twice}"
        assert installment_twice == [], f"installments debited twice: {installment_twice}: {self._debits_of(installment_twice)}"

    def _debits_of(self, descriptions) -> list:
        """The payments and bank debits behind each installment debited twice, for the report."""
        with self.gw.db.unit_of_work() as session:
            return session.execute(
                select(Payment.id, Payment.status, Payment.created_at, Payment.failure_code, SandboxBankTransaction.outcome,
                       SandboxBankTransaction.created_at)
                .join(SandboxBankTransaction, SandboxBankTransaction.payment_id == Payment.id, isouter=True)
                .where(Payment.description.in_([description for description, _ in descriptions]))
                .order_by(Payment.created_at)
            ).all()

    # ---- helpers --------------------------------------------------------------------------

    def _arm(self, crash: bool) -> None:
        for name, connector in list(self.gw.connectors.items()):
            if not isinstance(connector, CrashBetweenPhases):
                connector = self.gw.connectors[name] = CrashBetweenPhases(connector)
            connector.armed = crash

    def _get(self, payment_id: str) -> dict:
        response = self.shop.get(f"/v1/payments/{payment_id}")
        assert response.status_code == 200, response.json
        return response.json

    def _observe(self, payment: dict) -> None:
        before = self.seen.get(payment["id"], "requires_confirmation")
        assert payment["status"] in ALLOWED_NEXT[before], f"{payment['id']}: {before} -> {payment['status']}"
        assert 0 <= payment["amount_refunded"] <= payment["amount_received"] <= payment["amount"]
        if payment["status"] in ("succeeded", "requires_capture"):
            assert len([row for row in self._bank_rows(payment["id"], "debit") if row.outcome == "approved"]) == 1
        self.seen[payment["id"]] = payment["status"]

    def _bank_rows(self, payment_id: str, kind: str):
        with self.gw.db.unit_of_work() as session:
            return list(session.execute(select(SandboxBankTransaction).where(
                SandboxBankTransaction.payment_id == payment_id, SandboxBankTransaction.kind == kind)).scalars())

    def _connector_of(self, payment_id: str) -> str:
        with self.gw.db.unit_of_work() as session:
            return session.execute(select(Payment.connector).where(Payment.id == payment_id)).scalar_one()


@pytest.fixture
def simulated_gateway(postgres_database_url, var_dir):
    # The suite's vault keys: the workers it runs collect other tests' installments too.
    gw = make_gateway(postgres_database_url, var_dir)
    yield gw
    gw.db.dispose()


def test_a_merchants_life_keeps_the_books(simulated_gateway):
    MerchantLife.gw = simulated_gateway
    run = MerchantLife.TestCase
    # No shrinking: the database outlives each example, so a replay while shrinking meets other
    # rows than the first run did; the failing steps are printed as they ran, with the blob.
    run.settings = settings(max_examples=SIM_EXAMPLES, stateful_step_count=15, deadline=None, print_blob=True,
                            phases=[Phase.explicit, Phase.reuse, Phase.generate],
                            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
    run().runTest()
