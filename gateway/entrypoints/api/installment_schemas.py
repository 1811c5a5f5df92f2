"""Request and response schemas (marshmallow) of the installment endpoints: products, quotes,
plans, their payments and payoff quotes, and device unlock tokens."""
from __future__ import annotations

from decimal import Decimal, InvalidOperation

from marshmallow import Schema, ValidationError, fields, validate

from gateway.entrypoints.api.schemas import Amount, UnixTime
from gateway.domain.installments import TERMS, Method


class DecimalString(fields.Field):
    """A rate as a decimal string ("12.5"): floats would carry binary rounding into money math."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, str):
            raise ValidationError('Give rates as decimal strings, e.g. "12.5".')
        try:
            number = Decimal(value)
        except InvalidOperation:
            raise ValidationError("Not a decimal number.") from None
        if not number.is_finite() or number < 0:
            raise ValidationError("Must be a finite, non-negative number.")
        return number

    def _serialize(self, value, attr, obj, **kwargs):
        return None if value is None else str(value)


Terms = fields.List(fields.Integer(strict=True, validate=validate.OneOf(TERMS)), validate=validate.Length(min=1, max=4))
MethodField = fields.String(validate=validate.OneOf([method.value for method in Method]))


class ProductCreate(Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=100))
    terms = Terms
    method = MethodField
    apr = DecimalString(load_default=Decimal(0), metadata={"description": "Annual rate in percent, e.g. \"12.5\"."})
    fee_rate = DecimalString(load_default=Decimal(0), metadata={"description": "interest_free: flat fee share of the financed amount, e.g. \"0.03\"."})
    down_payment_share = DecimalString(load_default=Decimal(0))
    min_amount = Amount(load_default=100_00)
    max_amount = Amount(load_default=50_000_00)
    grace_days = fields.Integer(strict=True, load_default=5, validate=validate.Range(min=0, max=30))
    late_fee_fixed = fields.Integer(strict=True, load_default=20_00, validate=validate.Range(min=0))
    late_fee_rate = DecimalString(load_default=Decimal(0))
    late_fee_cap = fields.Integer(strict=True, load_default=200_00, validate=validate.Range(min=0))
    cooling_off_days = fields.Integer(strict=True, load_default=7, validate=validate.Range(min=0, max=30))


ProductCreate._declared_fields["terms"].required = True
ProductCreate._declared_fields["method"].required = True


class ProductOut(Schema):
    id = fields.String()
    object = fields.Constant("installment_product")
    name = fields.String()
    terms = fields.List(fields.Integer())
    method = fields.String()
    apr = DecimalString()
    fee_rate = DecimalString()
    down_payment_share = DecimalString()
    min_amount = fields.Integer()
    max_amount = fields.Integer()
    grace_days = fields.Integer()
    late_fee_fixed = fields.Integer()
    late_fee_rate = DecimalString()
    late_fee_cap = fields.Integer()
    cooling_off_days = fields.Integer()


class QuoteCreate(Schema):
    amount = Amount(required=True, metadata={"description": "The price in fen (with a product) or the amount financed (inline)."})
    product = fields.String(load_default=None)
    term_months = fields.Integer(strict=True, load_default=None, validate=validate.OneOf(TERMS))
    method = fields.String(load_default=None, validate=validate.OneOf([method.value for method in Method]))
    apr = DecimalString(load_default=None)
    fee_rate = DecimalString(load_default=None)


class PeriodOut(Schema):
    number = fields.Integer()
    due_date = fields.Date()
    principal = fields.Integer()
    interest = fields.Integer(metadata={"description": "Interest, or the fee share on interest_free plans."})
    total = fields.Integer()


class QuoteOut(Schema):
    object = fields.Constant("installment_quote")
    amount = fields.Integer()
    down_payment = fields.Integer()
    financed = fields.Integer(attribute="schedule.financed")
    method = fields.Function(lambda quote: quote.schedule.method.value)
    apr = fields.Function(lambda quote: str(quote.schedule.apr))
    cost_of_credit = fields.Integer(attribute="schedule.cost_of_credit")
    total_repayable = fields.Function(lambda quote: quote.down_payment + quote.schedule.total_repayable)
    schedule = fields.List(fields.Nested(PeriodOut), attribute="schedule.periods")


class PlanCreate(Schema):
    customer = fields.String(required=True)
    card = fields.String(required=True, metadata={"description": "The customer's saved card (card_...)."})
    product = fields.String(required=True)
    term_months = fields.Integer(strict=True, required=True, validate=validate.OneOf(TERMS))
    amount = Amount(required=True, metadata={"description": "The device's price in fen."})
    device = fields.String(load_default=None)


class InstallmentOut(Schema):
    number = fields.Integer()
    due_date = fields.Date()
    principal = fields.Integer()
    interest = fields.Integer()
    late_fee = fields.Integer()
    waived_interest = fields.Integer()
    paid = fields.Function(lambda item: item.paid_principal + item.paid_interest + item.paid_late_fee)
    status = fields.String()


class DeviceTokenOut(Schema):
    token = fields.String(metadata={"description": "OpenPAYGO token: sent to the device, or typed in on its keypad."})
    kind = fields.String(metadata={"description": "add_time | disable_payg | counter_sync"})
    days = fields.Integer()
    paid_until = fields.Date(allow_none=True)


class PlanOut(Schema):
    id = fields.String(attribute="plan.id")
    object = fields.Constant("installment_plan")
    customer = fields.String(attribute="plan.customer_id")
    card = fields.String(attribute="plan.saved_card_id")
    product = fields.String(attribute="plan.product_id")
    device = fields.String(attribute="plan.device_id", allow_none=True)
    state = fields.String(attribute="plan.state")
    delinquency = fields.String(attribute="plan.delinquency")
    amount = fields.Integer(attribute="plan.amount")
    currency = fields.String(attribute="plan.currency")
    down_payment = fields.Integer(attribute="plan.down_payment")
    down_payment_payment = fields.String(attribute="plan.down_payment_payment_id", allow_none=True)
    financed = fields.Integer(attribute="plan.financed")
    term_months = fields.Integer(attribute="plan.term_months")
    method = fields.String(attribute="plan.method")
    apr = fields.Function(lambda view: str(view.plan.apr))
    late_fees_charged = fields.Integer(attribute="plan.late_fees_charged")
    paid = fields.Integer()
    due = fields.Integer(metadata={"description": "Owed on or before today."})
    overdue = fields.Integer(metadata={"description": "Owed before today."})
    outstanding = fields.Integer()
    schedule = fields.List(fields.Nested(InstallmentOut), attribute="installments")
    device_tokens = fields.List(fields.Nested(DeviceTokenOut))
    created = UnixTime(attribute="plan.created_at")


class PlanPayment(Schema):
    kind = fields.String(required=True, validate=validate.OneOf(["next", "amount", "payoff"]))
    amount = fields.Integer(strict=True, load_default=None)


class PayoffQuoteOut(Schema):
    plan = fields.String()
    principal = fields.Integer()
    interest = fields.Integer(metadata={"description": "Only interest of periods already begun: the rest is waived."})
    late_fees = fields.Integer()
    total = fields.Integer()
    as_of = fields.Date()
