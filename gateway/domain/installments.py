"""Installment schedules: pure arithmetic in fen with Decimal rates.

Methods (DESIGN.md, domain facts):
- equal_installment: the annuity on a declining balance, EMI = P r (1+r)^n / ((1+r)^n - 1);
  each period's interest is the balance times the monthly rate, the rest of the EMI is principal.
- equal_principal: P/n principal each period plus interest on the outstanding balance.
- interest_free: P/n principal each period plus a flat fee (fee rate x P) spread evenly.

Every amount is rounded half up to the fen, and the last period absorbs what rounding left, as
Apache Fineract does: the principals always add up to the financed amount exactly.
"""
from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal, localcontext
from enum import Enum

from gateway.domain.errors import InvalidRequest

TERMS = (3, 6, 12, 24)
ONE = Decimal(1)
HUNDRED = Decimal(100)
MONTHS_PER_YEAR = 12


class Method(str, Enum):
    EQUAL_INSTALLMENT = "equal_installment"
    EQUAL_PRINCIPAL = "equal_principal"
    INTEREST_FREE = "interest_free"


@dataclass(frozen=True)
class Period:
    number: int
    due_date: date
    principal: int
    interest: int  # interest, or the fee share with interest_free

    @property
    def total(self) -> int:
        return self.principal + self.interest


@dataclass(frozen=True)
class Schedule:
    financed: int
    method: Method
    apr: Decimal  # the annual percentage rate the customer pays, in percent
    periods: tuple[Period, ...]

    @property
    def cost_of_credit(self) -> int:
        return sum(period.interest for period in self.periods)

    @property
    def total_repayable(self) -> int:
        return self.financed + self.cost_of_credit


def fen(value: Decimal) -> int:
    return int(value.quantize(ONE, rounding=ROUND_HALF_UP))


def add_months(start: date, months: int) -> date:
    """The same day `months` later, or the month's last day when it is shorter.

    >>> add_months(date(2026, 1, 31), 1), add_months(date(2026, 1, 31), 2)
    (datetime.date(2026, 2, 28), datetime.date(2026, 3, 31))
    >>> add_months(date(2026, 11, 15), 3)
    datetime.date(2027, 2, 15)
    """
    month_index = start.month - 1 + months
    year, month = start.year + month_index // 12, month_index % 12 + 1
    return date(year, month, min(start.day, calendar.monthrange(year, month)[1]))


def build_schedule(financed: int, term_months: int, method: Method, *, apr: Decimal = Decimal(0), fee_rate: Decimal = Decimal(0), start: date) -> Schedule:
    """The full schedule of a loan of `financed` fen starting on `start` (first due a month later).
    `apr` is the nominal annual rate in percent (e.g. Decimal("12.5")); `fee_rate` the flat fee
    share of the financed amount for interest_free (e.g. Decimal("0.03")).

    CNY 3,000.00 over 3 months at 12 % a year, equal installments: each month pays 1,020.07,
    interest falls as the balance does, and the last period's principal takes the rounding.

    >>> plan = build_schedule(300_000, 3, Method.EQUAL_INSTALLMENT, apr=Decimal("12"), start=date(2026, 1, 31))
    >>> [(str(p.due_date), p.principal, p.interest, p.total) for p in plan.periods]
    [('2026-02-28', 99007, 3000, 102007), ('2026-03-31', 99997, 2010, 102007), ('2026-04-30', 100996, 1010, 102006)]
    >>> sum(p.principal for p in plan.periods) == plan.financed, plan.cost_of_credit
    (True, 6020)

    Equal principal: the same principal each month (the last absorbs the odd fen), interest on
    what is still owed.

    >>> plan = build_schedule(100_000, 3, Method.EQUAL_PRINCIPAL, apr=Decimal("12"), start=date(2026, 1, 15))
    >>> [(p.principal, p.interest) for p in plan.periods]
    [(33333, 1000), (33333, 667), (33334, 333)]

    Interest free with a 3 % fee: the fee spread evenly, and the APR it really costs stated.

    >>> plan = build_schedule(100_000, 3, Method.INTEREST_FREE, fee_rate=Decimal("0.03"), start=date(2026, 1, 15))
    >>> [(p.principal, p.interest) for p in plan.periods], plan.apr
    ([(33333, 1000), (33333, 1000), (33334, 1000)], Decimal('17.91'))
    >>> build_schedule(100_000, 5, Method.EQUAL_PRINCIPAL, start=date(2026, 1, 15))
    Traceback (most recent call last):
      ...
    gateway.domain.errors.InvalidRequest: term_months must be one of 3, 6, 12, 24.
    """
    _check(financed, term_months, apr, fee_rate)
    due_dates = [add_months(start, k) for k in range(1, term_months + 1)]
    monthly = apr / HUNDRED / MONTHS_PER_YEAR
    if method is Method.EQUAL_INSTALLMENT:
        parts = _annuity(financed, term_months, monthly)
    elif method is Method.EQUAL_PRINCIPAL:
        parts = _equal_principal(financed, term_months, monthly)
    else:
        parts = _flat_fee(financed, term_months, fen(financed * fee_rate))
    periods = tuple(Period(k + 1, due_dates[k], principal, interest) for k, (principal, interest) in enumerate(parts))
    stated = apr if method is not Method.INTEREST_FREE else effective_apr(financed, [p.total for p in periods])
    return Schedule(financed, method, stated, periods)


def _annuity(financed: int, n: int, r: Decimal) -> list[tuple[int, int]]:
    if r == 0:
        return _equal_principal(financed, n, r)
    growth = (ONE + r) ** n
    emi = fen(financed * r * growth / (growth - ONE))
    parts, balance = [], financed
    for _ in range(n - 1):
        interest = fen(balance * r)
        principal = min(emi - interest, balance)
        parts.append((principal, interest))
        balance -= principal
    parts.append((balance, fen(balance * r)))  # the last period absorbs the rounding
    return parts


def _equal_principal(financed: int, n: int, r: Decimal) -> list[tuple[int, int]]:
    share = financed // n
    parts, balance = [], financed
    for k in range(n):
        principal = share if k < n - 1 else balance
        parts.append((principal, fen(balance * r)))
        balance -= principal
    return parts


def _flat_fee(financed: int, n: int, fee: int) -> list[tuple[int, int]]:
    share, fee_share = financed // n, fee // n
    return [
        (share if k < n - 1 else financed - share * (n - 1), fee_share if k < n - 1 else fee - fee_share * (n - 1))
        for k in range(n)
    ]


def effective_apr(financed: int, payments: list[int]) -> Decimal:
    """The nominal annual rate (percent, 2 places) at which the monthly payments are worth exactly
    the financed amount today: the APR a fee-based plan really costs."""
    if sum(payments) <= financed:
        return Decimal("0.00")
    with localcontext() as ctx:
        ctx.prec = 16
        principal = Decimal(financed)
        low, high = Decimal(0), Decimal("0.5")  # monthly rates
        for _ in range(40):  # bisection: present value falls as the rate rises
            mid = (low + high) / 2
            factor, present = ONE / (ONE + mid), Decimal(0)
            discount = ONE
            for amount in payments:
                discount *= factor
                present += amount * discount
            low, high = (mid, high) if present > principal else (low, mid)
        return (low * MONTHS_PER_YEAR * HUNDRED).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class Owed:
    """What is left to pay of one installment (interest net of any waived)."""

    number: int
    principal: int
    interest: int
    late_fee: int = 0

    @property
    def total(self) -> int:
        return self.principal + self.interest + self.late_fee


@dataclass(frozen=True)
class Payoff:
    principal: int
    interest: int
    late_fees: int

    @property
    def total(self) -> int:
        return self.principal + self.interest + self.late_fees


def interest_at_payoff(method: Method, start: date, number: int, interest_left: int, as_of: date) -> int:
    """Interest still owed on installment `number` of a plan that started on `start`, when the
    plan is paid off on `as_of`. On the declining-balance methods future interest is waived:
    only periods already begun (a period begins the day after the previous due date; the first,
    the day after the start) owe theirs. The flat fee of interest_free plans is earned when the
    plan starts and stays owed in full.

    >>> start = date(2026, 1, 10)
    >>> interest_at_payoff(Method.EQUAL_INSTALLMENT, start, 1, 500, date(2026, 1, 10))  # the day it starts
    0
    >>> interest_at_payoff(Method.EQUAL_INSTALLMENT, start, 1, 500, date(2026, 1, 11))
    500
    >>> interest_at_payoff(Method.EQUAL_PRINCIPAL, start, 2, 450, date(2026, 2, 10))  # the 1st due date
    0
    >>> interest_at_payoff(Method.EQUAL_PRINCIPAL, start, 2, 450, date(2026, 2, 11))
    450
    >>> interest_at_payoff(Method.INTEREST_FREE, start, 3, 300, start)
    300
    """
    if method is Method.INTEREST_FREE:
        return interest_left
    period_began = add_months(start, number - 1)
    return interest_left if as_of > period_began else 0


def payoff_amount(method: Method, start: date, unpaid: list[Owed], as_of: date) -> Payoff:
    """What repays a plan on `as_of`: all principal and late fees left, and the interest of the
    periods begun (all of it on interest_free plans).

    >>> unpaid = [Owed(2, 3_300, 450, late_fee=2_000), Owed(3, 3_400, 300)]
    >>> payoff = payoff_amount(Method.EQUAL_INSTALLMENT, date(2026, 1, 10), unpaid, date(2026, 2, 20))
    >>> payoff, payoff.total
    (Payoff(principal=6700, interest=450, late_fees=2000), 9150)
    >>> payoff_amount(Method.INTEREST_FREE, date(2026, 1, 10), unpaid, date(2026, 2, 20)).interest
    750
    """
    return Payoff(
        principal=sum(item.principal for item in unpaid),
        interest=sum(interest_at_payoff(method, start, item.number, item.interest, as_of) for item in unpaid),
        late_fees=sum(item.late_fee for item in unpaid),
    )


def _check(financed: int, term_months: int, apr: Decimal, fee_rate: Decimal) -> None:
    if isinstance(financed, bool) or not isinstance(financed, int) or financed <= 0:
        raise InvalidRequest("amount_invalid", "The financed amount must be a positive number of fen.", "amount")
    if term_months not in TERMS:
        raise InvalidRequest("term_invalid", f"term_months must be one of {', '.join(map(str, TERMS))}.", "term_months")
    if not (Decimal(0) <= apr <= Decimal(36)):
        raise InvalidRequest("apr_invalid", "apr must be between 0 and 36 percent.", "apr")
    if not (Decimal(0) <= fee_rate <= Decimal("0.5")):
        raise InvalidRequest("fee_rate_invalid", "fee_rate must be between 0 and 0.5.", "fee_rate")


# ---- collection, lateness and delinquency ------------------------------------------------------

# Days after the due date on which a failed debit is tried again, within the grace period.
RETRY_OFFSETS_DAYS = (0, 1, 3, 5, 7, 10, 14)
# Once past grace, a delinquent plan is still tried weekly so that it can recover by itself.
DELINQUENT_RETRY_DAYS = 7
# What a bank answers about a debit it never received: the worker that created the debit died
# before sending it, and reconciliation (or a resumed request) asked the bank about it.
NEVER_RECEIVED = "bank_no_record"
# How soon such a debit is sent again: the installment is still owed today, and the customer's
# card was never tried.
UNSENT_RETRY = timedelta(minutes=5)


def counts_as_attempt(failure_code: str | None) -> bool:
    """Whether a failed debit is the customer's failed attempt (retried on the schedule, an
    `installment.failed` event), or one the bank never received, which is sent again within
    minutes without counting.

    >>> counts_as_attempt("insufficient_funds"), counts_as_attempt(None), counts_as_attempt("bank_no_record")
    (True, True, False)
    """
    return failure_code != NEVER_RECEIVED


class Delinquency(str, Enum):
    CURRENT = "current"
    GRACE = "grace"
    DAYS_1_30 = "1-30"
    DAYS_31_60 = "31-60"
    DAYS_61_90 = "61-90"
    DEFAULT = "default"


BUCKET_ORDER = list(Delinquency)


def delinquency_bucket(days_past_due: int, grace_days: int) -> Delinquency:
    """Buckets count days past the end of the grace period.

    >>> [delinquency_bucket(days, grace_days=5).value for days in (0, 5, 6, 35, 36, 96)]
    ['current', 'grace', '1-30', '1-30', '31-60', 'default']
    """
    if days_past_due <= 0:
        return Delinquency.CURRENT
    if days_past_due <= grace_days:
        return Delinquency.GRACE
    late = days_past_due - grace_days
    if late <= 30:
        return Delinquency.DAYS_1_30
    if late <= 60:
        return Delinquency.DAYS_31_60
    if late <= 90:
        return Delinquency.DAYS_61_90
    return Delinquency.DEFAULT


def next_attempt_day(days_past_due: int, grace_days: int) -> int:
    """Days after the due date of the next debit attempt, after a failure today.

    >>> [next_attempt_day(days, grace_days=5) for days in (0, 1, 3, 5, 12)]
    [1, 3, 5, 12, 19]
    """
    for offset in RETRY_OFFSETS_DAYS:
        if days_past_due < offset <= grace_days:
            return offset
    return max(days_past_due, grace_days) + DELINQUENT_RETRY_DAYS


def late_fee(installment_total: int, fixed: int, rate: Decimal, cap: int, already_charged: int) -> int:
    """The fee for one installment that ran past grace, never taking the plan's fees past the cap.

    >>> late_fee(50_000, fixed=2_000, rate=Decimal("0.01"), cap=10_000, already_charged=0)  # CNY 20 + 1 % of CNY 500
    2500
    >>> late_fee(50_000, fixed=2_000, rate=Decimal("0.01"), cap=5_000, already_charged=4_000)
    1000
    """
    return max(0, min(fixed + fen(installment_total * rate), cap - already_charged))


def down_payment(price: int, share: Decimal) -> int:
    return fen(price * share)
