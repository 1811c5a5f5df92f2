"""Money as an integer count of minor units (fen) plus an ISO 4217 code.

Rates are Decimal; rounding is always explicit (half up, as banks quote fees).

>>> Money(1_999, "CNY") + Money(1, "CNY")
Money(amount=2000, currency='CNY')
>>> Money(19.99, "CNY")
Traceback (most recent call last):
  ...
gateway.domain.money.MoneyError: amount must be an integer number of minor units
>>> Money(100, "USD")
Traceback (most recent call last):
  ...
gateway.domain.money.MoneyError: unsupported currency 'USD'
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

# Currencies the gateway settles in, with their minor-unit exponent (ISO 4217).
SUPPORTED_CURRENCIES = {"CNY": 2}

# A single payment above CNY 100 million is a data-entry error, not a purchase.
MAX_AMOUNT_FEN = 10_000_000_000


class MoneyError(ValueError):
    """An amount or currency that no payment may carry."""


@dataclass(frozen=True, order=True)
class Money:
    amount: int
    currency: str

    def __post_init__(self) -> None:
        if isinstance(self.amount, bool) or not isinstance(self.amount, int):
            raise MoneyError("amount must be an integer number of minor units")
        if self.currency not in SUPPORTED_CURRENCIES:
            raise MoneyError(f"unsupported currency {self.currency!r}")

    def __add__(self, other: Money) -> Money:
        self._same_currency(other)
        return Money(self.amount + other.amount, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same_currency(other)
        return Money(self.amount - other.amount, self.currency)

    def _same_currency(self, other: Money) -> None:
        if other.currency != self.currency:
            raise MoneyError(f"cannot combine {self.currency} and {other.currency}")


def percent_of(amount: int, rate: Decimal) -> int:
    """`rate` (0.006 for 0.6 %) of `amount` fen, rounded half up to whole fen.

    >>> percent_of(10_050, Decimal("0.006"))  # 60.3 fen
    60
    >>> percent_of(250, Decimal("0.006"))  # 1.5 fen: half up
    2
    >>> percent_of(250, 0.006)
    Traceback (most recent call last):
      ...
    gateway.domain.money.MoneyError: rates must be Decimal
    """
    if not isinstance(rate, Decimal):
        raise MoneyError("rates must be Decimal")
    return int((Decimal(amount) * rate).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def merchant_fee(amount: int, discount_rate: Decimal) -> int:
    """The merchant discount fee on a captured amount; never more than the amount itself.

    >>> merchant_fee(100_000, Decimal("0.006"))  # 0.6 % of CNY 1,000.00
    600
    >>> merchant_fee(1, Decimal("1.5"))
    1
    """
    if amount < 0:
        raise MoneyError("fee base cannot be negative")
    return min(amount, percent_of(amount, discount_rate))


def format_cny(fen: int) -> str:
    """Fen as a person reads them (exact, no float).

    >>> format_cny(123_456)
    'CNY 1,234.56'
    >>> format_cny(5)
    'CNY 0.05'
    >>> format_cny(-1_000_000_00)
    'CNY -1,000,000.00'
    """
    sign = "-" if fen < 0 else ""
    return f"CNY {sign}{abs(fen) // 100:,}.{abs(fen) % 100:02d}"
