"""The installment collection rules of the plan use cases, run on fakes (tests/support/fakes.py):
no database, no bank. The collector (`collect_due`) claims and debits what is due, and the bank's
answers come back through the payment use case, as in production; what a customer and a merchant
notice is checked: which installments are debited, paid or due again and when, late fees, the
plan's delinquency, its completion, the ledger and the events."""
from __future__ import annotations

from datetime import date, datetime, time, timedelta
from decimal import Decimal

import pytest

from gateway.adapters.connectors.base import CardDetails, ConnectorResult
from gateway.adapters.db.installment_models import Installment, InstallmentPlan, InstallmentProduct
from gateway.adapters.db.models import Payment, SavedCard
from gateway.domain import installments as rules
from gateway.domain.clock import BEIJING, beijing_date
from gateway.domain.ledger import customer_receivable, interest_revenue, late_fee_revenue
from gateway.domain.payments import Outcome
from gateway.domain.reconciliation import CLAIM_LEASE
from gateway.domain.sandbox_cards import sandbox_card_number
from gateway.services import installment_plans, payments
from tests.support.fakes import FakeInstallmentPorts, SteppingClock

MERCHANT, CUSTOMER, PLAN = "mer_test", "cus_test", "ipl_test"
START = date(2026, 10, 26)  # first due date 26 Nov, then 26 Dec, 26 Jan
FIRST_DUE = date(2026, 11, 26)
GRACE_DAYS = 5
INSTALLMENT_1 = 1_000_00 + 30_00  # principal, and 1% a month on the 3,000.00 outstanding


def _noon_in_beijing(day: date) -> datetime:
    return datetime.combine(day, time(12, 0), BEIJING)


@pytest.fixture
def gw() -> FakeInstallmentPorts:
    gw = FakeInstallmentPorts(clock=SteppingClock(_noon_in_beijing(START)))
    rows = gw.plan_rows
    rows.products["ipr_test"] = InstallmentProduct(
        id="ipr_test", merchant_id=MERCHANT, grace_days=GRACE_DAYS, late_fee_fixed=20_00, late_fee_rate=Decimal(0),
        late_fee_cap=30_00, apr=Decimal(12), fee_rate=Decimal(0))
    rows.plans[PLAN] = InstallmentPlan(
        id=PLAN, merchant_id=MERCHANT, customer_id=CUSTOMER, saved_card_id="card_test", product_id="ipr_test", device_id=None,
        amount=3_000_00, currency="CNY", down_payment=0, financed=3_000_00, term_months=3, method=rules.Method.EQUAL_PRINCIPAL.value,
        apr=Decimal(12), start_date=START, state="active", delinquency=rules.Delinquency.CURRENT.value, late_fees_charged=0)
    card = SavedCard(id="card_test", merchant_id=MERCHANT, customer_id=CUSTOMER, status="active", brand="unionpay", bank_code="102", last4="4242")
    gw.rows.chargeable[card.id] = (card, CardDetails(sandbox_card_number("ICBC", "4242"), 12, 2031, "Li Lei"))
    schedule = rules.build_schedule(3_000_00, 3, rules.Method.EQUAL_PRINCIPAL, apr=Decimal(12), start=START)
    for period in schedule.periods:  # 1,000.00 principal each; interest 1% a month of the balance
        rows.installments.append(Installment(
            seq=period.number, plan_id=PLAN, number=period.number, due_date=period.due_date, principal=period.principal, interest=period.interest,
            late_fee=0, paid_principal=0, paid_interest=0, paid_late_fee=0, waived_interest=0, status="scheduled", attempts=0,
            next_attempt_at=installment_plans._start_of(period.due_date)))
    return gw


def _item(gw: FakeInstallmentPorts, number: int) -> Installment:
    return gw.plan_rows.installment(PLAN, number)


def _on(gw: FakeInstallmentPorts, day: date) -> None:
    gw.clock.now = _noon_in_beijing(day)


def _bank_answers(gw: FakeInstallmentPorts, number: int, outcome: Outcome, amount: int | None = None, **details) -> Payment:
    """A debit of installment `number` in flight for what it owes (or `amount`, as a manual payment
    may be), and the bank's answer to it."""
    item = _item(gw, number)
    amount = installment_plans._owed(item) if amount is None else amount
    payment = Payment(id=f"pay_{number}_{item.attempts}_{amount}", merchant_id=MERCHANT, amount=amount, currency="CNY",
                      status="processing", capture_method="automatic", amount_capturable=0, amount_received=0, amount_refunded=0,
                      purpose="installment", installment_plan_id=PLAN, connector=gw.bank.name, metadata_={"installment": str(number)})
    gw.rows.add(payment)
    item.status, item.collecting_payment_id = "collecting", payment.id
    payments.record_result(gw, MERCHANT, payment.id, ConnectorResult(outcome, reference=f"ref_{payment.id}", **details))
    return gw.rows.payments[payment.id]


def _events(gw: FakeInstallmentPorts, event_type: str) -> list[dict]:
    return [data for kind, data in gw.plan_rows.events if kind == event_type]


def test_the_ports_the_plan_use_cases_take_are_met_by_the_fakes(gw):
    assert isinstance(gw, installment_plans.InstallmentPorts)


def test_an_installment_is_debited_from_the_start_of_its_due_day_in_beijing_and_once(gw):
    _on(gw, FIRST_DUE - timedelta(days=1))
    assert installment_plans.collect_due(gw) == 0 and gw.bank.charges == []

    gw.clock.now = datetime.combine(FIRST_DUE, time(0, 0), BEIJING)  # 16:00 UTC the day before
    assert installment_plans.collect_due(gw) == 1
    assert [(charge.amount, charge.card.pan[-4:]) for charge in gw.bank.charges] == [(INSTALLMENT_1, "4242")]
    assert [_item(gw, n).status for n in (1, 2, 3)] == ["paid", "scheduled", "scheduled"]
    assert installment_plans.collect_due(gw) == 0 and len(gw.bank.charges) == 1

    rows = gw.plan_rows
    assert len(gw.bank.batches) == 1  # on time and nothing else hangs on it: sent in the bank's debit file
    assert rows.balance(customer_receivable(CUSTOMER, "CNY")) == -1_000_00 and rows.balance(interest_revenue("CNY")) == 30_00
    assert [kind for kind, _data in rows.events] == ["payment.succeeded", "installment.paid"]


def test_a_debit_the_bank_never_received_is_sent_again_within_minutes_and_is_no_failed_attempt(gw):
    # The worker that created the debit died before sending it; reconciliation asked the bank,
    # which has no record of it. The customer's card was never tried.
    _on(gw, FIRST_DUE)
    _bank_answers(gw, 1, Outcome.DECLINED, decline_code=rules.NEVER_RECEIVED)
    item = _item(gw, 1)
    assert (item.status, item.attempts, item.next_attempt_at) == ("scheduled", 0, gw.clock() + rules.UNSENT_RETRY)
    assert _events(gw, "installment.failed") == []
    assert installment_plans.collect_due(gw) == 0  # not before its few minutes

    gw.clock.now += rules.UNSENT_RETRY
    assert installment_plans.collect_due(gw) == 1
    assert _item(gw, 1).status == "paid" and len(gw.bank.charges) == 1
    assert gw.plan_rows.plans[PLAN].delinquency == rules.Delinquency.CURRENT.value


def test_a_declined_debit_is_retried_within_grace_then_weekly(gw):
    retries = []
    day = FIRST_DUE
    for _attempt in range(5):
        _on(gw, day)
        gw.bank.will_answer(Outcome.DECLINED, decline_code="insufficient_funds")
        assert installment_plans.collect_due(gw) == 1
        assert _item(gw, 1).status == "scheduled"
        day = beijing_date(_item(gw, 1).next_attempt_at)
        _on(gw, day - timedelta(days=1))
        assert installment_plans.collect_due(gw) == 0  # not tried again before its day
        retries.append((day - FIRST_DUE).days)
    assert retries == [1, 3, 5, 12, 19]  # days after the due date: within the 5 grace days, then weekly
    assert _item(gw, 1).attempts == 5 and len(gw.bank.charges) == 5
    assert [event["failure_code"] for event in _events(gw, "installment.failed")] == ["insufficient_funds"] * 5
    assert gw.plan_rows.entries == [] and gw.plan_rows.plans[PLAN].state == "active"


def test_a_card_that_can_no_longer_be_charged_is_a_failed_attempt_not_a_charge(gw):
    del gw.rows.chargeable["card_test"]  # removed, or its customer withdrew consent
    _on(gw, FIRST_DUE)
    assert installment_plans.collect_due(gw) == 1
    assert gw.bank.charges == []
    item = _item(gw, 1)
    assert (item.status, item.attempts, beijing_date(item.next_attempt_at)) == ("scheduled", 1, FIRST_DUE + timedelta(days=1))
    assert [event["failure_code"] for event in _events(gw, "installment.failed")] == ["resource_missing"]


def test_a_debit_awaiting_its_banks_answer_is_not_debited_again(gw):
    _on(gw, FIRST_DUE)
    gw.bank.will_answer(Outcome.PENDING)
    assert installment_plans.collect_due(gw) == 1
    assert _item(gw, 1).status == "collecting"
    gw.clock.advance(seconds=CLAIM_LEASE.total_seconds() * 3)  # long past the claim's lease
    assert installment_plans.collect_due(gw) == 0 and len(gw.bank.charges) == 1

    (payment_id,) = gw.bank.batches[0]
    payments.record_result(gw, MERCHANT, payment_id, ConnectorResult(Outcome.APPROVED, reference="ref_late"))
    assert _item(gw, 1).status == "paid"


def test_the_last_installment_is_debited_on_its_own_and_completes_the_plan(gw):
    for number, due in ((1, FIRST_DUE), (2, date(2026, 12, 26))):
        _on(gw, due)
        installment_plans.collect_due(gw)
    assert len(gw.bank.batches) == 2
    _on(gw, date(2027, 1, 26))
    assert installment_plans.collect_due(gw) == 1
    assert len(gw.bank.batches) == 2 and len(gw.bank.charges) == 3  # a payment of its own, not in a file
    assert gw.plan_rows.plans[PLAN].state == "completed" and len(_events(gw, "plan.completed")) == 1
    assert gw.plan_rows.balance(customer_receivable(CUSTOMER, "CNY")) == -3_000_00  # all principal repaid
    assert gw.plan_rows.balance(interest_revenue("CNY")) == 30_00 + 20_00 + 10_00  # 1% a month on 3,000, 2,000, 1,000
    assert [event["number"] for event in _events(gw, "installment.paid")] == [1, 2, 3]


def test_past_grace_a_late_fee_is_charged_once_per_installment_within_the_plans_cap(gw):
    first_due = date(2026, 11, 26)
    plan = gw.plan_rows.plans[PLAN]
    _on(gw, first_due + timedelta(days=GRACE_DAYS))
    installment_plans.update_delinquency(gw)
    assert (_item(gw, 1).late_fee, plan.delinquency) == (0, "grace")

    _on(gw, first_due + timedelta(days=GRACE_DAYS + 1))
    installment_plans.update_delinquency(gw)
    assert (_item(gw, 1).late_fee, plan.delinquency) == (20_00, "1-30")
    _on(gw, first_due + timedelta(days=GRACE_DAYS + 2))
    installment_plans.update_delinquency(gw)
    assert _item(gw, 1).late_fee == 20_00  # once, not daily

    _on(gw, date(2026, 12, 26) + timedelta(days=GRACE_DAYS + 1))  # the 2nd installment is late too
    installment_plans.update_delinquency(gw)
    assert _item(gw, 2).late_fee == 10_00  # the plan's fees stop at the 30.00 cap
    assert (plan.late_fees_charged, plan.delinquency) == (30_00, "31-60")
    assert [event["delinquency"] for event in _events(gw, "plan.delinquent")] == ["1-30", "31-60"]


def test_a_late_installment_paid_pays_its_fee_first_and_the_plan_becomes_current_again(gw):
    first_due = date(2026, 11, 26)
    _on(gw, first_due + timedelta(days=GRACE_DAYS + 1))
    installment_plans.update_delinquency(gw)
    payment = _bank_answers(gw, 1, Outcome.APPROVED)
    assert payment.amount_received == 1_000_00 + 30_00 + 20_00
    assert _item(gw, 1).status == "paid" and gw.plan_rows.balance(late_fee_revenue("CNY")) == 20_00
    assert gw.plan_rows.plans[PLAN].delinquency == "current"


def test_a_payment_short_of_what_is_owed_pays_the_late_fee_then_interest_then_principal(gw):
    _on(gw, date(2026, 11, 26) + timedelta(days=GRACE_DAYS + 1))
    installment_plans.update_delinquency(gw)
    _bank_answers(gw, 1, Outcome.APPROVED, amount=20_00 + 30_00 + 100_00)
    item = _item(gw, 1)
    assert (item.paid_late_fee, item.paid_interest, item.paid_principal) == (20_00, 30_00, 100_00)
    assert item.status == "scheduled" and installment_plans._owed(item) == 900_00
    assert gw.plan_rows.balance(customer_receivable(CUSTOMER, "CNY")) == -100_00
