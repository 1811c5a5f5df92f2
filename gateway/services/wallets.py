"""Wallet payments in the sandbox: the shopper's side of a wallet order."""
from __future__ import annotations

from gateway.domain.errors import InvalidRequest
from gateway.services.payments import PaymentPorts
from gateway.services.payments import apply_callback, get_payment
from gateway.services.read_models import PaymentView


def shopper_confirms(gw: PaymentPorts, merchant_id: str, payment_id: str, approve: bool) -> PaymentView:
    """The shopper confirms (or declines) in the wallet app; the provider's signed notifies then
    reach the gateway through the same verification as any notify from outside."""
    payment = get_payment(gw, merchant_id, payment_id)
    if payment.wallet_provider is None:
        raise InvalidRequest("not_a_wallet_payment", "This payment is not paid by wallet.", "payment")
    wallet = gw.wallets[payment.wallet_provider]
    for body, headers in wallet.shopper_confirms(payment.id, approve):
        payment = apply_callback(gw, wallet.name, body, headers)
    return get_payment(gw, merchant_id, payment_id)
