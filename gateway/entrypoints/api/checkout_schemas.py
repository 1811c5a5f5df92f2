"""Checkout session schemas (issue 12)."""
from __future__ import annotations

from marshmallow import Schema, fields, validate

from gateway.entrypoints.api.schemas import Amount, Currency, UnixTime
from gateway.services.checkout import DEFAULT_EXPIRES_IN, EXPIRES_IN_RANGE, PAYMENT_METHODS


class LineItemIn(Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    amount = Amount(required=True, metadata={"description": "Unit price in fen."})
    quantity = fields.Integer(load_default=1, strict=True, validate=validate.Range(min=1, max=99))


class CheckoutSessionCreate(Schema):
    line_items = fields.List(fields.Nested(LineItemIn), required=True, validate=validate.Length(min=1, max=20))
    currency = Currency(required=True)
    payment_methods = fields.List(
        fields.String(validate=validate.OneOf(PAYMENT_METHODS)), load_default=lambda: ["card"], validate=validate.Length(min=1, max=3),
        metadata={"description": "Ways the shopper may pay: card, wallet, installments."},
    )
    installment_product = fields.String(load_default=None, metadata={"description": "The installment product (ipr_...) offered; needed for installments."})
    confirmation_device = fields.String(load_default=None, metadata={"description": "A device (dev_...) that must approve card payments before the bank sees them; the page waits for it."})
    success_url = fields.Url(required=True, schemes={"http", "https"}, require_tld=False, validate=validate.Length(max=2048),
                             metadata={"description": "Where the shopper returns once paid; {CHECKOUT_SESSION_ID} is replaced by the session id."})
    cancel_url = fields.Url(required=True, schemes={"http", "https"}, require_tld=False, validate=validate.Length(max=2048))
    expires_in = fields.Integer(load_default=DEFAULT_EXPIRES_IN, strict=True, validate=validate.Range(*EXPIRES_IN_RANGE),
                                metadata={"description": "Seconds until the session expires (default 30 minutes)."})


class LineItemOut(Schema):
    name = fields.String()
    amount = fields.Integer()
    quantity = fields.Integer()


class CheckoutSessionOut(Schema):
    id = fields.String()
    object = fields.Constant("checkout.session")
    url = fields.String(metadata={"description": "The hosted page to send the shopper to."})
    status = fields.String(metadata={"description": "open | complete | expired"})
    amount_total = fields.Integer(attribute="amount")
    currency = fields.String()
    line_items = fields.List(fields.Nested(LineItemOut))
    payment_methods = fields.List(fields.String())
    installment_product = fields.String(allow_none=True)
    confirmation_device = fields.String(allow_none=True)
    payment = fields.String(allow_none=True, metadata={"description": "The payment that completed the session, or the shopper's latest attempt."})
    installment_plan = fields.String(allow_none=True)
    success_url = fields.String()
    cancel_url = fields.String()
    expires_at = UnixTime()
    created = UnixTime(attribute="created_at")
    completed_at = UnixTime(allow_none=True)
