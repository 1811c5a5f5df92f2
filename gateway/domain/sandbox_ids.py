"""Resident ID numbers for tests and the demo: valid GB 11643-1999 numbers for a given birth date."""
from __future__ import annotations

from datetime import date

from stdnum.cn import ric


def sandbox_id_number(birth: date, region: str = "110105", order: int = 123) -> str:
    body = f"{region}{birth:%Y%m%d}{order:03d}"
    return body + ric.calc_check_digit(body + "0")  # calc_check_digit ignores the last character
