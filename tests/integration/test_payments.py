"""The payment lifecycle as a merchant sees it, on SQLite and PostgreSQL."""
from __future__ import annotations

import pytest

from gateway.domain.money import merchant_fee
from decimal import Decimal

FEE_RATE = Decimal("0.006")


def test_confirmed_payment_succeeds_and_credits_the_merchant_less_fee(shop):
    payment = shop.pay(399_900, "4242")

    assert payment["status"] == "succeeded"
    assert payment["amount_received"] == 399_900
    assert payment["card"] == {"brand": "unionpay", "bank": "ICBC", "last4": "4242"}
    assert shop.balance() == 399_900 - 2_399  # 0.6 % of 3,999.00 rounds to 23.99


def test_payment_created_without_confirm_waits_then_confirms(shop):
    payment = shop.pay(5_000, confirm=False)
    assert payment["status"] == "requires_confirmation"
    assert shop.balance() == 0

    confirmed = shop.post(f"/v1/payments/{payment['id']}/confirm", {}).json
    assert confirmed["status"] == "succeeded"
    assert shop.balance() == 5_000 - 30


@pytest.mark.parametrize(
    ("last4", "status", "failure_code"),
    [("0002", "failed", "insufficient_funds"), ("0069", "failed", "expired_card"), ("0119", "processing", None), ("5556", "succeeded", None)],
)
def test_each_sandbox_test_card(shop, last4, status, failure_code):
    payment = shop.pay(1_000, last4)

    assert (payment["status"], payment["failure_code"]) == (status, failure_code)
    assert shop.balance() == (1_000 - 6 if status == "succeeded" else 0)


def test_timed_out_payment_cannot_be_confirmed_again(shop):
    payment = shop.pay(1_000, "0119")
    response = shop.post(f"/v1/payments/{payment['id']}/confirm", {})
    assert response.status_code == 409
    assert response.json["error"]["code"] == "payment_unexpected_state"


def test_manual_capture_in_part_releases_the_rest(shop):
    held = shop.pay(59_900, capture_method="manual")
    assert (held["status"], held["amount_capturable"], shop.balance()) == ("requires_capture", 59_900, 0)

    captured = shop.post(f"/v1/payments/{held['id']}/capture", {"amount_to_capture": 49_900}).json

    assert (captured["status"], captured["amount_received"], captured["amount_capturable"]) == ("succeeded", 49_900, 0)
    assert shop.balance() == 49_900 - merchant_fee(49_900, FEE_RATE)


def test_capture_more_than_authorized_is_refused_and_changes_nothing(shop):
    held = shop.pay(1_000, capture_method="manual")
    response = shop.post(f"/v1/payments/{held['id']}/capture", {"amount_to_capture": 1_001})

    assert response.status_code == 400
    assert response.json["error"]["param"] == "amount_to_capture"
    assert shop.get(f"/v1/payments/{held['id']}").json["status"] == "requires_capture"
    assert shop.balance() == 0


def test_cancel_releases_an_authorization(shop):
    held = shop.pay(2_000, capture_method="manual")
    canceled = shop.post(f"/v1/payments/{held['id']}/cancel", {}).json
    assert (canceled["status"], canceled["amount_capturable"]) == ("canceled", 0)
    assert shop.balance() == 0


@pytest.mark.parametrize(
    ("setup", "action"),
    [
        ("succeeded", "confirm"),
        ("succeeded", "capture"),
        ("succeeded", "cancel"),
        ("failed", "capture"),
        ("failed", "confirm"),
        ("canceled", "confirm"),
        ("canceled", "capture"),
        ("requires_confirmation", "capture"),
        ("requires_capture", "confirm"),
    ],
)
def test_illegal_transitions_are_409_and_change_nothing(shop, setup, action):
    payment = {
        "succeeded": lambda: shop.pay(1_000),
        "failed": lambda: shop.pay(1_000, "0002"),
        "canceled": lambda: shop.post(f"/v1/payments/{shop.pay(1_000, confirm=False)['id']}/cancel", {}).json,
        "requires_confirmation": lambda: shop.pay(1_000, confirm=False),
        "requires_capture": lambda: shop.pay(1_000, capture_method="manual"),
    }[setup]()
    before = shop.balance()

    response = shop.post(f"/v1/payments/{payment['id']}/{action}", {})

    assert response.status_code == 409
    assert response.json["error"]["code"] == "payment_unexpected_state"
    assert shop.get(f"/v1/payments/{payment['id']}").json["status"] == setup
    assert shop.balance() == before


def test_a_card_token_pays_once(shop):
    token = shop.token()
    first = shop.post("/v1/payments", {"amount": 100, "currency": "CNY", "payment_method": token, "confirm": True})
    second = shop.post("/v1/payments", {"amount": 100, "currency": "CNY", "payment_method": token, "confirm": True})
    assert first.status_code == 200
    assert second.status_code == 409
    assert second.json["error"]["code"] == "token_already_used"


def test_list_pages_through_payments_newest_first(shop):
    created = [shop.pay(100 + n, confirm=False)["id"] for n in range(5)]

    page1 = shop.get("/v1/payments?limit=2").json
    page2 = shop.get(f"/v1/payments?limit=2&starting_after={page1['data'][-1]['id']}").json
    page3 = shop.get(f"/v1/payments?limit=2&starting_after={page2['data'][-1]['id']}").json

    seen = [p["id"] for page in (page1, page2, page3) for p in page["data"]]
    assert seen == list(reversed(created))
    assert (page1["has_more"], page2["has_more"], page3["has_more"]) == (True, True, False)


def test_another_merchants_objects_are_not_found(shop, other_shop):
    payment = shop.pay(1_000, capture_method="manual")
    token = shop.token()
    paths = [
        ("GET", f"/v1/payments/{payment['id']}", None),
        ("POST", f"/v1/payments/{payment['id']}/capture", {}),
        ("POST", f"/v1/payments/{payment['id']}/cancel", {}),
        ("POST", "/v1/refunds", {"payment": payment["id"]}),
        ("POST", "/v1/payments", {"amount": 100, "currency": "CNY", "payment_method": token}),
    ]
    for method, path, body in paths:
        response = other_shop.call(method, path, body)
        assert response.status_code == 404, (method, path, response.json)
        assert response.json["error"]["code"] == "resource_missing"
    assert other_shop.get("/v1/payments").json["data"] == []
    assert shop.get(f"/v1/payments/{payment['id']}").json["status"] == "requires_capture"


def test_the_readme_test_cards_do_what_the_readme_says(shop):
    import re
    from pathlib import Path

    readme = (Path(__file__).parents[2] / "docs" / "payments.md").read_text()
    rows = re.findall(r"^\| `(62\d{14,17})`[^|]*\| (\w+) \| (.+?) \|$", readme, re.MULTILINE)
    assert len(rows) == 4
    for number, _bank, outcome in rows:
        token = shop.post("/v1/tokens", {"card_number": number, "holder_name": "Li", "exp_month": 12, "exp_year": 2031, "cvv": "123"}, key=shop.merchant.publishable_key).json["id"]
        payment = shop.post("/v1/payments", {"amount": 100, "currency": "CNY", "payment_method": token, "confirm": True}).json
        expected = {"approved": "succeeded", "declined": "failed", "bank": "processing"}[outcome.split(",")[0].split()[0]]
        assert payment["status"] == expected, (number, outcome)
        if payment["failure_code"]:
            assert payment["failure_code"] in outcome
