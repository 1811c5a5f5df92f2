"""A wallet payment (QR code, the shopper confirms in the app, the provider's signed notify), with
the webhook it causes delivered to a local receiver."""
from __future__ import annotations

from gateway.bootstrap import Gateway
from gateway.demo.webhooks import show_webhook_delivery
from gateway.domain.money import format_cny as yuan
from gateway.sdk.client import Paygate


def wallet_and_webhooks(shop: Paygate, gw: Gateway) -> None:
    show_webhook_delivery(gw, shop, lambda: _pay_by_wallet(shop))


def _pay_by_wallet(shop: Paygate) -> None:
    print("  wallet payment (alipay_like):")
    order = shop.create_payment(6800, {"type": "wallet", "provider": "alipay_like"}, confirm=True)
    print(f"    {order['id']} {yuan(order['amount'])}: {order['status']}, QR {order['next_action']['qr_payload']}")
    paid = shop.sandbox_wallet_confirm(order["id"])
    print(f"    shopper confirms in the app; the provider's RSA2-signed notify arrives: {paid['status']}")
