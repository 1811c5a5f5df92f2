"""Request and response schemas: the contract published at /openapi.json."""
from __future__ import annotations

from datetime import datetime

from marshmallow import Schema, ValidationError, fields, validate

from gateway.services.payments import PaymentMethod

from gateway.domain.clock import as_utc
from gateway.domain.consent import ConsentKind
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


class PaymentMethodField(fields.Field):
    """A card token id ("tok_..."), or {"type": "saved_card", "card": "card_..."}."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, str) and value:
            return PaymentMethod("card_token", value)
        if isinstance(value, dict) and value.get("type") == "saved_card" and isinstance(value.get("card"), str) and set(value) == {"type", "card"}:
            return PaymentMethod("saved_card", value["card"])
        if isinstance(value, dict) and value.get("type") == "card_token" and isinstance(value.get("token"), str) and set(value) == {"type", "token"}:
            return PaymentMethod("card_token", value["token"])
        if isinstance(value, dict) and value.get("type") == "wallet" and isinstance(value.get("provider"), str) and set(value) == {"type", "provider"}:
            return PaymentMethod("wallet", value["provider"])
        raise ValidationError('Use a card token id, {"type": "saved_card", "card": "card_..."} or {"type": "wallet", "provider": "alipay_like"}.')


class DeviceConfirmationIn(Schema):
    device = fields.String(required=True, metadata={"description": "The buyer's enrolled device (dev_...) that must approve."})


class PaymentCreate(Schema):
    amount = Amount(required=True, metadata={"description": "Amount in fen (minor units)."})
    currency = Currency(required=True)
    payment_method = PaymentMethodField(
        required=True,
        metadata={
            "description": 'A single-use card token id (tok_...), a saved card {"type": "saved_card", "card": "card_..."}, '
            'or a wallet {"type": "wallet", "provider": "alipay_like" | "wechat_like"}.',
            "oneOf": [
                {"type": "string"},
                {"type": "object", "properties": {"type": {"type": "string", "enum": ["saved_card"]}, "card": {"type": "string"}}, "required": ["type", "card"]},
                {"type": "object", "properties": {"type": {"type": "string", "enum": ["wallet"]}, "provider": {"type": "string", "enum": ["alipay_like", "wechat_like"]}}, "required": ["type", "provider"]},
            ],
        },
    )
    capture_method = fields.String(load_default="automatic", validate=validate.OneOf(["automatic", "manual"]))
    confirm = StrictBoolean(load_default=False)
    confirmation = fields.Nested(
        DeviceConfirmationIn, load_default=None,
        metadata={"description": "Ask the buyer's device to approve first: the payment waits in requires_action until its signed answer."},
    )
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


_CARD_OUT = CardOut()  # made once: a schema instance is stateless to dump with, and costly to make


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
    payment_method = fields.Function(lambda payment: payment.card_token_id or payment.saved_card_id or {"type": "wallet", "provider": payment.wallet_provider})
    customer = fields.String(attribute="customer_id", allow_none=True)
    next_action = fields.Dict(allow_none=True, metadata={"description": "With requires_action: the wallet QR payload, deep link and expiry."})
    flagged_reason = fields.String(allow_none=True, metadata={"description": "Set when reconciliation gave up and an operator must look."})
    card = fields.Function(lambda payment: _CARD_OUT.dump(payment) if payment.card_last4 else None)
    failure_code = fields.String(allow_none=True)
    failure_message = fields.String(allow_none=True)
    description = fields.String(allow_none=True)
    metadata = fields.Dict()
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


# ---- customers, consents, saved cards, banks ----------------------------------------------------

class ConsentGrantIn(Schema):
    version = fields.String(required=True, validate=validate.Length(min=1, max=40))
    purpose = fields.String(required=True, validate=validate.Length(min=1, max=500))


class ConsentCreate(ConsentGrantIn):
    kind = fields.String(required=True, validate=validate.OneOf([kind.value for kind in ConsentKind]))


class CustomerCreate(Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=100))
    mobile = fields.String(required=True, metadata={"description": "Mainland mobile number, 11 digits."})
    id_number = fields.String(required=True, load_only=True, metadata={"description": "Resident ID number (GB 11643-1999); stored encrypted, never returned."})
    identity_consent = fields.Nested(ConsentGrantIn, required=True, metadata={"description": "The customer's consent to real-name verification with the ID."})


class CustomerOut(Schema):
    id = fields.String()
    object = fields.Constant("customer")
    state = fields.String()
    name = fields.String(allow_none=True)
    mobile = fields.String(attribute="mobile_masked", allow_none=True)
    id_number = fields.String(attribute="id_number_masked", allow_none=True, metadata={"description": "Masked: first and last character only."})
    created = UnixTime(attribute="created_at")


class ConsentOut(Schema):
    id = fields.String()
    object = fields.Constant("consent")
    kind = fields.String()
    purpose = fields.String()
    version = fields.String()
    granted = UnixTime(attribute="granted_at")
    withdrawn = UnixTime(attribute="withdrawn_at", allow_none=True)
    active = fields.Function(lambda consent: consent.withdrawn_at is None)


class ConsentList(Schema):
    object = fields.Constant("list")
    data = fields.List(fields.Nested(ConsentOut))


class SavedCardCreate(Schema):
    card_number = fields.String(required=True, validate=validate.Length(min=12, max=23))
    exp_month = fields.Integer(required=True, strict=True)
    exp_year = fields.Integer(required=True, strict=True, validate=validate.Range(min=2000, max=2100))
    cvv = fields.String(required=True, load_only=True)


class SavedCardVerify(Schema):
    code = fields.String(required=True)


class SavedCardOut(Schema):
    id = fields.String()
    object = fields.Constant("card")
    customer = fields.String(attribute="customer_id")
    status = fields.String()
    brand = fields.String()
    bank = fields.String(attribute="bank_code")
    last4 = fields.String()
    masked_number = fields.String()
    exp_month = fields.Integer()
    exp_year = fields.Integer()
    created = UnixTime(attribute="created_at")


class SavedCardList(Schema):
    object = fields.Constant("list")
    data = fields.List(fields.Nested(SavedCardOut))


class WalletConfirm(Schema):
    approve = StrictBoolean(load_default=True)


class SmsCodeOut(Schema):
    code = fields.String()


class BankOut(Schema):
    code = fields.String()
    cnaps = fields.String()
    name = fields.String()
    bins = fields.List(fields.String())
    connector = fields.String()
    per_transaction_limit = fields.Integer(metadata={"description": "fen"})
    per_day_limit = fields.Integer(metadata={"description": "fen"})


class BankList(Schema):
    object = fields.Constant("list")
    data = fields.List(fields.Nested(BankOut))


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
