"""Sandbox of a WeChat-Pay-like wallet. Like the real kind (API v3): amounts in fen inside a JSON
`resource`, and the signature in headers: the provider signs "timestamp\\nnonce\\nbody\\n" and
sends it base64 in Wechatpay-Signature with Wechatpay-Timestamp and Wechatpay-Nonce. The sandbox
signs with Ed25519."""
from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from datetime import datetime, timezone

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ed25519

from gateway.adapters.connectors.base import CallbackRejected, Notification
from gateway.adapters.connectors.wallet_core import SandboxWallet

TRADE_STATE = {"scanned": "USERPAYING", "paid": "SUCCESS", "failed": "PAYERROR", "closed": "CLOSED", "waiting": "NOTPAY"}
ORDER_STATUS = {wire: ours for ours, wire in TRADE_STATE.items()}


class WechatLikeSandbox(SandboxWallet):
    name = "sandbox_wechat"
    provider = "wechat_like"

    def _generate_key(self):
        return ed25519.Ed25519PrivateKey.generate()

    def _action(self, trade_no: str, expires_at: datetime) -> dict:
        return {
            "type": "wallet_qr",
            "provider": self.provider,
            "qr_payload": f"weixin-like://wxpay/bizpayurl?pr={trade_no}",
            "deep_link": f"weixin-like://wxpay/open?trade={trade_no}",
            "expires_at": int(expires_at.timestamp()),
        }

    def _encode_notify(self, *, notify_id, payment_id, trade_no, amount, currency, status, sent_at) -> tuple[bytes, dict[str, str]]:
        body = json.dumps(
            {
                "id": notify_id,
                "create_time": sent_at.astimezone(timezone.utc).isoformat(),
                "event_type": f"TRANSACTION.{TRADE_STATE[status]}",
                "resource": {
                    "out_trade_no": payment_id,
                    "transaction_id": trade_no,
                    "trade_state": TRADE_STATE[status],
                    "amount": {"total": amount, "currency": currency},
                },
            },
            separators=(",", ":"),
        ).encode()
        timestamp, nonce = str(int(sent_at.timestamp())), self._nonce()
        signature = self.private_key().sign(_message(timestamp, nonce, body))
        return body, {
            "Content-Type": "application/json",
            "Wechatpay-Timestamp": timestamp,
            "Wechatpay-Nonce": nonce,
            "Wechatpay-Signature": base64.b64encode(signature).decode(),
            "Wechatpay-Serial": "sandbox-1",
        }

    def parse_callback(self, body: bytes, headers: Mapping[str, str]) -> Notification:
        try:
            timestamp, nonce = headers["Wechatpay-Timestamp"], headers["Wechatpay-Nonce"]
            signature = base64.b64decode(headers["Wechatpay-Signature"], validate=True)
        except (KeyError, ValueError):
            raise CallbackRejected("missing or malformed signature headers") from None
        try:
            self.public_key().verify(signature, _message(timestamp, nonce, body))
        except InvalidSignature:
            raise CallbackRejected("signature does not verify with the provider's public key") from None
        try:
            data = json.loads(body)
            resource = data["resource"]
            sent_at = datetime.fromtimestamp(int(timestamp), timezone.utc)
            return self.notification(
                resource["out_trade_no"], resource["transaction_id"], int(resource["amount"]["total"]), resource["amount"]["currency"],
                ORDER_STATUS[resource["trade_state"]], data["id"], sent_at,
            )
        except (KeyError, ValueError, TypeError):
            raise CallbackRejected("malformed notify body") from None


def _message(timestamp: str, nonce: str, body: bytes) -> bytes:
    return f"{timestamp}\n{nonce}\n".encode() + body + b"\n"
