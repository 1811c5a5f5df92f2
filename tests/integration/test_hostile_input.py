"""Hostile input is stopped at the edge with the one error object and changes nothing: NUL bytes
and lone surrogates in paths, cursors and JSON, JSON nested or spread past reason, over-long
paths and headers; 405 answers say which methods exist."""
from __future__ import annotations

import json

import pytest
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Response
from sqlalchemy import func, select

from gateway.adapters.db.models import CardToken, IdempotencyKey, Payment


def _row_counts(gw) -> tuple[int, ...]:
    with gw.db.unit_of_work() as session:
        return tuple(session.execute(select(func.count()).select_from(model)).scalar_one() for model in (Payment, CardToken, IdempotencyKey))


def _assert_error(response, status: int, code: str | None = None) -> None:
    assert response.status_code == status, response.get_data(as_text=True)
    error = response.get_json()["error"]
    assert set(error) == {"type", "code", "message", "param"}
    assert error["message"]
    if code:
        assert error["code"] == code


@pytest.mark.parametrize("path", [
    "/v1/payments/a%00b",
    "/v1/payments?starting_after=a%00b",
    "/v1/payments?limit=1%00",
    "/v1/payments?starting_after=%ED%A0%80",  # a UTF-8-encoded lone surrogate
    "/v1/payments?starting_after=%FF%FE",  # not UTF-8 at all
])
def test_nul_and_bad_bytes_in_paths_and_cursors(shop, path):
    _assert_error(shop.get(path), 400, "invalid_characters")


@pytest.mark.parametrize("raw_path", [b"/v1/refunds/re_\xed\xa0\x80", b"/v1/customers/\xff\xfe", b"/v1/payments/a\x00b"])
def test_bad_bytes_in_the_path_as_gunicorn_passes_them(shop, raw_path):
    """Flask's test client and werkzeug's server replace undecodable bytes before the app sees
    them; gunicorn passes the raw bytes on as latin-1 text (PEP 3333), as built here."""
    environ = EnvironBuilder(path="/", headers={"Authorization": f"Bearer {shop.merchant.secret_key}"}).get_environ()
    environ["PATH_INFO"] = raw_path.decode("latin-1")
    response = Response.from_app(shop.client.application, environ)
    assert response.status_code == 400
    assert json.loads(response.get_data())["error"]["code"] == "invalid_characters"


@pytest.mark.parametrize("text", ["a\u0000b", "\ud800", "tail\udfff"])
def test_nul_and_lone_surrogates_in_json_change_nothing(shop, text):
    before = _row_counts(shop.gw)
    body = {"amount": 1_000, "currency": "CNY", "payment_method": shop.token(), "confirm": True, "description": text}
    after_token = _row_counts(shop.gw)

    response = shop.post("/v1/payments", body, idempotency_key=f"hostile-{shop.id}-{ord(text[-1])}")

    _assert_error(response, 400, "invalid_json")
    assert _row_counts(shop.gw) == after_token  # no payment, no idempotency key kept
    assert after_token[0] == before[0]
    assert shop.balance() == 0


def test_nul_in_a_json_key_and_in_metadata(shop):
    body = {"amount": 1_000, "currency": "CNY", "payment_method": "tok_x", "metadata": {"k\u0000": "v"}}
    _assert_error(shop.post("/v1/payments", body), 400, "invalid_json")


@pytest.mark.parametrize("depth", [33, 5_000, 30_000])
def test_deep_json_is_refused(shop, depth):
    body = b"[" * depth + b"]" * depth
    response = shop.client.post("/v1/payments", data=body, content_type="application/json",
                                headers={"Authorization": f"Bearer {shop.merchant.secret_key}"})
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] in {"invalid_json", "json_too_deep"}


def test_wide_json_is_refused(shop):
    body = {"amount": 1_000, "currency": "CNY", "payment_method": "tok_x", "metadata": {str(i): "v" for i in range(1_001)}}
    _assert_error(shop.post("/v1/payments", body), 400, "invalid_json")


def test_ordinary_unicode_still_passes(shop):
    body = {"amount": 1_000, "currency": "CNY", "payment_method": shop.token(), "confirm": True, "description": "手机 📱 X1"}
    response = shop.post("/v1/payments", body)
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["description"] == "手机 📱 X1"


def test_overlong_path_is_414(shop):
    _assert_error(shop.get("/v1/payments/" + "a" * 3_000), 414, "uri_too_long")


def test_overlong_header_is_431(shop):
    response = shop.client.get("/v1/payments", headers={"Authorization": f"Bearer {shop.merchant.secret_key}", "X-Filler": "x" * 10_000})
    _assert_error(response, 431, "header_too_large")


def test_method_not_allowed_names_the_allowed_methods(shop):
    response = shop.call("DELETE", "/v1/payments")
    _assert_error(response, 405)
    assert set(response.headers["Allow"].replace(" ", "").split(",")) >= {"GET", "POST"}
