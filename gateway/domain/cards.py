"""Bank card checks: UnionPay numbering, Luhn, expiry, CVV shape, masking.

>>> card = check_card("6222 0200 0007 4242", 12, 2030, "123", date(2026, 1, 1))
>>> card.bank.code, card.bin, card.last4
('ICBC', '622202', '4242')
>>> check_card("6222020000074243", 12, 2030, "123", date(2026, 1, 1))  # Luhn fails
Traceback (most recent call last):
  ...
gateway.domain.errors.InvalidRequest: The card number is not a valid card number.
>>> check_card("6222020000074242", 12, 2025, "123", date(2026, 1, 1))
Traceback (most recent call last):
  ...
gateway.domain.errors.CardDeclined: The card has expired.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from stdnum import luhn

from gateway.domain.banks import Bank, bank_for_card
from gateway.domain.errors import CardDeclined, InvalidRequest

UNIONPAY_PREFIX = "62"
PAN_LENGTHS = range(16, 20)


@dataclass(frozen=True)
class CheckedCard:
    pan: str
    bank: Bank
    brand: str = "unionpay"

    @property
    def bin(self) -> str:
        return self.pan[:6]

    @property
    def last4(self) -> str:
        return self.pan[-4:]


def compact(number: str) -> str:
    """The digits as typed, without spaces and dashes.

    >>> compact("6222 0200-0007 4242")
    '6222020000074242'
    """
    return "".join(number.split()).replace("-", "")


def check_card(number: str, exp_month: int, exp_year: int, cvv: str, today: date) -> CheckedCard:
    """Validate what a shopper typed; raise an error naming the field that is wrong."""
    pan = compact(number)
    if not pan.isdigit() or len(pan) not in PAN_LENGTHS:
        raise InvalidRequest("invalid_number", "The card number must be 16 to 19 digits.", "card_number")
    if not luhn.is_valid(pan):
        raise InvalidRequest("incorrect_number", "The card number is not a valid card number.", "card_number")
    if not pan.startswith(UNIONPAY_PREFIX):
        raise InvalidRequest("unsupported_card", "Only UnionPay debit cards are accepted.", "card_number")
    bank = bank_for_card(pan)
    if bank is None:
        raise InvalidRequest(
            "unsupported_bank", "The card's issuing bank is not a supported national bank.", "card_number"
        )
    if not 1 <= exp_month <= 12:
        raise InvalidRequest("invalid_expiry_month", "exp_month must be 1 to 12.", "exp_month")
    if (exp_year, exp_month) < (today.year, today.month):
        raise CardDeclined("expired_card", "The card has expired.", "exp_year")
    if not (cvv.isdigit() and len(cvv) == 3):
        raise InvalidRequest("invalid_cvc", "The CVV must be 3 digits.", "cvv")
    return CheckedCard(pan=pan, bank=bank)


def mask_pan(pan: str) -> str:
    """First 6 and last 4 digits, as card schemes allow to be shown.

    >>> mask_pan("6222020000074242")
    '622202******4242'
    """
    return pan[:6] + "*" * (len(pan) - 10) + pan[-4:]
