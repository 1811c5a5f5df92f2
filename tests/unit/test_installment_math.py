"""Installment schedules against the formulas in DESIGN.md, for all amounts (hypothesis)."""
from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.domain.errors import InvalidRequest
from gateway.domain.installments import (
    TERMS,
    Delinquency,
    Method,
    add_months,
    build_schedule,
    delinquency_bucket,
    effective_apr,
    late_fee,
    next_attempt_day,
)

START = date(2026, 1, 31)
amounts = st.integers(min_value=1, max_value=10_000_000)
terms = st.sampled_from(TERMS)
aprs = st.decimals(min_value=Decimal(0), max_value=Decimal(36), places=2)
methods = st.sampled_from(list(Method))


@given(amounts, terms, methods, aprs, st.decimals(min_value=Decimal(0), max_value=Decimal("0.2"), places=4))
def test_principals_sum_exactly_and_nothing_is_negative(amount, n, method, apr, fee_rate):
    schedule = build_schedule(amount, n, method, apr=apr, fee_rate=fee_rate, start=START)
    assert len(schedule.periods) == n
    assert sum(p.principal for p in schedule.periods) == amount
    assert all(p.principal >= 0 and p.interest >= 0 for p in schedule.periods)
    assert schedule.total_repayable == amount + schedule.cost_of_credit


@given(st.integers(min_value=10_000, max_value=10_000_000), terms, aprs)
def test_equal_installments_differ_by_at_most_a_fen_except_the_last(amount, n, apr):
    totals = [p.total for p in build_schedule(amount, n, Method.EQUAL_INSTALLMENT, apr=apr, start=START).periods]
    assert max(totals[:-1]) - min(totals[:-1]) <= 1


@pytest.mark.parametrize("n", TERMS)
def test_annuity_matches_the_emi_formula(n):
    amount, apr = 399_900, Decimal("12")
    r = apr / 100 / 12
    emi = Decimal(amount) * r * (1 + r) ** n / ((1 + r) ** n - 1)
    periods = build_schedule(amount, n, Method.EQUAL_INSTALLMENT, apr=apr, start=START).periods
    assert all(abs(p.total - emi) <= Decimal("0.5") for p in periods[:-1])
    balance = amount
    for p in periods:  # interest is the declining balance times the monthly rate
        assert abs(p.interest - balance * r) <= Decimal("0.5")
        balance -= p.principal
    assert balance == 0


def test_equal_principal_pays_p_over_n_plus_interest_on_the_balance():
    periods = build_schedule(120_000, 12, Method.EQUAL_PRINCIPAL, apr=Decimal("12"), start=START).periods
    assert [p.principal for p in periods] == [10_000] * 12
    assert [p.interest for p in periods] == [1_200 - 100 * k for k in range(12)]


def test_interest_free_spreads_the_fee_evenly_and_reports_its_true_apr():
    schedule = build_schedule(120_000, 12, Method.INTEREST_FREE, fee_rate=Decimal("0.06"), start=START)
    assert [p.interest for p in schedule.periods] == [600] * 12
    assert schedule.cost_of_credit == 7_200
    assert Decimal("10.5") < schedule.apr < Decimal("11.5")  # a 6 % flat fee over a year costs about 10.9 % APR
    assert effective_apr(100, [50, 50]) == Decimal("0.00")


def test_the_last_period_absorbs_rounding():
    periods = build_schedule(100_000, 3, Method.EQUAL_PRINCIPAL, start=START).periods
    assert [p.principal for p in periods] == [33_333, 33_333, 33_334]


def test_due_dates_keep_the_day_or_the_months_last_day():
    assert [p.due_date for p in build_schedule(300, 3, Method.EQUAL_PRINCIPAL, start=START).periods] == [date(2026, 2, 28), date(2026, 3, 31), date(2026, 4, 30)]
    assert add_months(date(2027, 11, 30), 3) == date(2028, 2, 29)


@pytest.mark.parametrize(("kwargs", "param"), [({"term_months": 5}, "term_months"), ({"apr": Decimal("40")}, "apr"), ({"amount": 0}, "amount"), ({"fee_rate": Decimal("0.9")}, "fee_rate")])
def test_bad_terms_are_refused(kwargs, param):
    args = {"amount": 1_000, "term_months": 3, "apr": Decimal(0), "fee_rate": Decimal(0), **kwargs}
    with pytest.raises(InvalidRequest) as refused:
        build_schedule(args["amount"], args["term_months"], Method.EQUAL_INSTALLMENT, apr=args["apr"], fee_rate=args["fee_rate"], start=START)
    assert refused.value.param == param


@pytest.mark.parametrize(
    ("days", "bucket"),
    [(0, Delinquency.CURRENT), (1, Delinquency.GRACE), (5, Delinquency.GRACE), (6, Delinquency.DAYS_1_30), (35, Delinquency.DAYS_1_30),
     (36, Delinquency.DAYS_31_60), (66, Delinquency.DAYS_61_90), (95, Delinquency.DAYS_61_90), (96, Delinquency.DEFAULT)],
)
def test_delinquency_buckets_count_from_the_end_of_grace(days, bucket):
    assert delinquency_bucket(days, grace_days=5) is bucket


def test_retries_stay_within_grace_then_go_weekly():
    days, seen = 0, []
    for _ in range(6):
        days = next_attempt_day(days, grace_days=5)
        seen.append(days)
    assert seen == [1, 3, 5, 12, 19, 26]


@given(st.integers(0, 10**7), st.integers(0, 10_000), st.decimals(min_value=0, max_value=Decimal("0.1"), places=3), st.integers(0, 50_000), st.integers(0, 60_000))
def test_late_fees_never_pass_the_cap(total, fixed, rate, cap, already):
    fee = late_fee(total, fixed, rate, cap, already)
    assert fee >= 0
    assert already + fee <= max(cap, already)
