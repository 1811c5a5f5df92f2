"""Money-market fund rules (a "Huoqibao"): units, daily income, the 7-day annualized yield,
trading days and the cut-off, and the fast-redemption cap. Pure arithmetic, no I/O.

Units. The NAV is stable at CNY 1.00, and units are kept as integer hundredths of a unit, so a
holding of `u` hundredths is worth exactly `u` fen:

>>> units_value(500_000)  # 5,000.00 units
500000

Income. The manager publishes, for every natural day, the income per 10,000 units R (4 decimals).
A holder's income is units x R / 10,000, rounded DOWN to the hundredth of a unit; the fund's own
figure for the day is the same product over all units earning, rounded half up to the fen, and
what rounding holders down left over goes to the fund's rounding account, so the books account
for every fen the manager declared:

>>> holder_income(500_000, Decimal("1.2345"))   # 5,000 units earn 0.61725 -> 0.61
61
>>> split_income([500_000, 333_333], Decimal("1.2345"))
IncomeSplit(declared=103, credited=[61, 41], remainder=1)
"""
from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import ROUND_FLOOR, ROUND_HALF_UP, Decimal, localcontext
from enum import Enum
from typing import Protocol

from gateway.domain.clock import BEIJING, as_utc
from gateway.domain.errors import DomainError, InvalidRequest

TEN_THOUSAND = Decimal(10_000)
HUNDRED = Decimal(100)
# The manager's figure has 4 decimals ("1.2345"); the yield is published with 3 ("2.345").
INCOME_QUANTUM = Decimal("0.0001")
YIELD_QUANTUM = Decimal("0.001")
# What a money fund may declare per 10,000 units for one day. A loss is possible (CSRC allows a
# money fund to report one) but never more than this; a figure above the upper bound (over 36 %
# a year) is a data error, not a money fund.
LOWEST_INCOME_PER_10K = Decimal("-1.0000")
HIGHEST_INCOME_PER_10K = Decimal("10.0000")
DEFAULT_CUTOFF = time(15, 0)
# CSRC/PBOC 2018: fast (T+0) redemption at most CNY 10,000 per investor per fund per day.
DEFAULT_FAST_REDEMPTION_DAILY_CAP = 1_000_000
_FIGURE = re.compile(r"^-?\d{1,4}\.\d{4}$")


class Carryover(str, Enum):
    DAILY = "daily"  # income reinvested as units every day
    MONTHLY = "monthly"  # income accrues, and becomes units on the month's first trading day


class Speed(str, Enum):
    FAST = "fast"
    NORMAL = "normal"


def units_value(units: int) -> int:
    """Fen a holding of `units` hundredths is worth (stable NAV of CNY 1.00)."""
    return units


# ---- income ------------------------------------------------------------------------------------

def holder_income(units: int, income_per_10k: Decimal) -> int:
    """One holder's income for a day in hundredths of a unit, rounded down (never more than the
    exact share, so the fund never pays out what it did not earn)."""
    return int((Decimal(units) * income_per_10k / TEN_THOUSAND).to_integral_value(rounding=ROUND_FLOOR))


def income_per_10k_int(income_per_10k: Decimal) -> int:
    """The figure in ten-thousandths, for exact integer arithmetic in SQL.

    >>> income_per_10k_int(Decimal("1.2345"))
    12345
    """
    scaled = Decimal(income_per_10k) * TEN_THOUSAND
    if scaled != scaled.to_integral_value():
        raise ValueError(f"{income_per_10k} has more than 4 decimals")
    return int(scaled)


def declared_income(units_earning: int, income_per_10k: Decimal) -> int:
    """The fund's income for a day on all units earning, in fen, rounded half up."""
    return int((Decimal(units_earning) * income_per_10k / TEN_THOUSAND).to_integral_value(rounding=ROUND_HALF_UP))


@dataclass(frozen=True)
class IncomeSplit:
    declared: int
    credited: list[int]
    remainder: int  # to the fund's rounding account; declared == sum(credited) + remainder


def split_income(holdings: Sequence[int], income_per_10k: Decimal) -> IncomeSplit:
    """The day's income per holder and what rounding left for the fund's rounding account."""
    credited = [holder_income(units, income_per_10k) for units in holdings]
    declared = declared_income(sum(holdings), income_per_10k)
    return IncomeSplit(declared, credited, declared - sum(credited))


# ---- the manager's daily feed ------------------------------------------------------------------

class FeedRefused(DomainError):
    status = 422
    type = "fund_feed_error"


def parse_income_figure(raw: str) -> Decimal:
    """The manager's figure as published: exactly 4 decimals, within what a money fund declares.

    >>> parse_income_figure("1.2345")
    Decimal('1.2345')
    >>> parse_income_figure("1.23")
    Traceback (most recent call last):
    ...
    gateway.domain.fund.FeedRefused: income_per_10k must have exactly 4 decimals, e.g. "1.2345".
    """
    if not isinstance(raw, str) or not _FIGURE.match(raw.strip()):
        raise FeedRefused("income_figure_invalid", 'income_per_10k must have exactly 4 decimals, e.g. "1.2345".', "income_per_10k")
    figure = Decimal(raw.strip())
    if figure < LOWEST_INCOME_PER_10K or figure > HIGHEST_INCOME_PER_10K:
        raise FeedRefused(
            "income_figure_out_of_range",
            f"income_per_10k {figure} is outside what a money fund may declare ({LOWEST_INCOME_PER_10K} to {HIGHEST_INCOME_PER_10K}).",
            "income_per_10k",
        )
    return figure


def signed_feed_message(day: date, income_per_10k: str) -> bytes:
    """The bytes the manager signs: the two keys sorted, no spaces, UTF-8.

    >>> signed_feed_message(date(2026, 12, 1), "1.2345")
    b'{"date":"2026-12-01","income_per_10k":"1.2345"}'
    """
    return json.dumps({"date": day.isoformat(), "income_per_10k": income_per_10k}, sort_keys=True, separators=(",", ":")).encode()


def check_feed_order(day: date, last_day: date | None) -> None:
    """A new figure must follow the last one the fund has (funds earn every natural day: a
    missing day would leave holders without their income for it).

    >>> check_feed_order(date(2026, 12, 2), date(2026, 12, 1))
    >>> check_feed_order(date(2026, 12, 3), date(2026, 12, 1))
    Traceback (most recent call last):
    ...
    gateway.domain.fund.FeedRefused: The feed has a gap: the next figure must be for 2026-12-02, not 2026-12-03.
    """
    if last_day is not None and day != last_day + timedelta(days=1):
        raise FeedRefused("feed_gap", f"The feed has a gap: the next figure must be for {last_day + timedelta(days=1)}, not {day}.", "date")


# ---- the 7-day annualized yield ----------------------------------------------------------------

def seven_day_annualized(figures: Sequence[Decimal], carryover: Carryover) -> Decimal:
    """The 7-day annualized yield in percent (3 decimals, half up) from the last 7 natural days'
    income per 10,000 units R1..R7, as the CSRC rules for money funds define it:
    daily carryover ((prod(1 + Ri/10000))^(365/7) - 1) x 100, monthly (sum(Ri)/7) x (365/10000) x 100.
    Computed at 50 digits and rounded once.

    >>> seven_day_annualized([Decimal("1.0000")] * 7, Carryover.MONTHLY)
    Decimal('3.650')
    >>> seven_day_annualized([Decimal("1.0000")] * 7, Carryover.DAILY)
    Decimal('3.717')
    """
    if len(figures) != 7:
        raise ValueError("the 7-day yield needs exactly 7 daily figures")
    with localcontext() as context:
        context.prec = 50
        if carryover is Carryover.DAILY:
            product = Decimal(1)
            for figure in figures:
                product *= 1 + figure / TEN_THOUSAND
            exact = (product ** (Decimal(365) / Decimal(7)) - 1) * HUNDRED
        else:
            exact = sum(figures, Decimal(0)) / Decimal(7) * (Decimal(365) / TEN_THOUSAND) * HUNDRED
        return exact.quantize(YIELD_QUANTUM, rounding=ROUND_HALF_UP)


def seven_day_annualized_ending(figures: Mapping[date, Decimal], day: date, carryover: Carryover) -> Decimal | None:
    """The 7-day annualized yield ending on `day`, from a fund's figures by day: None unless
    all 7 natural days up to it have one.

    >>> week = {date(2026, 11, d): Decimal("1.0000") for d in range(1, 8)}
    >>> seven_day_annualized_ending(week, date(2026, 11, 7), Carryover.MONTHLY)
    Decimal('3.650')
    >>> seven_day_annualized_ending(week, date(2026, 11, 8), Carryover.MONTHLY) is None
    True
    """
    week = [figures.get(day - timedelta(days=back)) for back in range(6, -1, -1)]
    return None if None in week else seven_day_annualized([Decimal(figure) for figure in week], carryover)


# ---- trading days and the cut-off --------------------------------------------------------------

class TradingCalendar(Protocol):
    """Which Beijing calendar days the Shanghai exchange trades (an adapter answers)."""

    def is_trading_day(self, day: date) -> bool: ...


def next_trading_day(calendar: TradingCalendar, day: date) -> date:
    """The first trading day strictly after `day`."""
    following = day + timedelta(days=1)
    while not calendar.is_trading_day(following):
        following += timedelta(days=1)
    return following


def first_trading_day_from(calendar: TradingCalendar, day: date) -> date:
    return day if calendar.is_trading_day(day) else next_trading_day(calendar, day)


@dataclass(frozen=True)
class OrderDays:
    """When an order placed at some moment counts: its trading day T, and the trading day after
    it (subscriptions are confirmed then and earn from that natural day; normal redemptions
    are paid then)."""

    trade_day: date
    next_trading_day: date


def order_days(calendar: TradingCalendar, moment: datetime, cutoff: time = DEFAULT_CUTOFF) -> OrderDays:
    """An order before the cut-off (Beijing time) of a trading day belongs to that day; at or
    after the cut-off, or on a non-trading day, to the next trading day.

    >>> class WeekdaysOnly:
    ...     def is_trading_day(self, day): return day.weekday() < 5
    >>> friday = datetime(2026, 12, 4, 14, 59, 59, tzinfo=BEIJING)
    >>> order_days(WeekdaysOnly(), friday)
    OrderDays(trade_day=datetime.date(2026, 12, 4), next_trading_day=datetime.date(2026, 12, 7))
    >>> order_days(WeekdaysOnly(), friday + timedelta(seconds=1))  # 15:00:00: Monday, confirmed Tuesday
    OrderDays(trade_day=datetime.date(2026, 12, 7), next_trading_day=datetime.date(2026, 12, 8))
    """
    local = as_utc(moment).astimezone(BEIJING)
    day = local.date()
    if calendar.is_trading_day(day) and local.time() < cutoff:
        trade_day = day
    else:
        trade_day = next_trading_day(calendar, day)
    return OrderDays(trade_day, next_trading_day(calendar, trade_day))


def is_first_trading_day_of_month(calendar: TradingCalendar, day: date) -> bool:
    """Monthly carryover converts accrued income into units on this day."""
    return calendar.is_trading_day(day) and first_trading_day_from(calendar, day.replace(day=1)) == day


# ---- fast redemption cap -----------------------------------------------------------------------

class FastRedemptionCapExceeded(DomainError):
    status = 422
    type = "fund_error"


def fast_available(cap: int, used_today: int) -> int:
    """What a holder may still take out fast today.

    >>> fast_available(1_000_000, 300_000)
    700000
    >>> fast_available(1_000_000, 1_200_000)
    0
    """
    return max(cap - used_today, 0)


def check_fast_cap(cap: int, used_today: int, amount: int) -> None:
    """A fast redemption that would cross the day's cap is refused whole, naming what is left.

    >>> check_fast_cap(1_000_000, 0, 1_000_000)
    >>> check_fast_cap(1_000_000, 0, 1_000_001)
    Traceback (most recent call last):
    ...
    gateway.domain.fund.FastRedemptionCapExceeded: Fast redemption is capped at CNY 10,000.00 per fund per day; CNY 10,000.00 is still available today.
    """
    available = fast_available(cap, used_today)
    if amount > available:
        from gateway.domain.money import format_cny

        raise FastRedemptionCapExceeded(
            "fast_redemption_cap_exceeded",
            f"Fast redemption is capped at {format_cny(cap)} per fund per day; {format_cny(available)} is still available today.",
            "amount",
        )


def parse_cutoff(raw: str) -> time:
    """ "15:00" -> time(15, 0)."""
    try:
        hours, minutes = raw.split(":")
        return time(int(hours), int(minutes))
    except (ValueError, AttributeError):
        raise InvalidRequest("cutoff_invalid", 'cutoff must be "HH:MM" Beijing time, e.g. "15:00".', "cutoff") from None


def month_bounds(month: str) -> tuple[date, date]:
    """ "2026-12" -> (first day, last day).

    >>> month_bounds("2026-02")
    (datetime.date(2026, 2, 1), datetime.date(2026, 2, 28))
    """
    try:
        first = datetime.strptime(month, "%Y-%m").date()
    except (ValueError, TypeError):
        raise InvalidRequest("month_invalid", 'month must be "YYYY-MM".', "month") from None
    following = (first.replace(day=28) + timedelta(days=4)).replace(day=1)
    return first, following - timedelta(days=1)


def days(first: date, last: date) -> Iterable[date]:
    day = first
    while day <= last:
        yield day
        day += timedelta(days=1)
