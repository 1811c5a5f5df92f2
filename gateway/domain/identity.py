"""Resident identity numbers (GB 11643-1999) and the adult-only rule.

python-stdnum's `stdnum.cn.ric` checks length, region, birth date and the ISO 7064 MOD 11-2 check
character; this module turns its verdicts into errors a shopper can act on."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from stdnum import exceptions as stdnum_errors
from stdnum.cn import ric

from gateway.domain.errors import InvalidRequest

ADULT_AGE = 18


@dataclass(frozen=True)
class ResidentId:
    number: str
    birth_date: date

    @property
    def masked(self) -> str:
        return mask_id_number(self.number)


def check_id_number(raw: str, today: date) -> ResidentId:
    """The checked number and its birth date, or an error naming what is wrong with it.

    >>> check_id_number("110105199005171233", date(2026, 1, 1))
    ResidentId(number='110105199005171233', birth_date=datetime.date(1990, 5, 17))
    >>> check_id_number("110105199005171237", date(2026, 1, 1))  # one digit off
    Traceback (most recent call last):
      ...
    gateway.domain.errors.InvalidRequest: The ID number's check character is wrong.
    >>> check_id_number("110105200802290011", date(2026, 2, 28))  # 18 on 1 March 2026
    Traceback (most recent call last):
      ...
    gateway.domain.errors.InvalidRequest: Customers must be 18 or older.
    """
    number = ric.compact(raw).upper() if isinstance(raw, str) else ""
    if len(number) != 18:
        raise _invalid("id_number_invalid_length", "The ID number must be 18 characters.")
    if not number[:17].isdigit() or not (number[17].isdigit() or number[17] == "X"):
        raise _invalid("id_number_invalid_format", "The ID number must be 17 digits and a digit or X.")
    try:
        birth = ric.get_birth_date(number)
    except stdnum_errors.ValidationError:
        raise _invalid("id_number_invalid_birth_date", "The ID number's birth date does not exist.") from None
    try:
        ric.get_birth_place(number)
    except stdnum_errors.ValidationError:
        raise _invalid("id_number_unknown_region", "The ID number's region code is not a known region.") from None
    if number[-1] != ric.calc_check_digit(number):
        raise _invalid("id_number_invalid_checksum", "The ID number's check character is wrong.")
    if birth > today:
        raise _invalid("id_number_invalid_birth_date", "The ID number's birth date is in the future.")
    if age_on(birth, today) < ADULT_AGE:
        raise InvalidRequest("underage", "Customers must be 18 or older.", "id_number")
    return ResidentId(number, birth)


def age_on(birth: date, today: date) -> int:
    """Whole years; someone born on 29 February comes of age on 1 March in common years.

    >>> age_on(date(2008, 2, 29), date(2026, 2, 28)), age_on(date(2008, 2, 29), date(2026, 3, 1))
    (17, 18)
    """
    return today.year - birth.year - ((today.month, today.day) < (birth.month, birth.day))


def mask_id_number(number: str) -> str:
    """First and last character only.

    >>> mask_id_number("11010519491231002X")
    '1****************X'
    """
    return number[0] + "*" * (len(number) - 2) + number[-1]


def mask_name(name: str) -> str:
    """The first character only: enough for a merchant to recognise a record, no more."""
    return name[:1] + "*" * max(len(name) - 1, 1)


def mask_mobile(mobile: str) -> str:
    """The network prefix and the last four digits.

    >>> mask_mobile("13912345678")
    '139****5678'
    """
    return mobile[:3] + "****" + mobile[-4:]


def _invalid(code: str, message: str) -> InvalidRequest:
    return InvalidRequest(code, message, "id_number")
