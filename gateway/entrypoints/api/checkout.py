"""Checkout sessions: a merchant asks for a payment and sends the shopper to the hosted page."""
from __future__ import annotations

from flask import url_for

from gateway.entrypoints.api.base import ApiBlueprint, gateway, principal, require_key
from gateway.entrypoints.api.checkout_schemas import CheckoutSessionCreate, CheckoutSessionOut
from gateway.entrypoints.api.idempotency import idempotent
from gateway.services import checkout

blp = ApiBlueprint("checkout_sessions", __name__, url_prefix="/v1/checkout/sessions", description="Hosted checkout sessions.")


@blp.before_request
def _authenticate() -> None:
    require_key()


def _with_url(view: checkout.SessionView) -> dict:
    return {**view.__dict__, "url": url_for("checkout.page", session_id=view.id, _external=True)}


@blp.route("", methods=["POST"])
@idempotent
@blp.arguments(CheckoutSessionCreate)
@blp.response(200, CheckoutSessionOut)
def create_session(body):
    """Create a checkout session; redirect the shopper to its `url`. Completes at most once
    (event `checkout.session.completed`)."""
    request_ = checkout.NewSession(
        line_items=[checkout.LineItem(**item) for item in body["line_items"]],
        currency=body["currency"], payment_methods=body["payment_methods"], success_url=body["success_url"],
        cancel_url=body["cancel_url"], expires_in=body["expires_in"], installment_product=body["installment_product"],
        confirmation_device=body["confirmation_device"],
    )
    return _with_url(checkout.create_session(gateway(), principal().merchant_id, request_))


@blp.route("/<session_id>", methods=["GET"])
@blp.response(200, CheckoutSessionOut)
def get_session(session_id):
    return _with_url(checkout.get_session(gateway(), principal().merchant_id, session_id))
