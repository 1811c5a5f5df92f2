"""Customer registration with the national ID (adults only), consent, and cards bound by SMS code;
a joint-stock bank answers by signed callback."""
from __future__ import annotations

import secrets
from datetime import date

from gateway.domain.money import format_cny as yuan
from gateway.domain.sandbox_cards import sandbox_card_number
from gateway.domain.sandbox_ids import sandbox_id_number
from gateway.sdk.client import Paygate, PaygateError

IDENTITY_CONSENT = {"version": "2026-01", "purpose": "real-name verification"}
CARD_CONSENT = ("bank_card", "2026-01", "bind and charge debit cards")


def customers_and_saved_cards(shop: Paygate) -> tuple[dict, dict]:
    """The registered customer and their ICBC card (the installments part uses both)."""
    print("\ncustomer registration and saved cards:")
    # A fresh order number so that the demo can run again on the same database.
    id_number = sandbox_id_number(date(1992, 6, 18), order=1 + secrets.randbelow(998))
    customer = shop.create_customer("Wang Fang", "13800138000", id_number, IDENTITY_CONSENT)
    print(f"  registered {customer['id']}: ID shown as {customer['id_number']}, mobile {customer['mobile']}")
    try:
        shop.create_customer("Xiao Ming", "13900139000", sandbox_id_number(date(2010, 1, 1)), IDENTITY_CONSENT)
    except PaygateError as refused:
        print(f"  a 16-year-old is refused: {refused.code}")
    else:
        print("  a 16-year-old was NOT refused")
    shop.grant_consent(customer["id"], *CARD_CONSENT)
    print("  consent recorded: bank_card")
    connectors = {bank["code"]: bank["connector"] for bank in shop.list_banks()["data"]}
    cards = {bank: _bind_and_pay(shop, customer["id"], bank, amount, connectors[bank])
             for bank, amount in (("ICBC", 129900), ("CMB", 39900))}
    return customer, cards["ICBC"]


def _bind_and_pay(shop: Paygate, customer_id: str, bank: str, amount: int, connector: str) -> dict:
    started = shop.start_card_binding(customer_id, sandbox_card_number(bank, "8888"), 12, 2030, "123")
    code = shop.sandbox_sms_code(started["id"])
    card = shop.verify_card(customer_id, started["id"], code)
    print(f"  {bank} card {card['masked_number']} bound with SMS code {code}: {card['status']}")
    payment = shop.create_payment(amount, {"type": "saved_card", "card": card["id"]}, confirm=True)
    print(f"    paid {yuan(amount)} with it: {payment['status']} via {connector}")
    if payment["status"] == "processing":  # this bank answers later, by signed callback
        settled = shop.sandbox_bank_callback(payment["id"])
        print(f"    the bank's signed callback arrived: {settled['status']}")
    return card
