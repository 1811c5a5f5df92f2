"""The payment use cases' state rules, run on fakes (tests/support/fakes.py): no database, no bank.
What a merchant sees: the payment's status, its failure code, what is capturable or received,
and what the ledger owes the merchant."""
from __future__ import annotations

import pytest

from gateway.adapters.connectors.base import ConnectorResult
from gateway.adapters.db.models import Payment
from gateway.domain.errors import Conflict
from gateway.domain.ledger import merchant_payable
from gateway.domain.payments import CaptureMethod, Outcome
from gateway.domain.sandbox_cards import sandbox_card_number
from gateway.services import payments, tokens
from tests.support.fakes import FakePaymentPorts

MERCHANT = "mer_test"


@pytest.fixture
def gw() -> FakePaymentPorts:
    return FakePaymentPorts()


def _token(gw: FakePaymentPorts) -> str:
    token = tokens.create_card_token(gw, MERCHANT, card_number=sandbox_card_number("ICBC", "4242"), holder_name="Li Lei",
                                     exp_month=12, exp_year=2031, cvv="123")
    return token.id


def _stored(gw: FakePaymentPorts, answered) -> Payment:
    """The payment as stored, whatever shape the use case answers in."""
    return gw.rows.payments[answered.id]


def _pay(gw: FakePaymentPorts, amount: int = 10_000, confirm: bool = True, capture: CaptureMethod = CaptureMethod.AUTOMATIC) -> Payment:
    request = payments.NewPayment(amount, "CNY", payments.PaymentMethod("card_token", _token(gw)), capture_method=capture, confirm=confirm)
    return _stored(gw, payments.create_payment(gw, MERCHANT, request))


def _merchant_balance(gw: FakePaymentPorts) -> int:
    return gw.rows.balance(merchant_payable(MERCHANT, "CNY"))


def test_the_fakes_meet_the_ports_the_payment_use_cases_take(gw):
    assert isinstance(gw, payments.PaymentPorts)


def test_an_approved_payment_succeeds_and_the_merchant_is_owed_it_less_the_fee(gw):
    payment = _pay(gw, 10_000)
    assert (payment.status, payment.amount_received, payment.amount_capturable) == ("succeeded", 10_000, 0)
    assert payment.next_reconcile_at is None
    assert _merchant_balance(gw) == 10_000 - 60  # the default 0.6% discount rate
    assert gw.rows.events == [(payment.id, "succeeded")]
    assert gw.bank.charges[0].card.pan.endswith("4242") and gw.bank.charges[0].capture is True


def test_a_declined_payment_fails_with_the_banks_code_and_moves_no_money(gw):
    gw.bank.will_answer(Outcome.DECLINED, decline_code="insufficient_funds", message="Not enough money.")
    payment = _pay(gw)
    assert (payment.status, payment.failure_code, payment.failure_message) == ("failed", "insufficient_funds", "Not enough money.")
    assert payment.amount_received == 0 and _merchant_balance(gw) == 0
    assert gw.rows.events == [(payment.id, "failed")]


def test_manual_capture_holds_the_amount_until_captured_then_books_only_what_was_captured(gw):
    payment = _pay(gw, 10_000, capture=CaptureMethod.MANUAL)
    assert (payment.status, payment.amount_capturable, payment.amount_received) == ("requires_capture", 10_000, 0)
    assert gw.bank.charges[0].capture is False and _merchant_balance(gw) == 0

    captured = _stored(gw, payments.capture_payment(gw, MERCHANT, payment.id, 6_000))
    assert (captured.status, captured.amount_received, captured.amount_capturable) == ("succeeded", 6_000, 0)
    assert _merchant_balance(gw) == 6_000 - 36
    with pytest.raises(Conflict):
        payments.capture_payment(gw, MERCHANT, payment.id, None)  # nothing left to capture


@pytest.mark.parametrize("answer", ["timeout", Outcome.UNKNOWN, Outcome.PENDING])
def test_an_unknown_or_late_answer_leaves_the_payment_processing_for_reconciliation(gw, answer):
    if answer == "timeout":
        gw.bank.failure = TimeoutError("the bank did not answer")
    else:
        gw.bank.will_answer(answer)
    payment = _pay(gw)
    assert payment.status == "processing"
    assert payment.next_reconcile_at is not None and payment.next_reconcile_at > gw.clock()
    assert payment.amount_received == 0 and _merchant_balance(gw) == 0 and gw.rows.events == []
    assert len(gw.bank.charges) == 1  # never charged again on its own


def test_a_later_answer_settles_a_processing_payment_once(gw):
    gw.bank.will_answer(Outcome.PENDING)
    payment = _pay(gw)
    approved = ConnectorResult(Outcome.APPROVED, reference="ref_late")
    payments.record_result(gw, MERCHANT, payment.id, approved)
    payments.record_result(gw, MERCHANT, payment.id, ConnectorResult(Outcome.DECLINED, decline_code="late"))
    assert (payment.status, payment.failure_code, payment.connector_reference) == ("succeeded", None, "ref_late")
    assert _merchant_balance(gw) == 10_000 - 60 and gw.rows.events == [(payment.id, "succeeded")]


def test_created_without_confirm_the_bank_is_asked_only_on_confirm(gw):
    payment = _pay(gw, confirm=False)
    assert payment.status == "requires_confirmation" and gw.bank.charges == []
    confirmed = _stored(gw, payments.confirm_payment(gw, MERCHANT, payment.id))
    assert confirmed.status == "succeeded" and len(gw.bank.charges) == 1
    with pytest.raises(Conflict):
        payments.confirm_payment(gw, MERCHANT, payment.id)


def test_a_card_token_pays_once(gw):
    token = _token(gw)
    request = payments.NewPayment(1_000, "CNY", payments.PaymentMethod("card_token", token))
    payments.create_payment(gw, MERCHANT, request)
    with pytest.raises(Conflict):
        payments.create_payment(gw, MERCHANT, request)


def test_a_plans_payment_is_received_for_the_plan_and_the_plan_is_told(gw):
    request = payments.NewPayment(5_000, "CNY", payments.PaymentMethod("card_token", _token(gw)), confirm=True,
                                  purpose="installment", installment_plan_id="ipl_1")
    payment = _stored(gw, payments.create_payment(gw, MERCHANT, request))
    assert (payment.status, payment.amount_received) == ("succeeded", 5_000)
    assert _merchant_balance(gw) == 0  # the plan books it, not the merchant's sale
    assert gw.settled == [payment.id]
