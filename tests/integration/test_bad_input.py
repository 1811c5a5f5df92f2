"""Bad input gets one clear error object naming the field, and changes nothing."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from gateway.adapters.db.models import CardToken, IdempotencyKey, Payment
from gateway.domain.sandbox_cards import sandbox_card_number


def _row_counts(gw) -> tuple[int, int, int]:
    with gw.db.unit_of_work() as session:
        return tuple(session.execute(select(func.count()).select_from(model)).scalar_one() for model in (Payment, CardToken, IdempotencyKey))


def _assert_error(response, status, param, code=None):
    assert response.status_code == status, response.json
    error = response.json["error"]
    assert set(error) == {"type", "code", "message", "param"}
    assert error["param"] == param
    assert error["message"]
    if code:
        assert error["code"] == code


@pytest.mark.parametrize(
    ("change", "param", "code"),
    [
        ({"amount": "1000"}, "amount", "parameter_invalid"),
        ({"amount": 10.5}, "amount", "parameter_invalid"),
        ({"amount": 0}, "amount", "parameter_invalid"),
        ({"amount": -100}, "amount", "parameter_invalid"),
        ({"amount": True}, "amount", "parameter_invalid"),
        ({"amount": 10**11}, "amount", "parameter_invalid"),
        ({"currency": "XYZ"}, "currency", "parameter_invalid"),
        ({"currency": "USD"}, "currency", "parameter_invalid"),
        ({"currency": 156}, "currency", "parameter_invalid"),
        ({"confirm": "yes"}, "confirm", "parameter_invalid"),
        ({"confirm": 1}, "confirm", "parameter_invalid"),
        ({"capture_method": "later"}, "capture_method", "parameter_invalid"),
        ({"metadata": {"k": 5}}, "metadata.k.value", "parameter_invalid"),
        ({"surprise": 1}, "surprise", "parameter_unknown"),
        ({"amount": None}, "amount", "parameter_invalid"),
    ],
)
def test_bad_payment_fields(shop, change, param, code):
    body = {"amount": 1_000, "currency": "CNY", "payment_method": shop.token(), "confirm": True, **change}
    before = _row_counts(shop.gw)

    response = shop.post("/v1/payments", body, idempotency_key=f"bad-{param}-{code}-{shop.id}")

    _assert_error(response, 400, param, code)
    counts = _row_counts(shop.gw)
    assert counts[0] == before[0]  # no payment
    assert shop.balance() == 0


@pytest.mark.parametrize("missing", ["amount", "currency", "payment_method"])
def test_missing_required_fields(shop, missing):
    body = {"amount": 1_000, "currency": "CNY", "payment_method": "tok_x"}
    del body[missing]
    _assert_error(shop.post("/v1/payments", body), 400, missing, "parameter_missing")


def test_malformed_json(shop):
    response = shop.client.post("/v1/payments", data=b'{"amount": 10', content_type="application/json", headers={"Authorization": f"Bearer {shop.merchant.secret_key}"})
    _assert_error(response, 400, None, "invalid_json")


def test_oversized_body_is_413(shop):
    response = shop.client.post("/v1/payments", data=b"{" + b" " * 70_000 + b"}", content_type="application/json", headers={"Authorization": f"Bearer {shop.merchant.secret_key}"})
    _assert_error(response, 413, None, "request_too_large")


@pytest.mark.parametrize(
    ("change", "param", "code"),
    [
        ({"card_number": sandbox_card_number("ICBC", "4242")[:-1] + "0"}, "card_number", "incorrect_number"),  # Luhn
        ({"card_number": "4242424242424242"}, "card_number", "unsupported_card"),  # Visa, not UnionPay
        ({"card_number": "6200000000000005"}, "card_number", "unsupported_bank"),  # 62 but no national bank BIN
        ({"card_number": "62220200"}, "card_number", "parameter_invalid"),
        ({"card_number": "6222020000abc4242"}, "card_number", "invalid_number"),
        ({"exp_month": 13}, "exp_month", "invalid_expiry_month"),
        ({"exp_year": 2020}, "exp_year", "expired_card"),
        ({"cvv": "12"}, "cvv", "invalid_cvc"),
        ({"cvv": 123}, "cvv", "parameter_invalid"),
    ],
)
def test_bad_cards_are_refused_at_tokenization(shop, change, param, code):
    card = {"card_number": sandbox_card_number("ICBC", "4242"), "holder_name": "Li Lei", "exp_month": 12, "exp_year": 2031, "cvv": "123", **change}
    before = _row_counts(shop.gw)
    response = shop.post("/v1/tokens", card, key=shop.merchant.publishable_key)
    assert response.status_code in (400, 402)
    _assert_error(response, response.status_code, param, code)
    assert _row_counts(shop.gw)[1] == before[1]


def test_bad_refund_amounts(shop):
    payment = shop.pay(1_000)
    for amount, param in ((0, "amount"), (-1, "amount"), ("5", "amount")):
        _assert_error(shop.post("/v1/refunds", {"payment": payment["id"], "amount": amount}), 400, param)
    assert shop.balance() == 1_000 - 6


def test_bad_list_parameters(shop):
    _assert_error(shop.get("/v1/payments?limit=0"), 400, "limit")
    _assert_error(shop.get("/v1/payments?limit=abc"), 400, "limit")
    _assert_error(shop.get("/v1/payments?starting_after=pay_unknown"), 404, "starting_after")


@pytest.mark.parametrize(
    ("header", "status", "code"),
    [(None, 401, "authentication_required"), ("Bearer sk_test_nope", 401, "invalid_api_key"), ("Basic abc", 401, "authentication_required")],
)
def test_authentication_errors(shop, header, status, code):
    headers = {"Authorization": header} if header else {}
    response = shop.client.get("/v1/payments", headers=headers)
    _assert_error(response, status, None, code)


def test_publishable_key_only_creates_tokens(shop):
    response = shop.get("/v1/payments", key=shop.merchant.publishable_key)
    _assert_error(response, 403, None, "secret_key_required")
    assert shop.post("/v1/tokens", {"card_number": sandbox_card_number("ICBC", "4242"), "holder_name": "L", "exp_month": 1, "exp_year": 2040, "cvv": "123"}, key=shop.merchant.publishable_key).status_code == 200


def test_unknown_route_and_method(shop):
    _assert_error(shop.get("/v1/nothing"), 404, None)
    _assert_error(shop.call("DELETE", "/v1/payments"), 405, None)


def test_overlong_idempotency_key(shop):
    body = {"amount": 1_000, "currency": "CNY", "payment_method": shop.token()}
    _assert_error(shop.post("/v1/payments", body, idempotency_key="k" * 256), 400, "Idempotency-Key", "idempotency_key_invalid")
