"""Saved cards of the national banks: binding by SMS code, consent gates, routing by BIN, each
bank family's behaviour (sync or signed callback, limits, maintenance windows)."""
from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from gateway.domain.banks import NATIONAL_BANKS, YUAN, bank_by_code
from gateway.services.ledger import verify
from gateway.domain.reconciliation import RECONCILE_SCHEDULE
from gateway.services import reconciliation
from tests.integration.conftest import TimeMachine, banking_hours_clock

ASYNC_BANKS = [bank.code for bank in NATIONAL_BANKS if bank.family == "joint_stock"]


def _deliver_callback(shop, payment):
    """Act as the bank: send its signed callback about the payment to the gateway."""
    connector = shop.gw.connector(_connector_of(shop, payment))
    body, signature = connector.signed_callback(payment["id"])
    return shop.client.post(f"/v1/bank_callbacks/{connector.name}", data=body, headers={"Bank-Signature": signature, "Content-Type": "application/json"})


def _connector_of(shop, payment) -> str:
    return shop.gw.connector_for_bank(bank_by_code(payment["card"]["bank"])).name


def test_binding_with_the_texted_code_saves_the_card(shop):
    customer = shop.customer()
    started = shop.start_binding(customer["id"], "CCB", "4242")
    assert started.status_code == 200
    assert started.json["status"] == "pending_verification"
    assert started.json["masked_number"].startswith("621700") and started.json["masked_number"].endswith("4242")
    assert "*" * 6 in started.json["masked_number"]

    verified = shop.post(f"/v1/customers/{customer['id']}/cards/{started.json['id']}/verify", {"code": shop.sms_code(started.json["id"])})

    assert verified.status_code == 200
    assert (verified.json["status"], verified.json["bank"], verified.json["last4"]) == ("active", "CCB", "4242")
    assert [card["id"] for card in shop.get(f"/v1/customers/{customer['id']}/cards").json["data"]] == [started.json["id"]]


def test_five_wrong_codes_lock_the_binding(shop):
    customer = shop.customer()
    card = shop.start_binding(customer["id"]).json
    right = shop.sms_code(card["id"])
    wrong = f"{(int(right) + 1) % 10**6:06d}"
    path = f"/v1/customers/{customer['id']}/cards/{card['id']}/verify"

    answers = [shop.post(path, {"code": wrong}) for _ in range(5)]

    assert [r.status_code for r in answers] == [402, 402, 402, 402, 409]
    assert "1 attempt(s) left" in answers[3].json["error"]["message"]
    assert answers[4].json["error"]["code"] == "card_binding_locked"
    late = shop.post(path, {"code": right})
    assert (late.status_code, late.json["error"]["code"]) == (409, "card_binding_locked")
    assert shop.get(f"/v1/customers/{customer['id']}/cards").json["data"][0]["status"] == "locked"


def test_binding_needs_bank_card_consent_and_stops_when_it_is_withdrawn(shop):
    customer = shop.register().json
    refused = shop.start_binding(customer["id"])
    assert (refused.status_code, refused.json["error"]["code"]) == (403, "consent_required")

    shop.post(f"/v1/customers/{customer['id']}/consents", {"kind": "bank_card", "version": "v1", "purpose": "cards"})
    card = shop.saved_card(customer["id"])
    assert shop.pay_saved(card["id"]).json["status"] == "succeeded"

    shop.post(f"/v1/customers/{customer['id']}/consents/bank_card/withdraw")
    stopped = shop.pay_saved(card["id"])
    assert (stopped.status_code, stopped.json["error"]["code"]) == (403, "consent_required")


def test_a_card_is_saved_once_per_customer(shop):
    customer = shop.customer()
    shop.saved_card(customer["id"], "ABC", "5151")
    again = shop.start_binding(customer["id"], "ABC", "5151")
    assert (again.status_code, again.json["error"]["code"]) == (409, "card_already_bound")


@pytest.mark.parametrize("bank", NATIONAL_BANKS, ids=lambda bank: bank.code)
def test_every_bank_routes_by_bin_and_pays_with_a_saved_card(shop, bank):
    customer = shop.customer()
    card = shop.saved_card(customer["id"], bank.code)
    payment = shop.pay_saved(card["id"], 1_000).json

    assert payment["card"]["bank"] == bank.code
    assert payment["customer"] == customer["id"]
    if bank.family == "joint_stock":
        assert payment["status"] == "processing"  # the answer comes by callback
        assert _deliver_callback(shop, payment).json["status"] == "succeeded"
    else:
        assert payment["status"] == "succeeded"
    assert shop.balance() == 1_000 - 6


@pytest.mark.parametrize("bank", ["ICBC", "CMB", "PSBC"])
@pytest.mark.parametrize(("last4", "final_status", "failure_code"), [("0002", "failed", "insufficient_funds"), ("0069", "failed", "expired_card")])
def test_test_cards_work_at_every_bank_family(shop, bank, last4, final_status, failure_code):
    token = shop.token(last4, bank)
    payment = shop.post("/v1/payments", {"amount": 1_000, "currency": "CNY", "payment_method": token, "confirm": True}).json
    if bank in ASYNC_BANKS:
        payment = _deliver_callback(shop, payment).json
    assert (payment["status"], payment["failure_code"]) == (final_status, failure_code)


@pytest.mark.parametrize("bank", ["ICBC", "CMB", "BOCOM"])
def test_timed_out_payment_is_resolved_by_a_status_query(shop, bank):
    payment = shop.post("/v1/payments", {"amount": 1_000, "currency": "CNY", "payment_method": shop.token("0119", bank), "confirm": True}).json
    assert payment["status"] == "processing"
    clock = TimeMachine(shop.gw)
    try:
        clock.travel(RECONCILE_SCHEDULE[0])
        reconciliation.reconcile_payments(shop.gw)
        clock.travel(RECONCILE_SCHEDULE[1])
        reconciliation.reconcile_payments(shop.gw)
    finally:
        clock.restore()
    assert shop.get(f"/v1/payments/{payment['id']}").json["status"] == "succeeded"  # the bank took the money; its answer was lost
    assert shop.balance() == 1_000 - 6


def test_per_transaction_and_per_day_limits(shop):
    psbc = bank_by_code("PSBC")  # CNY 5,000 a debit and a day
    customer = shop.customer()
    # The bank counts the day per card, whoever charges it: a card no other test uses.
    card = shop.saved_card(customer["id"], "PSBC", "7731")

    too_big = shop.pay_saved(card["id"], psbc.per_transaction_limit + 1).json
    first = shop.pay_saved(card["id"], 3_000 * YUAN).json
    second = shop.pay_saved(card["id"], 2_000 * YUAN).json
    third = shop.pay_saved(card["id"], 1).json

    assert (too_big["status"], too_big["failure_code"]) == ("failed", "amount_over_limit")
    assert (first["status"], second["status"]) == ("succeeded", "succeeded")
    assert (third["status"], third["failure_code"]) == ("failed", "amount_over_limit")


def test_maintenance_window_refuses_with_bank_unavailable(shop):
    customer = shop.customer()
    icbc = shop.saved_card(customer["id"], "ICBC")
    cmb = shop.saved_card(customer["id"], "CMB")
    real_clock = shop.gw.clock
    shop.gw.clock = banking_hours_clock(datetime(2026, 11, 26, 15, 45, tzinfo=timezone.utc))  # 23:45 in Beijing
    try:
        closed = shop.pay_saved(icbc["id"], 1_000).json
        open_ = shop.pay_saved(cmb["id"], 1_000).json
    finally:
        shop.gw.clock = real_clock
    assert (closed["status"], closed["failure_code"]) == ("failed", "bank_unavailable")
    assert open_["status"] == "processing"


def test_forged_replayed_and_mismatched_callbacks_change_nothing(shop):
    token = shop.token("4242", "CMB")
    payment = shop.post("/v1/payments", {"amount": 5_000, "currency": "CNY", "payment_method": token, "confirm": True}).json
    connector = shop.gw.connector(_connector_of(shop, payment))
    body, signature = connector.signed_callback(payment["id"])
    url = f"/v1/bank_callbacks/{connector.name}"

    forged_body = body.replace(b'"approved"', b'"declined"')
    forged = shop.client.post(url, data=forged_body, headers={"Bank-Signature": signature})
    unsigned = shop.client.post(url, data=body)
    stale_sig = connector.sign(body, int(shop.gw.clock().timestamp()) - 3600)
    stale = shop.client.post(url, data=body, headers={"Bank-Signature": stale_sig})
    wrong_amount = json.loads(body)
    wrong_amount["amount"] = 1
    resigned = json.dumps(wrong_amount).encode()
    mismatched = shop.client.post(url, data=resigned, headers={"Bank-Signature": connector.sign(resigned, int(shop.gw.clock().timestamp()))})
    other_bank = shop.client.post("/v1/bank_callbacks/sandbox_big_four", data=body, headers={"Bank-Signature": signature})

    for response in (forged, unsigned, stale, mismatched, other_bank):
        assert response.status_code == 400, response.json
        assert response.json["error"]["code"] in ("callback_rejected", "callback_mismatch")
    assert shop.get(f"/v1/payments/{payment['id']}").json["status"] == "processing"
    assert shop.balance() == 0

    genuine = shop.client.post(url, data=body, headers={"Bank-Signature": signature})
    repeated = shop.client.post(url, data=body, headers={"Bank-Signature": signature})
    assert genuine.json["status"] == repeated.json["status"] == "succeeded"
    assert shop.balance() == 5_000 - 30  # booked once
    assert verify(shop.gw).ok


def test_banks_endpoint_lists_limits_and_connectors(shop):
    banks = {bank["code"]: bank for bank in shop.get("/v1/banks").json["data"]}
    assert len(banks) == 15
    assert banks["PSBC"]["per_day_limit"] == 5_000 * YUAN
    assert banks["CMB"]["connector"] == "sandbox_joint_stock"
    assert banks["ICBC"]["connector"] == "sandbox_big_four"
