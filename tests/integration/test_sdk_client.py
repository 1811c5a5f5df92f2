"""The SDK's REST client over real HTTP (urllib): answers as dicts, one PaygateError carrying the
error object, Idempotency-Key replays."""
from __future__ import annotations

import threading

import pytest
from werkzeug.serving import make_server

from gateway.app import create_app
from gateway.domain.sandbox_cards import sandbox_card_number
from gateway.sdk.client import Paygate, PaygateError
from tests.integration.conftest import Shop, approved_last4


@pytest.fixture
def served(gateway):
    server = make_server("127.0.0.1", 0, create_app(gateway=gateway), threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


def test_a_payment_through_the_sdk_and_its_replay(gateway, served):
    shop = Shop(gateway)
    checkout = Paygate(served, shop.merchant.publishable_key)
    client = Paygate(served, shop.merchant.secret_key)
    token = checkout.create_token(sandbox_card_number("ICBC", approved_last4()), 12, 2031, "123", "Li Lei")

    payment = client.create_payment(2_000, token["id"], confirm=True, idempotency_key=f"order-{token['id']}")
    again = client.create_payment(2_000, token["id"], confirm=True, idempotency_key=f"order-{token['id']}")

    assert payment["status"] == "succeeded" and payment["amount_received"] == 2_000
    assert again["id"] == payment["id"]
    assert again.headers.get("Idempotent-Replayed") == "true" and "Idempotent-Replayed" not in payment.headers
    assert client.list_payments(limit=1)["data"][0]["id"] == payment["id"]
    assert client.retrieve_payment(payment["id"])["amount"] == 2_000


def test_errors_raise_one_paygate_error_with_the_error_object(gateway, served):
    shop = Shop(gateway)
    client = Paygate(served, shop.merchant.secret_key)

    with pytest.raises(PaygateError) as missing:
        client.retrieve_payment("pay_doesnotexist")
    with pytest.raises(PaygateError) as too_big:
        client.create_refund(shop.pay(1_000)["id"], 5_000)
    with pytest.raises(PaygateError) as publishable:
        Paygate(served, shop.merchant.publishable_key).balance()
    with pytest.raises(PaygateError) as unknown_key:
        Paygate(served, "sk_test_nobody").balance()

    assert (missing.value.status, missing.value.code) == (404, "resource_missing")
    assert too_big.value.status == 400 and too_big.value.param == "amount"
    assert (publishable.value.status, publishable.value.type) == (403, "permission_error")
    assert (unknown_key.value.status, unknown_key.value.code) == (401, "invalid_api_key")
    assert unknown_key.value.error["message"] == unknown_key.value.message


def test_a_checkout_session_through_the_sdk(gateway, served):
    client = Paygate(served, Shop(gateway).merchant.secret_key)
    session = client.create_checkout_session([{"name": "Phone", "amount": 399_900}], "https://shop.example/ok",
                                             "https://shop.example/cart", payment_methods=["card", "wallet"])

    assert session["status"] == "open" and session["amount_total"] == 399_900
    assert session["url"] == f"{served}/checkout/{session['id']}"
    assert client.retrieve_checkout_session(session["id"])["payment_methods"] == ["card", "wallet"]
    with pytest.raises(PaygateError) as no_items:
        client.create_checkout_session([], "https://shop.example/ok", "https://shop.example/cart")
    assert no_items.value.status == 400 and no_items.value.param == "line_items"
