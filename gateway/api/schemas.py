"""Request and response schemas: the contract published at /openapi.json."""
from __future__ import annotations

from datetime import datetime

from marshmallow import Schema, ValidationError, fields, validate

from gateway.domain.clock import as_utc
from gateway.domain.money import MAX_AMOUNT_FEN, SUPPORTED_CURRENCIES


class StrictBoolean(fields.Boolean):
    """JSON true/false only: 1, "true" and "yes" are type errors, not booleans."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, bool):
            raise ValidationError("Not a valid boolean.")
        return value


class Currency(fields.String):
    def _deserialize(self, value, attr, data, **kwargs):
        code = super()._deserialize(value, attr, data, **kwargs).upper()
        if code not in SUPPORTED_CURRENCIES:
            raise ValidationError(f"Unsupported currency; use one of {', '.join(SUPPORTED_CURRENCIES)}.")
        return code


class UnixTime(fields.Field):
    def _serialize(self, value: datetime | None, attr, obj, **kwargs):
        return int(as_utc(value).timestamp()) if value else None


def Amount(**kwargs) -> fields.Integer:
    return fields.Integer(strict=True, validate=validate.Range(min=1, max=MAX_AMOUNT_FEN), **kwargs)


Metadata = fields.Dict(
    keys=fields.String(validate=validate.Length(min=1, max=40)),
    values=fields.String(validate=validate.Length(max=500)),
    validate=validate.Length(max=50),
)


# ---- requests -------------------------------------------------------------------------------

class TokenCreate(Schema):
    card_number = fields.String(required=True, validate=validate.Length(min=12, max=23))
    holder_name = fields.String(required=True, validate=validate.Length(min=1, max=100))
    exp_month = fields.Integer(required=True, strict=True)
    exp_year = fields.Integer(required=True, strict=True, validate=validate.Range(min=2000, max=2100))
    cvv = fields.String(required=True, load_only=True)


class PaymentCreate(Schema):
    amount = Amount(required=True, metadata={"description": "Amount in fen (minor units)."})
    currency = Currency(required=True)
    payment_method = fields.String(required=True, metadata={"description": "A card token id (tok_...)."})
    capture_method = fields.String(load_default="automatic", validate=validate.OneOf(["automatic", "manual"]))
    confirm = StrictBoolean(load_default=False)
    description = fields.String(load_default=None, validate=validate.Length(max=500))
    metadata = Metadata


class PaymentCapture(Schema):
    amount_to_capture = fields.Integer(strict=True, load_default=None)


class Empty(Schema):
    """Bodyless actions still reject unknown fields."""


class RefundCreate(Schema):
    payment = fields.String(required=True)
    amount = fields.Integer(strict=True, load_default=None, metadata={"description": "Fen; all that is left when omitted."})


class ListQuery(Schema):
    limit = fields.Integer(load_default=10, validate=validate.Range(min=1, max=100))
    starting_after = fields.String(load_default=None)


# ---- responses ------------------------------------------------------------------------------

class TokenOut(Schema):
    id = fields.String()
    object = fields.Constant("token")
    brand = fields.String()
    bank = fields.String(attribute="bank_code")
    last4 = fields.String()
    exp_month = fields.Integer()
    exp_year = fields.Integer()
    used = fields.Boolean()
    created = UnixTime(attribute="created_at")


class CardOut(Schema):
    brand = fields.String(attribute="card_brand")
    bank = fields.String(attribute="card_bank")
    last4 = fields.String(attribute="card_last4")


class PaymentOut(Schema):
    id = fields.String()
    object = fields.Constant("payment")
    amount = fields.Integer()
    currency = fields.String()
    status = fields.String()
    capture_method = fields.String()
    amount_capturable = fields.Integer()
    amount_received = fields.Integer()
    amount_refunded = fields.Integer()
    payment_method = fields.String(attribute="card_token_id")
    card = fields.Function(lambda payment: CardOut().dump(payment))
    failure_code = fields.String(allow_none=True)
    failure_message = fields.String(allow_none=True)
    description = fields.String(allow_none=True)
    metadata = fields.Dict(attribute="metadata_")
    created = UnixTime(attribute="created_at")


class PaymentList(Schema):
    object = fields.Constant("list")
    data = fields.List(fields.Nested(PaymentOut))
    has_more = fields.Boolean()
    url = fields.String()


class RefundOut(Schema):
    id = fields.String()
    object = fields.Constant("refund")
    amount = fields.Integer()
    currency = fields.String()
    payment = fields.String(attribute="payment_id")
    status = fields.String()
    failure_code = fields.String(allow_none=True)
    created = UnixTime(attribute="created_at")


class BalanceAmount(Schema):
    amount = fields.Integer()
    currency = fields.String()


class BalanceOut(Schema):
    object = fields.Constant("balance")
    available = fields.List(fields.Nested(BalanceAmount))


class ErrorDetail(Schema):
    type = fields.String()
    code = fields.String()
    message = fields.String()
    param = fields.String(allow_none=True)


class ErrorOut(Schema):
    error = fields.Nested(ErrorDetail)


class HealthOut(Schema):
    status = fields.String()
    database = fields.String()
