"""Wallet payments end to end through the sandbox providers, and their notifies."""
from __future__ import annotations

import json
from datetime import timedelta
from urllib.parse import parse_qsl, urlencode

import pytest
from sqlalchemy import select

from gateway.adapters.db.models import Event
from gateway.services import reconciliation
from gateway.services.ledger import verify

PROVIDERS = ["alipay_like", "wechat_like"]


def _wallet_payment(shop, provider, amount=8_800):
    body = {"amount": amount, "currency": "CNY", "payment_method": {"type": "wallet", "provider": provider}, "confirm": True}
    response = shop.post("/v1/payments", body)
    assert response.status_code == 200, response.json
    return response.json


def _notify_url(shop, provider):
    return f"/v1/wallet_notify/{shop.gw.wallets[provider].name}"


def _events(shop, payment_id):
    with shop.gw.db.unit_of_work() as session:
        return [e.type for e in session.execute(select(Event).where(Event.merchant_id == shop.id).order_by(Event.seq)).scalars() if e.data.get("id") == payment_id]


@pytest.mark.parametrize("provider", PROVIDERS)
def test_wallet_order_shows_a_qr_code_then_succeeds_when_the_shopper_confirms(shop, provider):
    payment = _wallet_payment(shop, provider)
    assert payment["status"] == "requires_action"
    action = payment["next_action"]
    assert action["type"] == "wallet_qr" and action["provider"] == provider
    assert action["qr_payload"] and action["deep_link"] and action["expires_at"] > 0
    assert payment["card"] is None
    assert payment["payment_method"] == {"type": "wallet", "provider": provider}

    paid = shop.post(f"/v1/sandbox/wallets/payments/{payment['id']}/confirm", {"approve": True}).json

    assert paid["status"] == "succeeded"
    assert paid["next_action"] is None
    assert shop.balance() == 8_800 - 53
    assert _events(shop, payment["id"]) == ["payment.succeeded"]
    assert verify(shop.gw).ok


@pytest.mark.parametrize("provider", PROVIDERS)
def test_declined_in_the_app_fails_the_payment(shop, provider):
    payment = _wallet_payment(shop, provider)
    failed = shop.post(f"/v1/sandbox/wallets/payments/{payment['id']}/confirm", {"approve": False}).json
    assert (failed["status"], failed["failure_code"]) == ("failed", "wallet_payment_failed")
    assert shop.balance() == 0
    assert _events(shop, payment["id"]) == ["payment.failed"]


@pytest.mark.parametrize("provider", PROVIDERS)
def test_wallet_refunds_go_through_the_provider(shop, provider):
    payment = _wallet_payment(shop, provider, 10_000)
    shop.post(f"/v1/sandbox/wallets/payments/{payment['id']}/confirm", {"approve": True})
    first = shop.post("/v1/refunds", {"payment": payment["id"], "amount": 4_000})
    second = shop.post("/v1/refunds", {"payment": payment["id"]})
    assert (first.json["status"], second.json["amount"]) == ("succeeded", 6_000)
    assert shop.balance() == -60
    assert verify(shop.gw).ok


@pytest.mark.parametrize("provider", PROVIDERS)
def test_forged_replayed_duplicate_and_mismatched_notifies_change_nothing(shop, provider, caplog):
    wallet = shop.gw.wallets[provider]
    payment = _wallet_payment(shop, provider, 5_000)
    # The shopper pays, but the provider's notifies are lost on the way (we hold them).
    with shop.gw.db.unit_of_work() as session:
        from gateway.adapters.db.models import SandboxWalletOrder

        order = session.get(SandboxWalletOrder, (wallet.name, payment["id"]))
        order.status = "paid"
    body, headers = wallet.signed_notify_for(payment["id"])
    url = _notify_url(shop, provider)

    forged = shop.client.post(url, data=_tamper(body, provider), headers=headers)
    other_key = shop.client.post(url, **_signed_with_another_key(provider, body, headers))
    mismatched_body, mismatched_headers = _with_amount(wallet, payment["id"], 1)
    mismatched = shop.client.post(url, data=mismatched_body, headers=mismatched_headers)
    for refused in (forged, other_key, mismatched):
        assert refused.status_code == 400, refused.json
    assert shop.get(f"/v1/payments/{payment['id']}").json["status"] == "requires_action"
    assert "rejected" in caplog.text

    genuine = shop.client.post(url, data=body, headers=headers)
    replayed = shop.client.post(url, data=body, headers=headers)
    assert genuine.json["status"] == "succeeded"
    assert (replayed.status_code, replayed.json["error"]["code"]) == (400, "callback_replayed")
    again_body, again_headers = wallet.signed_notify_for(payment["id"])  # a fresh duplicate notify
    duplicate = shop.client.post(url, data=again_body, headers=again_headers)
    assert duplicate.json["status"] == "succeeded"
    assert shop.balance() == 5_000 - 30  # booked once
    assert _events(shop, payment["id"]) == ["payment.succeeded"]


def test_stale_notify_is_refused(shop):
    wallet = shop.gw.wallets["wechat_like"]
    payment = _wallet_payment(shop, "wechat_like")
    real_clock = shop.gw.clock
    shop.gw.clock = lambda: real_clock() - timedelta(minutes=10)
    try:
        body, headers = wallet.signed_notify_for(payment["id"])
    finally:
        shop.gw.clock = real_clock
    response = shop.client.post(_notify_url(shop, "wechat_like"), data=body, headers=headers)
    assert response.status_code == 400
    assert "tolerance" in response.json["error"]["message"]


@pytest.mark.parametrize("provider", PROVIDERS)
def test_unpaid_order_is_closed_at_expiry(shop, provider):
    payment = _wallet_payment(shop, provider)
    real_clock = shop.gw.clock
    shop.gw.clock = lambda: real_clock() + timedelta(minutes=16)
    try:
        reconciliation.run_once(shop.gw)
        late = shop.post(f"/v1/sandbox/wallets/payments/{payment['id']}/confirm", {"approve": True}).json
    finally:
        shop.gw.clock = real_clock
    assert (late["status"], late["failure_code"]) == ("canceled", "order_expired")
    assert shop.balance() == 0
    assert _events(shop, payment["id"]) == ["payment.canceled"]


def test_order_paid_but_every_notify_lost_is_found_paid_at_expiry(shop):
    wallet = shop.gw.wallets["alipay_like"]
    payment = _wallet_payment(shop, "alipay_like", 2_000)
    wallet.shopper_confirms(payment["id"], approve=True)  # notifies returned, never delivered
    real_clock = shop.gw.clock
    shop.gw.clock = lambda: real_clock() + timedelta(minutes=16)
    try:
        reconciliation.run_once(shop.gw)
    finally:
        shop.gw.clock = real_clock
    assert shop.get(f"/v1/payments/{payment['id']}").json["status"] == "succeeded"
    assert shop.balance() == 2_000 - 12


def test_manual_capture_is_refused_for_wallets(shop):
    response = shop.post("/v1/payments", {"amount": 100, "currency": "CNY", "payment_method": {"type": "wallet", "provider": "alipay_like"}, "capture_method": "manual"})
    assert (response.status_code, response.json["error"]["param"]) == (400, "capture_method")
    unknown = shop.post("/v1/payments", {"amount": 100, "currency": "CNY", "payment_method": {"type": "wallet", "provider": "paypal"}})
    assert unknown.status_code == 400


def _tamper(body: bytes, provider: str) -> bytes:
    if provider == "alipay_like":
        params = dict(parse_qsl(body.decode()))
        params["total_amount"] = "0.01"
        return urlencode(params).encode()
    data = json.loads(body)
    data["resource"]["amount"]["total"] = 1
    return json.dumps(data, separators=(",", ":")).encode()


def _signed_with_another_key(provider: str, body: bytes, headers: dict) -> dict:
    """The genuine notify, signed with a key that is not the provider's."""
    import base64

    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa

    if provider == "wechat_like":
        message = f"{headers['Wechatpay-Timestamp']}\n{headers['Wechatpay-Nonce']}\n".encode() + body + b"\n"
        signature = base64.b64encode(ed25519.Ed25519PrivateKey.generate().sign(message)).decode()
        return {"data": body, "headers": {**headers, "Wechatpay-Signature": signature}}
    params = dict(parse_qsl(body.decode()))
    unsigned = {k: v for k, v in params.items() if k not in ("sign", "sign_type")}
    signing = "&".join(f"{k}={unsigned[k]}" for k in sorted(unsigned)).encode()
    params["sign"] = base64.b64encode(rsa.generate_private_key(public_exponent=65537, key_size=2048).sign(signing, padding.PKCS1v15(), hashes.SHA256())).decode()
    return {"data": urlencode(params).encode(), "headers": headers}


def _with_amount(wallet, payment_id: str, amount: int):
    """A genuinely signed notify that names a different amount than the payment."""
    from gateway.adapters.db.models import SandboxWalletOrder

    with wallet.db.unit_of_work() as session:
        order = session.get(SandboxWalletOrder, (wallet.name, payment_id))
        session.expunge(order)
    order.amount = amount
    return wallet.signed_notify(order, "paid")
