"""Card tokenization: the only place a full card number enters the system."""
from __future__ import annotations

import json

from gateway.adapters.connectors.base import CardDetails
from gateway.adapters.db.models import CardToken
from gateway.domain.cards import check_card
from gateway.domain.ids import new_id
from gateway.services.ports import VaultPorts
from gateway.services.read_models import CardTokenView


def create_card_token(
    gw: VaultPorts, merchant_id: str, *, card_number: str, holder_name: str, exp_month: int, exp_year: int, cvv: str
) -> CardTokenView:
    """Validate and encrypt a card; return a single-use token. The CVV is checked for shape and
    then dropped: it is never stored, logged or passed on after this call."""
    card = check_card(card_number, exp_month, exp_year, cvv, gw.clock().date())
    token_id = new_id("tok")
    secret = json.dumps({"pan": card.pan, "holder_name": holder_name}).encode()
    token = CardToken(
        id=token_id,
        merchant_id=merchant_id,
        brand=card.brand,
        bank_code=card.bank.code,
        bin=card.bin,
        last4=card.last4,
        exp_month=exp_month,
        exp_year=exp_year,
        card_ciphertext=gw.vault.encrypt(secret, associated=token_id),
        pan_hmac=gw.vault.index("pan", card.pan),
        used=False,
    )
    with gw.db.unit_of_work() as session:
        session.add(token)
    return CardTokenView.from_row(token)


def card_details(gw: VaultPorts, token: CardToken) -> CardDetails:
    secret = json.loads(gw.vault.decrypt(token.card_ciphertext, associated=token.id))
    return CardDetails(secret["pan"], token.exp_month, token.exp_year, secret["holder_name"])
