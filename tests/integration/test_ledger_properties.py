"""Random sequences of payments, captures, cancels and refunds keep the ledger balanced, and
the merchant's balance equals what a plain model of the same sequence says it should be."""
from __future__ import annotations

from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.adapters.db import ledger_repository
from gateway.domain.errors import DomainError
from gateway.domain.money import merchant_fee
from gateway.domain.sandbox_cards import sandbox_card_number
from gateway.services import payments, refunds
from gateway.services.ledger import merchant_balance, verify
from gateway.services.merchants import create_merchant
from gateway.services.tokens import create_card_token
from tests.integration.conftest import approved_last4

RATE = Decimal("0.006")
CARDS = {"ok": None, "declined": "0002", "timeout": "0119"}  # None: a fresh approved card each time

pay = st.tuples(st.just("pay"), st.integers(1, 500_000), st.sampled_from(sorted(CARDS)), st.sampled_from(["automatic", "manual"]))
capture = st.tuples(st.just("capture"), st.integers(0, 20), st.one_of(st.none(), st.integers(-10, 500_000)))
cancel = st.tuples(st.just("cancel"), st.integers(0, 20))
refund = st.tuples(st.just("refund"), st.integers(0, 20), st.one_of(st.none(), st.integers(-10, 500_000)))
operations = st.lists(st.one_of(pay, capture, cancel, refund), min_size=1, max_size=15)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(operations)
def test_ledger_stays_balanced_under_random_operations(gateway, ops):
    merchant = create_merchant(gateway, "Property Shop", RATE).id
    made: list[str] = []
    expected = 0  # what the merchant should be owed: captures - fees - refunds
    for op in ops:
        try:
            if op[0] == "pay":
                _, amount, card, capture_method = op
                token = create_card_token(gateway, merchant, card_number=sandbox_card_number("ICBC", CARDS[card] or approved_last4()), holder_name="P", exp_month=12, exp_year=2035, cvv="123")
                payment = payments.create_payment(gateway, merchant, payments.NewPayment(amount, "CNY", payments.PaymentMethod("card_token", token.id), payments.CaptureMethod(capture_method), confirm=True))
                made.append(payment.id)
                if payment.status == "succeeded":
                    expected += amount - merchant_fee(amount, RATE)
            elif not made:
                continue
            elif op[0] == "capture":
                payment = payments.capture_payment(gateway, merchant, made[op[1] % len(made)], op[2])
                expected += payment.amount_received - merchant_fee(payment.amount_received, RATE)
            elif op[0] == "cancel":
                payments.cancel_payment(gateway, merchant, made[op[1] % len(made)])
            else:
                expected -= refunds.create_refund(gateway, merchant, made[op[1] % len(made)], op[2]).amount
        except DomainError as refused:
            assert refused.status in (400, 402, 409), refused
    assert merchant_balance(gateway, merchant)["CNY"] == expected
    report = verify(gateway)
    assert report.ok, report.problems
    with gateway.db.unit_of_work() as session:
        assert ledger_repository.negative_accounts(session) == []
