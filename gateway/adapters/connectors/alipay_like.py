"""Sandbox of an Alipay-like wallet. Like the real kind: amounts travel as yuan decimal strings,
notifies are form-encoded, and the provider signs the sorted `key=value&...` string with
RSA-SHA256 (sign_type RSA2), base64 in the `sign` field."""
from __future__ import annotations

import base64
from collections.abc import Mapping
from datetime import datetime, timezone
from decimal import Decimal, InvalidOperation
from urllib.parse import parse_qsl, urlencode

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from gateway.adapters.connectors.base import CallbackRejected, Notification
from gateway.adapters.connectors.wallet_core import SandboxWallet

TRADE_STATUS = {"scanned": "WAIT_BUYER_PAY", "paid": "TRADE_SUCCESS", "failed": "TRADE_FAILED", "closed": "TRADE_CLOSED", "waiting": "WAIT_BUYER_SCAN"}
ORDER_STATUS = {wire: ours for ours, wire in TRADE_STATUS.items()}


def fen_to_yuan(fen: int) -> str:
    return f"{fen // 100}.{fen % 100:02d}"


def yuan_to_fen(text: str) -> int:
    try:
        fen = Decimal(text) * 100
    except InvalidOperation:
        raise CallbackRejected("total_amount is not a decimal") from None
    if fen != fen.to_integral_value():
        raise CallbackRejected("total_amount has fractions of a fen")
    return int(fen)


class AlipayLikeSandbox(SandboxWallet):
    name = "sandbox_alipay"
    provider = "alipay_like"

    def _generate_key(self):
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)

    def _action(self, trade_no: str, expires_at: datetime) -> dict:
        return {
            "type": "wallet_qr",
            "provider": self.provider,
            "qr_payload": f"https://qr.sandbox.alipay-like.example/{trade_no}",
            "deep_link": f"alipays-like://platformapi/startapp?tradeNo={trade_no}",
            "expires_at": int(expires_at.timestamp()),
        }

    def _encode_notify(self, *, notify_id, payment_id, trade_no, amount, currency, status, sent_at) -> tuple[bytes, dict[str, str]]:
        params = {
            "notify_id": notify_id,
            "notify_time": sent_at.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S"),
            "out_trade_no": payment_id,
            "trade_no": trade_no,
            "total_amount": fen_to_yuan(amount),
            "currency": currency,
            "trade_status": TRADE_STATUS[status],
        }
        signature = self.private_key().sign(_signing_string(params), padding.PKCS1v15(), hashes.SHA256())
        params.update(sign_type="RSA2", sign=base64.b64encode(signature).decode())
        return urlencode(params).encode(), {"Content-Type": "application/x-www-form-urlencoded"}

    def parse_callback(self, body: bytes, headers: Mapping[str, str]) -> Notification:
        try:
            params = dict(parse_qsl(body.decode(), keep_blank_values=True, strict_parsing=True))
            signature = base64.b64decode(params.pop("sign"), validate=True)
            sign_type = params.pop("sign_type")
        except (ValueError, KeyError, UnicodeDecodeError):
            raise CallbackRejected("malformed notify") from None
        if sign_type != "RSA2":
            raise CallbackRejected(f"unsupported sign_type {sign_type!r}")
        try:
            self.public_key().verify(signature, _signing_string(params), padding.PKCS1v15(), hashes.SHA256())
        except InvalidSignature:
            raise CallbackRejected("signature does not verify with the provider's public key") from None
        try:
            sent_at = datetime.strptime(params["notify_time"], "%Y-%m-%d %H:%M:%S").replace(tzinfo=timezone.utc)
            status = ORDER_STATUS[params["trade_status"]]
            return self.notification(
                params["out_trade_no"], params["trade_no"], yuan_to_fen(params["total_amount"]), params["currency"], status, params["notify_id"], sent_at
            )
        except (KeyError, ValueError):
            raise CallbackRejected("malformed notify fields") from None


def _signing_string(params: dict[str, str]) -> bytes:
    return "&".join(f"{key}={params[key]}" for key in sorted(params) if params[key] != "").encode()
