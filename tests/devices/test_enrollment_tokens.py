"""Devices enroll with a single-use enrollment token, never holding the merchant's secret key."""
from __future__ import annotations

from datetime import timedelta

from device_agents.enroll import enroll
from tests.devices.conftest import Shop


def _enroller(shop: Shop, token: str):
    def through_api(request: dict) -> dict:
        response = shop.client.post("/v1/devices", json=request, headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 200, response.json
        return response.json
    return through_api


def test_a_token_enrolls_one_device_once_and_opens_nothing_else(any_shop, tmp_path):
    token = any_shop.post("/v1/enrollment_tokens", {}).json["token"]
    assert token.startswith("enr_")

    device_id = enroll(tmp_path / "first", "iot", "meter", _enroller(any_shop, token))
    assert any_shop.get(f"/v1/devices/{device_id}").json["state"] == "active"

    spent = any_shop.client.post("/v1/devices", json={"csr": "x", "model": "m", "kind": "iot", "signing_key": "x"}, headers={"Authorization": f"Bearer {token}"})
    assert (spent.status_code, spent.json["error"]["code"]) == (401, "invalid_api_key")
    for method, path in (("GET", "/v1/payments"), ("GET", f"/v1/devices/{device_id}"), ("POST", "/v1/enrollment_tokens")):
        response = any_shop.client.open(path, method=method, json={} if method == "POST" else None, headers={"Authorization": f"Bearer {token}"})
        assert response.status_code in (401, 403), (method, path, response.status_code)


def test_an_expired_token_is_refused(any_shop, tmp_path):
    token = any_shop.post("/v1/enrollment_tokens", {"expires_in": 60}).json["token"]
    real = any_shop.gw.clock
    any_shop.gw.clock = lambda: real() + timedelta(minutes=2)
    try:
        response = any_shop.client.post("/v1/devices", json={"csr": "x", "model": "m", "kind": "iot", "signing_key": "x"}, headers={"Authorization": f"Bearer {token}"})
    finally:
        any_shop.gw.clock = real
    assert (response.status_code, response.json["error"]["code"]) == (401, "invalid_api_key")
