"""Money math and ledger rules, for all amounts (hypothesis)."""
from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.domain.errors import Conflict, InvalidRequest, LedgerError
from gateway.domain.ledger import JournalEntry, acquirer_receivable, capture_entry, merchant_payable, refund_entry, sums_by_currency
from gateway.domain.money import MAX_AMOUNT_FEN, Money, MoneyError, merchant_fee, percent_of
from gateway.domain.payments import PaymentStatus, capture_amount, refund_amount

amounts = st.integers(min_value=1, max_value=MAX_AMOUNT_FEN)
rates = st.decimals(min_value=Decimal("0"), max_value=Decimal("0.1"), places=6)


@given(amounts, rates)
def test_fee_is_whole_fen_between_zero_and_the_amount(amount, rate):
    fee = merchant_fee(amount, rate)
    assert isinstance(fee, int)
    assert 0 <= fee <= amount
    assert abs(Decimal(fee) - Decimal(amount) * rate) <= Decimal("0.5")


def test_fee_rounds_half_up():
    assert percent_of(250, Decimal("0.006")) == 2  # 1.5 fen -> 2
    assert percent_of(249, Decimal("0.006")) == 1  # 1.494 -> 1
    assert merchant_fee(399_900, Decimal("0.006")) == 2_399


def test_no_float_rates_and_no_float_amounts():
    with pytest.raises(MoneyError):
        percent_of(100, 0.006)
    with pytest.raises(MoneyError):
        Money(10.0, "CNY")
    with pytest.raises(MoneyError):
        Money(10, "XXX")
    assert Money(150, "CNY") + Money(50, "CNY") == Money(200, "CNY")


@given(amounts, rates)
def test_capture_entry_balances_and_splits_the_amount(amount, rate):
    fee = merchant_fee(amount, rate)
    entry = capture_entry(reference="pay_x", merchant_id="m", connector="bank", currency="CNY", amount=amount, fee=fee)
    entry.validate()
    assert sums_by_currency(entry.lines) == {"CNY": 0}
    credited = {line.account.code: -line.amount for line in entry.lines if line.amount < 0}
    assert credited.get("merchant:m:payable", 0) == amount - fee
    assert sum(credited.values()) == amount


def test_an_unbalanced_entry_is_refused():
    entry = JournalEntry("bad", "x").debit(acquirer_receivable("bank", "CNY"), 100).credit(merchant_payable("m", "CNY"), 99)
    with pytest.raises(LedgerError):
        entry.validate()
    with pytest.raises(LedgerError):
        JournalEntry("empty", "x").validate()


def test_accounts_that_must_not_go_negative_say_so():
    receivable = acquirer_receivable("bank", "CNY")
    receivable.check(0)
    with pytest.raises(LedgerError):
        receivable.check(-1)  # debit-normal: a credit balance is negative
    merchant_payable("m", "CNY").check(+500)  # a merchant may owe us after a refund


@given(st.integers(min_value=1, max_value=10**6), st.lists(st.integers(min_value=-10, max_value=10**6), max_size=30))
def test_refunds_never_exceed_what_was_captured(captured, requests):
    refunded = 0
    for requested in requests:
        try:
            refunded += refund_amount(requested, captured, refunded, PaymentStatus.SUCCEEDED)
        except InvalidRequest:
            pass
        assert 0 <= refunded <= captured
    entry = refund_entry(reference="re_x", merchant_id="m", connector="bank", currency="CNY", amount=max(refunded, 1))
    entry.validate()


@given(st.integers(min_value=1, max_value=10**9), st.one_of(st.none(), st.integers(min_value=-5, max_value=10**9 + 5)))
def test_capture_amount_is_within_the_authorization(capturable, requested):
    try:
        amount = capture_amount(requested, capturable)
    except InvalidRequest:
        assert requested is not None and not (0 < requested <= capturable)
    else:
        assert 0 < amount <= capturable


@pytest.mark.parametrize("status", [s for s in PaymentStatus if s is not PaymentStatus.SUCCEEDED])
def test_only_succeeded_payments_refund(status):
    with pytest.raises(Conflict):
        refund_amount(None, 100, 0, status)
