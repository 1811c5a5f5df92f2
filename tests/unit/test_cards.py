from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st
from stdnum import luhn

from gateway.domain.banks import NATIONAL_BANKS, bank_for_card
from gateway.domain.cards import check_card, mask_pan
from gateway.domain.errors import CardDeclined, InvalidRequest
from gateway.domain.sandbox_cards import sandbox_card_number

TODAY = date(2026, 11, 26)


@pytest.mark.parametrize("bank", NATIONAL_BANKS, ids=lambda bank: bank.code)
def test_every_national_bank_is_found_by_its_bins(bank):
    for prefix in bank.bins:
        assert bank_for_card(prefix + "0000000000") == bank
    pan = sandbox_card_number(bank.code, "4242")
    assert luhn.is_valid(pan) and pan.endswith("4242")
    assert check_card(pan, 12, 2030, "123", TODAY).bank == bank


def test_all_fifteen_national_banks_are_listed():
    assert {bank.cnaps for bank in NATIONAL_BANKS} == {"102", "103", "104", "105", "301", "403", "302", "303", "304", "305", "306", "307", "308", "309", "310"}


def test_card_expiring_this_month_is_still_valid_last_month_is_not():
    pan = sandbox_card_number("ICBC", "4242")
    check_card(pan, 11, 2026, "123", TODAY)
    with pytest.raises(CardDeclined):
        check_card(pan, 10, 2026, "123", TODAY)


def test_spaces_and_dashes_are_accepted():
    pan = sandbox_card_number("CMB", "4242")
    spaced = " ".join(pan[i:i + 4] for i in range(0, 16, 4))
    assert check_card(spaced, 1, 2030, "123", TODAY).pan == pan


@given(st.text(max_size=25))
def test_random_input_is_either_a_valid_unionpay_card_or_a_clear_error(text):
    try:
        card = check_card(text, 12, 2030, "123", TODAY)
    except InvalidRequest as error:
        assert error.param == "card_number"
    else:
        assert card.pan.startswith("62") and luhn.is_valid(card.pan)


def test_mask_shows_first_six_and_last_four():
    assert mask_pan("6222020000004242") == "622202******4242"
    assert mask_pan("6222020000000004242") == "622202*********4242"
