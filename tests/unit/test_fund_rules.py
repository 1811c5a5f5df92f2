"""Fund rules without a database: income rounding and the rounding account (hypothesis), the
7-day yield against hand-computed figures, cut-offs on the real Shanghai calendar, the fast cap."""
from __future__ import annotations

import doctest
from datetime import date, datetime
from decimal import Decimal

import pytest
from hypothesis import given, settings, strategies as st

from gateway.adapters.trading_calendar import CalendarFileInvalid, ShanghaiCalendar, TradingCalendarUnknown
from gateway.domain import fund as rules
from gateway.domain.clock import BEIJING


def test_doctests():
    assert doctest.testmod(rules).failed == 0


figures = st.decimals(min_value=rules.LOWEST_INCOME_PER_10K, max_value=rules.HIGHEST_INCOME_PER_10K, places=4, allow_nan=False, allow_infinity=False)


@settings(max_examples=60, deadline=None)
@given(
    daily=st.lists(figures, min_size=60, max_size=60),
    holders=st.lists(st.integers(min_value=1, max_value=10_000_000_00), min_size=1, max_size=30),
    moves=st.lists(st.tuples(st.integers(0, 59), st.integers(0, 29), st.integers(-5_000_00, 5_000_00)), max_size=40),
    carryover=st.sampled_from(list(rules.Carryover)),
)
def test_credited_income_plus_rounding_is_the_declared_income_every_day(daily, holders, moves, carryover):
    """60 random days of figures, holders subscribing and redeeming at random: every day the
    holders' income plus the rounding account's share is exactly what the manager declared, no
    holder is credited more than their exact share, and the rounding share is under a fen per holder."""
    units = list(holders)
    for day, figure in enumerate(daily):
        for move_day, who, delta in moves:
            if move_day == day and who < len(units):
                units[who] = max(units[who] + delta, 0)  # a redemption never takes more than the holding
        earning = [u for u in units if u > 0]
        split = rules.split_income(earning, figure)
        assert sum(split.credited) + split.remainder == split.declared
        assert 0 <= split.remainder <= len(earning)
        for held, credited in zip(earning, split.credited):
            assert credited <= Decimal(held) * figure / 10_000 < credited + 1
        if carryover is rules.Carryover.DAILY:
            units = [u + c if u > 0 else u for u, c in zip(units, _spread(units, split.credited))]


def _spread(units, credited):
    it = iter(credited)
    return [next(it) if u > 0 else 0 for u in units]


@pytest.mark.parametrize("week, carryover, expected", [
    # By hand: (1.0001^7)^(365/7) - 1 = 1.0001^365 - 1 = 3.7172 %; (7 x 1.0000 / 7) x 365 / 10000 = 3.650 %.
    (["1.0000"] * 7, rules.Carryover.DAILY, "3.717"),
    (["1.0000"] * 7, rules.Carryover.MONTHLY, "3.650"),
    # 1.00005^365 - 1 = 1.8417 %; 0.5 x 0.0365 x 100 = 1.825 %.
    (["0.5000"] * 7, rules.Carryover.DAILY, "1.842"),
    (["0.5000"] * 7, rules.Carryover.MONTHLY, "1.825"),
    # R = 1..7: sum 28, mean 4 -> 14.600 %; prod(1 + i/10000) = 1.00280...; ^(365/7) -> 15.715 %.
    (["1.0000", "2.0000", "3.0000", "4.0000", "5.0000", "6.0000", "7.0000"], rules.Carryover.DAILY, "15.715"),
    (["1.0000", "2.0000", "3.0000", "4.0000", "5.0000", "6.0000", "7.0000"], rules.Carryover.MONTHLY, "14.600"),
    # A week with a loss day: (2.1 + 2.2 + 2.0 - 0.5 + 2.3 + 2.4 + 2.5) / 7 x 3.65 = 13 / 7 x 3.65 = 6.7786 %.
    (["2.1000", "2.2000", "2.0000", "-0.5000", "2.3000", "2.4000", "2.5000"], rules.Carryover.MONTHLY, "6.779"),
])
def test_seven_day_annualized_matches_hand_computed_figures(week, carryover, expected):
    assert rules.seven_day_annualized([Decimal(r) for r in week], carryover) == Decimal(expected)


def test_rounding_is_done_once_at_the_end():
    # 7.6722 / 7 x 3.65 = 4.000504 %: half up once gives 4.001,
    # where rounding the mean first (1.0960 -> 4.0004) would give 4.000.
    week = [Decimal("1.0960")] * 6 + [Decimal("1.0962")]
    assert rules.seven_day_annualized(week, rules.Carryover.MONTHLY) == Decimal("4.001")


calendar = ShanghaiCalendar()


def _at(day: date, hms: str) -> datetime:
    hours, minutes, seconds = map(int, hms.split(":"))
    return datetime(day.year, day.month, day.day, hours, minutes, seconds, tzinfo=BEIJING)


@pytest.mark.parametrize("moment, trade_day, confirmed", [
    # A Friday: before the cut-off it is Friday's order (confirmed Monday); at 15:00:00, Monday's (confirmed Tuesday).
    (_at(date(2026, 12, 4), "14:59:59"), date(2026, 12, 4), date(2026, 12, 7)),
    (_at(date(2026, 12, 4), "15:00:00"), date(2026, 12, 7), date(2026, 12, 8)),
    # The last trading day before National Day (the exchange is shut 1-7 October 2026).
    (_at(date(2026, 9, 30), "14:59:59"), date(2026, 9, 30), date(2026, 10, 8)),
    (_at(date(2026, 9, 30), "15:00:00"), date(2026, 10, 8), date(2026, 10, 9)),
    # On a holiday and on a weekend: the next trading day, whatever the hour.
    (_at(date(2026, 10, 3), "09:00:00"), date(2026, 10, 8), date(2026, 10, 9)),
    (_at(date(2026, 12, 5), "10:00:00"), date(2026, 12, 7), date(2026, 12, 8)),
])
def test_cutoff_on_the_shanghai_calendar(moment, trade_day, confirmed):
    assert rules.order_days(calendar, moment) == rules.OrderDays(trade_day, confirmed)


def test_the_exchange_is_shut_on_make_up_working_days():
    # 2026-09-20 is a Sunday worked in offices before National Day; the exchange stays shut.
    assert not calendar.is_trading_day(date(2026, 10, 1))
    assert not calendar.is_trading_day(date(2026, 2, 17))  # Spring Festival
    assert calendar.is_trading_day(date(2026, 12, 31))


def test_an_unknown_year_is_refused_until_the_operator_describes_it(tmp_path):
    overrides = tmp_path / "trading_calendar.txt"
    unknown = ShanghaiCalendar(overrides)
    with pytest.raises(TradingCalendarUnknown) as refused:
        unknown.is_trading_day(date(2027, 1, 4))
    assert "2027" in refused.value.message
    overrides.write_text("year 2027   # published by the State Council\n2027-01-01 closed\n2026-12-31 closed  # unplanned\n")
    assert unknown.is_trading_day(date(2027, 1, 4))
    assert not unknown.is_trading_day(date(2027, 1, 1))
    assert not unknown.is_trading_day(date(2027, 1, 2))  # a Saturday
    assert not unknown.is_trading_day(date(2026, 12, 31))  # the file wins over the library
    assert rules.order_days(unknown, _at(date(2026, 12, 30), "15:00:00")) == rules.OrderDays(date(2027, 1, 4), date(2027, 1, 5))


def test_a_malformed_override_file_says_which_line(tmp_path):
    overrides = tmp_path / "trading_calendar.txt"
    overrides.write_text("year 2027\n2027-13-01 closed\n")
    with pytest.raises(CalendarFileInvalid, match="line 2"):
        ShanghaiCalendar(overrides).is_trading_day(date(2027, 1, 4))


def test_first_trading_day_of_the_month():
    assert rules.is_first_trading_day_of_month(calendar, date(2026, 11, 2))  # 1 November 2026 is a Sunday
    assert not rules.is_first_trading_day_of_month(calendar, date(2026, 11, 3))
    assert rules.is_first_trading_day_of_month(calendar, date(2026, 10, 8))  # after National Day


@pytest.mark.parametrize("used, amount, allowed", [
    (0, 1_000_000, True), (0, 1_000_001, False), (600_000, 400_000, True), (600_000, 400_001, False), (1_000_000, 1, False),
])
def test_fast_cap_at_exactly_ten_thousand(used, amount, allowed):
    if allowed:
        rules.check_fast_cap(1_000_000, used, amount)
    else:
        with pytest.raises(rules.FastRedemptionCapExceeded) as refused:
            rules.check_fast_cap(1_000_000, used, amount)
        assert refused.value.code == "fast_redemption_cap_exceeded"
