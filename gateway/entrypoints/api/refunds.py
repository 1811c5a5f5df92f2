"""/v1/refunds: refund a captured payment, in full or in part, and look a refund up."""
from __future__ import annotations

from gateway.entrypoints.api.base import ApiBlueprint, gateway, principal, require_key
from gateway.entrypoints.api.idempotency import idempotent
from gateway.entrypoints.api.schemas import RefundCreate, RefundOut
from gateway.services import refunds

blp = ApiBlueprint("refunds", __name__, url_prefix="/v1/refunds", description="Refunds of captured payments.")


@blp.before_request
def _authenticate() -> None:
    require_key()


@blp.route("", methods=["POST"])
@idempotent
@blp.arguments(RefundCreate)
@blp.response(200, RefundOut)
def create_refund(body):
    """Refund a succeeded payment in full or in part; refunds never exceed the captured amount."""
    return refunds.create_refund(gateway(), principal().merchant_id, body["payment"], body["amount"])


@blp.route("/<refund_id>", methods=["GET"])
@blp.response(200, RefundOut)
def get_refund(refund_id):
    return refunds.get_refund(gateway(), principal().merchant_id, refund_id)
