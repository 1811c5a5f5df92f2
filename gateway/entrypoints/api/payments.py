"""/v1/payments: create, list, confirm, capture and cancel card payments."""
from __future__ import annotations

from flask import g, request

from gateway.entrypoints.api.base import ApiBlueprint, gateway, principal, require_key
from gateway.entrypoints.api.idempotency import idempotent, stored_response
from gateway.entrypoints.api.schemas import Empty, ListQuery, PaymentCapture, PaymentCreate, PaymentList, PaymentOut
from gateway.domain.payments import CaptureMethod
from gateway.services import payments

blp = ApiBlueprint("payments", __name__, url_prefix="/v1/payments", description="Card payments and their lifecycle.")


@blp.before_request
def _authenticate() -> None:
    require_key()


@blp.route("", methods=["POST"])
@idempotent(claimed_by_view=PaymentOut)
@blp.arguments(PaymentCreate)
@blp.response(200, PaymentOut)
def create_payment(body):
    """Create a payment; with `confirm: true` it is sent to the bank at once."""
    request_ = payments.NewPayment(
        amount=body["amount"],
        currency=body["currency"],
        payment_method=body["payment_method"],
        capture_method=CaptureMethod(body["capture_method"]),
        confirm=body["confirm"],
        description=body["description"],
        metadata=body.get("metadata"),
        confirmation_device=(body["confirmation"] or {}).get("device"),
    )
    caller = principal()
    if g.idempotency_key is None:
        return payments.create_payment(gateway(), caller.merchant_id, request_, fee_rate=caller.fee_rate)
    return stored_response(*payments.create_payment_once(gateway(), caller.merchant_id, request_, g.idempotency_key, caller.fee_rate))


@blp.route("", methods=["GET"])
@blp.arguments(ListQuery, location="query")
@blp.response(200, PaymentList)
def list_payments(query):
    """List payments, newest first, with cursor pagination."""
    rows, has_more = payments.list_payments(gateway(), principal().merchant_id, query["limit"], query["starting_after"])
    return {"data": rows, "has_more": has_more, "url": request.path}


@blp.route("/<payment_id>", methods=["GET"])
@blp.response(200, PaymentOut)
def get_payment(payment_id):
    return payments.get_payment(gateway(), principal().merchant_id, payment_id)


@blp.route("/<payment_id>/confirm", methods=["POST"])
@idempotent
@blp.arguments(Empty)
@blp.response(200, PaymentOut)
def confirm_payment(_body, payment_id):
    """Send a payment in `requires_confirmation` to the bank."""
    return payments.confirm_payment(gateway(), principal().merchant_id, payment_id)


@blp.route("/<payment_id>/capture", methods=["POST"])
@idempotent
@blp.arguments(PaymentCapture)
@blp.response(200, PaymentOut)
def capture_payment(body, payment_id):
    """Capture an authorized payment, in full or in part (the rest is released)."""
    return payments.capture_payment(gateway(), principal().merchant_id, payment_id, body["amount_to_capture"])


@blp.route("/<payment_id>/cancel", methods=["POST"])
@idempotent
@blp.arguments(Empty)
@blp.response(200, PaymentOut)
def cancel_payment(_body, payment_id):
    """Cancel a payment before it is confirmed, or release an uncaptured authorization."""
    return payments.cancel_payment(gateway(), principal().merchant_id, payment_id)
