from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.domain.errors import InvalidRequest
from gateway.domain.identity import age_on, check_id_number, mask_id_number
from gateway.domain.sandbox_ids import sandbox_id_number

TODAY = date(2026, 11, 26)


def _code(number: str, today: date = TODAY) -> str:
    with pytest.raises(InvalidRequest) as refused:
        check_id_number(number, today)
    assert refused.value.param == "id_number"
    return refused.value.code


def test_a_valid_adult_id_passes_and_reads_its_birth_date():
    number = sandbox_id_number(date(1990, 3, 7))
    resident = check_id_number(number, TODAY)
    assert resident.birth_date == date(1990, 3, 7)
    assert resident.masked == number[0] + "*" * 16 + number[-1]


def test_check_character_x_and_lowercase_x():
    number = "11010519491231002X"
    assert check_id_number(number.lower(), TODAY).number == number


def test_the_published_example_validates():
    assert check_id_number("360426199101010071", TODAY).birth_date == date(1991, 1, 1)


@pytest.mark.parametrize(
    ("number", "code"),
    [
        ("11010519491231002", "id_number_invalid_length"),
        ("11010519491231002X1", "id_number_invalid_length"),
        ("1101051949123100AX", "id_number_invalid_format"),
        ("110105194912310021", "id_number_invalid_checksum"),  # should end in X
        ("110105199002300000", "id_number_invalid_birth_date"),  # 30 February (check char irrelevant)
        ("990105194912310020", "id_number_unknown_region"),
    ],
)
def test_each_kind_of_invalid_id(number, code):
    assert _code(number) == code


def test_impossible_date_with_a_correct_check_character():
    body = "11010519900230123"
    from stdnum.cn import ric

    assert _code(body + ric.calc_check_digit(body + "0")) == "id_number_invalid_birth_date"


def test_unknown_region_with_a_correct_check_character():
    assert _code(sandbox_id_number(date(1990, 1, 1), region="990000")) == "id_number_unknown_region"


def test_seventeen_year_old_is_refused_and_the_18th_birthday_is_accepted():
    assert _code(sandbox_id_number(date(2008, 11, 27))) == "underage"  # 18 tomorrow
    assert check_id_number(sandbox_id_number(date(2008, 11, 26)), TODAY)  # 18 today
    assert _code(sandbox_id_number(date(2030, 1, 1))) == "id_number_invalid_birth_date"


def test_leap_day_birthdays_come_of_age_on_1_march():
    born = date(2008, 2, 29)
    assert age_on(born, date(2026, 2, 28)) == 17
    assert age_on(born, date(2026, 3, 1)) == 18


@given(st.dates(min_value=date(1900, 1, 1), max_value=TODAY))
def test_age_rule_matches_the_calendar(birth):
    number = sandbox_id_number(birth)
    leap_day = (birth.month, birth.day) == (2, 29)
    eighteenth = date(birth.year + 18, 3, 1) if leap_day else date(birth.year + 18, birth.month, birth.day)
    if eighteenth <= TODAY:
        assert check_id_number(number, TODAY).birth_date == birth
    else:
        assert _code(number) == "underage"


def test_mask_keeps_only_first_and_last():
    assert mask_id_number("11010519491231002X") == "1****************X"
