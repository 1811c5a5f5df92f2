"""GET /v1/balance: the merchant's ledger balance."""
from __future__ import annotations

from gateway.entrypoints.api.base import ApiBlueprint, gateway, principal, require_key
from gateway.entrypoints.api.schemas import BalanceOut
from gateway.services.ledger import merchant_balance

blp = ApiBlueprint("balance", __name__, url_prefix="/v1/balance", description="The merchant's ledger balance.")


@blp.before_request
def _authenticate() -> None:
    require_key()


@blp.route("", methods=["GET"])
@blp.response(200, BalanceOut)
def get_balance():
    """What the gateway owes the merchant: captures less fees and refunds, per currency."""
    balances = merchant_balance(gateway(), principal().merchant_id)
    return {"available": [{"amount": amount, "currency": currency} for currency, amount in sorted(balances.items())]}
