"""Rate limits: guessing keys and hammering tokenization get 429 with Retry-After and the one
error object, counted in process memory on the embedded default and in Redis when configured
(where two gateway processes share the count)."""
from __future__ import annotations

import dataclasses
import uuid

import pytest

from gateway.app import create_app
from gateway.domain.sandbox_cards import sandbox_card_number
from tests.support import services

from tests.integration.conftest import Shop

LIMITS = {
    "rate_limit_failed_auth_per_address": "5 per minute",
    "rate_limit_failed_auth_per_key_prefix": "8 per minute",
    "rate_limit_tokenization": "4 per minute",
}


@pytest.fixture(params=["memory", "redis"])
def limited_gateway(request, gateway):
    redis_url = services.ensure_redis(request.addfinalizer) if request.param == "redis" else ""
    # A namespace of its own, so runs and tests never share counters in Redis.
    settings = dataclasses.replace(gateway.settings, redis_url=redis_url, rate_limit_namespace=f"test-{uuid.uuid4().hex}", **LIMITS)
    return dataclasses.replace(gateway, settings=settings)


def _card(last4: str = "4242") -> dict:
    return {"card_number": sandbox_card_number("ICBC", last4), "holder_name": "Li Lei", "exp_month": 12, "exp_year": 2031, "cvv": "123"}


def _assert_429(response):
    assert response.status_code == 429, response.get_data(as_text=True)
    assert int(response.headers["Retry-After"]) > 0
    error = response.get_json()["error"]
    assert set(error) == {"type", "code", "message", "param"}
    assert error["code"] == "rate_limited"


def test_wrong_keys_from_one_address_are_cut_off(limited_gateway):
    shop = Shop(limited_gateway)
    for attempt in range(5):
        assert shop.get("/v1/payments", key=f"sk_test_wrong{attempt:030d}").status_code == 401
    _assert_429(shop.get("/v1/payments", key="sk_test_wrong-again"))
    # Even the right key from that address waits: the address is what is limited.
    _assert_429(shop.get("/v1/payments"))


def test_successful_requests_do_not_count(limited_gateway):
    shop = Shop(limited_gateway)
    for _ in range(12):
        assert shop.get("/v1/payments").status_code == 200


def test_guesses_at_one_key_prefix_are_cut_off_across_addresses(limited_gateway):
    shop = Shop(limited_gateway)
    prefix = shop.merchant.secret_key[:12]
    for attempt in range(8):
        address = f"10.0.0.{attempt}"
        response = shop.client.get("/v1/payments", headers={"Authorization": f"Bearer {prefix}guess{attempt}"},
                                   environ_base={"REMOTE_ADDR": address})
        assert response.status_code == 401
    response = shop.client.get("/v1/payments", headers={"Authorization": f"Bearer {prefix}guess-last"},
                               environ_base={"REMOTE_ADDR": "10.0.1.1"})
    _assert_429(response)


def test_tokenization_is_limited_per_publishable_key(limited_gateway):
    shop = Shop(limited_gateway)
    other = Shop(limited_gateway, "Other Shop")
    for _ in range(4):
        assert shop.post("/v1/tokens", _card(), key=shop.merchant.publishable_key).status_code == 200
    _assert_429(shop.post("/v1/tokens", _card(), key=shop.merchant.publishable_key))
    # Another merchant's checkout is not slowed by this one's.
    assert other.post("/v1/tokens", _card(), key=other.merchant.publishable_key).status_code == 200


def test_redis_counts_are_shared_by_two_gateway_processes(request, gateway):
    """Two apps (as two gunicorn workers or two hosts would be) on the same Redis namespace."""
    redis_url = services.ensure_redis(request.addfinalizer)
    settings = dataclasses.replace(gateway.settings, redis_url=redis_url, rate_limit_namespace=f"test-{uuid.uuid4().hex}", **LIMITS)
    shared = dataclasses.replace(gateway, settings=settings)
    first, second = create_app(gateway=shared).test_client(), create_app(gateway=shared).test_client()
    for attempt in range(5):
        client = (first, second)[attempt % 2]
        assert client.get("/v1/payments", headers={"Authorization": f"Bearer sk_test_bad{attempt}"}).status_code == 401
    _assert_429(first.get("/v1/payments", headers={"Authorization": "Bearer sk_test_bad-next"}))
    _assert_429(second.get("/v1/payments", headers={"Authorization": "Bearer sk_test_bad-next"}))
