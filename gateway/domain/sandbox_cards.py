"""Test card numbers for the sandbox banks: a bank's BIN, filler digits and the last four digits
that choose the sandbox outcome, with the filler adjusted so the number passes Luhn."""
from __future__ import annotations

from stdnum import luhn

from gateway.domain.banks import bank_by_code


def sandbox_card_number(bank_code: str, last4: str, length: int = 16) -> str:
    bank = bank_by_code(bank_code)
    if bank is None:
        raise ValueError(f"unknown bank {bank_code!r}")
    prefix = bank.bins[0]
    filler_digits = length - len(prefix) - len(last4)
    for filler in range(10 ** filler_digits):
        pan = f"{prefix}{filler:0{filler_digits}d}{last4}"
        if luhn.is_valid(pan):
            return pan
    raise ValueError("no Luhn-valid number with these digits")
