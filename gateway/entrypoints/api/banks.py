"""GET /v1/banks (the national banks), the banks' and wallets' signed callbacks, the wallet app's
confirmation, and in test mode /v1/sandbox helpers (the SMS code a sandbox bank sent)."""
from __future__ import annotations

from flask import request

from gateway.entrypoints.api.base import ApiBlueprint, gateway, principal, require_key
from gateway.entrypoints.api.schemas import BankList, PaymentOut, SmsCodeOut, WalletConfirm
from gateway.services import banks, payments, saved_cards, wallets

blp = ApiBlueprint("banks", __name__, url_prefix="/v1", description="National banks, bank callbacks and sandbox helpers.")


@blp.route("/banks", methods=["GET"])
@blp.response(200, BankList)
def list_banks():
    """The national banks we reach, their BINs, connector and quick-pay limits (fen)."""
    require_key(allow_publishable=True)
    return {"data": banks.list_banks(gateway())}


@blp.route("/bank_callbacks/<connector>", methods=["POST"])
@blp.response(200, PaymentOut)
@blp.doc(security=[], parameters=[{"in": "header", "name": "Bank-Signature", "required": True, "schema": {"type": "string"}, "description": "t=<unix>,v1=<hex HMAC-SHA256 of 't.body'>"}])
def bank_callback(connector):
    """A bank's signed asynchronous answer about a debit (called by the bank, not by merchants)."""
    return payments.apply_callback(gateway(), connector, request.get_data(), request.headers)


@blp.route("/wallet_notify/<connector>", methods=["POST"])
@blp.response(200, PaymentOut)
@blp.doc(security=[])
def wallet_notify(connector):
    """A wallet provider's signed notify (sandbox_alipay: form fields signed RSA2 in `sign`;
    sandbox_wechat: JSON signed in the Wechatpay-Signature header). Forged, replayed or
    mismatched notifies are rejected with 400 and logged."""
    return payments.apply_callback(gateway(), connector, request.get_data(), request.headers)


sandbox = ApiBlueprint("sandbox", __name__, url_prefix="/v1/sandbox", description="Test mode only: what the sandbox banks sent.")


@sandbox.route("/wallets/payments/<payment_id>/confirm", methods=["POST"])
@sandbox.arguments(WalletConfirm)
@sandbox.response(200, PaymentOut)
def wallet_app_confirms(body, payment_id):
    """Stands in for the shopper's wallet app: confirm (or decline) the order; the provider then
    sends its signed notifies to the gateway."""
    require_key()
    return wallets.shopper_confirms(gateway(), principal().merchant_id, payment_id, body["approve"])


@sandbox.route("/card_bindings/<card_id>/sms_code", methods=["GET"])
@sandbox.response(200, SmsCodeOut)
def sms_code(card_id):
    """The 6-digit code the sandbox bank texted to the card holder for this binding."""
    require_key()
    return {"code": saved_cards.sent_sms_code(gateway(), principal().merchant_id, card_id)}
