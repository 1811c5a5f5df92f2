"""Card payments at the sandbox banks: paid, declined, held and partly captured, partly refunded."""
from __future__ import annotations

from gateway.domain.money import format_cny as yuan
from gateway.domain.sandbox_cards import sandbox_card_number
from gateway.sdk.client import Paygate


def card_payments(shop: Paygate, checkout: Paygate) -> None:
    print("\ncard payments (sandbox bank):")
    paid = shop.create_payment(399900, _token(checkout, "4242", "ICBC"), confirm=True, description="phone")
    _show("phone, ICBC card", paid)
    declined = shop.create_payment(12900, _token(checkout, "0002", "CCB"), confirm=True)
    _show("case, CCB card ending 0002", declined)
    held = shop.create_payment(59900, _token(checkout, "5556", "BOC"), capture_method="manual", confirm=True)
    _show("earbuds, manual capture: held", held)
    _show("earbuds, captured 499 of 599", shop.capture_payment(held["id"], 49900))
    refund = shop.create_refund(paid["id"], 50000)
    print(f"  partial refund {refund['id']} of {yuan(refund['amount'])} on the phone: {refund['status']}")
    _show("phone after refund", shop.retrieve_payment(paid["id"]))


def _token(checkout: Paygate, last4: str, bank: str) -> str:
    """The checkout page tokenizes the card with the publishable key."""
    return checkout.create_token(sandbox_card_number(bank, last4), 12, 2030, "123", "Li Lei")["id"]


def _show(label: str, payment: dict) -> None:
    extra = f" ({payment['failure_code']})" if payment.get("failure_code") else ""
    print(f"  {label:<34} {payment['id']}  {yuan(payment['amount']):>14}  {payment['status']}{extra}"
          f"  received {yuan(payment['amount_received'])}, refunded {yuan(payment['amount_refunded'])}")
