"""POST /v1/tokens: turn card details into a single-use token (publishable keys allowed)."""
from __future__ import annotations

from gateway.entrypoints.api.base import ApiBlueprint, gateway, principal, require_key
from gateway.entrypoints.api.schemas import TokenCreate, TokenOut
from gateway.services.tokens import create_card_token

blp = ApiBlueprint("tokens", __name__, url_prefix="/v1/tokens", description="Card tokenization (publishable keys allowed).")


@blp.before_request
def _authenticate() -> None:
    require_key(allow_publishable=True)


@blp.route("", methods=["POST"])
@blp.arguments(TokenCreate)
@blp.response(200, TokenOut)
def create_token(body):
    """Tokenize a UnionPay debit card. Returns a single-use token; the CVV is never stored."""
    return create_card_token(gateway(), principal().merchant_id, **body)
