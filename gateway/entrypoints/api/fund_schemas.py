"""Schemas of the money-market fund endpoints (docs/fund.md). Units are integer hundredths of a
unit (1 unit = CNY 1.00, so a hundredth is a fen); money is integer fen; figures are strings."""
from __future__ import annotations

from marshmallow import Schema, fields, validate

from gateway.domain import fund as rules
from gateway.entrypoints.api.schemas import Amount, UnixTime


class FundCreate(Schema):
    code = fields.String(required=True, validate=validate.Regexp(r"^\d{6}$"), metadata={"description": 'The fund\'s 6-digit code, e.g. "000009".'})
    name = fields.String(required=True, validate=validate.Length(min=1, max=100))
    manager = fields.String(required=True, validate=validate.Length(min=1, max=100))
    carryover = fields.String(load_default="daily", validate=validate.OneOf([c.value for c in rules.Carryover]),
                              metadata={"description": "daily: income reinvested as units every day; monthly: accrued, converted on the month's first trading day."})
    cutoff = fields.String(load_default="15:00", validate=validate.Regexp(r"^\d{2}:\d{2}$"), metadata={"description": "Beijing time."})
    fast_redemption_daily_cap = fields.Integer(strict=True, load_default=rules.DEFAULT_FAST_REDEMPTION_DAILY_CAP, validate=validate.Range(min=0),
                                               metadata={"description": "Fen per customer per Beijing day (CNY 10,000.00 by default)."})
    manager_public_key = fields.String(required=True, validate=validate.Length(min=50, max=1000), metadata={"description": "Ed25519 public key, PEM: signs the daily income feed."})


class FundOut(Schema):
    id = fields.String()
    object = fields.Constant("fund")
    code = fields.String()
    name = fields.String()
    manager = fields.String()
    carryover = fields.String()
    cutoff = fields.String()
    fast_redemption_daily_cap = fields.Integer()
    units_outstanding = fields.Integer(metadata={"description": "Hundredths of a unit held by all customers."})
    latest_income_date = fields.Date(allow_none=True)
    created = UnixTime(attribute="created_at")


class FundList(Schema):
    data = fields.List(fields.Nested(FundOut))


class IncomeCreate(Schema):
    date = fields.Date(required=True)
    income_per_10k = fields.String(required=True, metadata={"description": 'Income per 10,000 units, 4 decimals, e.g. "1.2345".'})
    signature = fields.String(required=True, metadata={"description": 'Base64 Ed25519 signature by the manager over {"date":"YYYY-MM-DD","income_per_10k":"1.2345"} (keys sorted, no spaces).'})


class IncomeRecorded(Schema):
    recorded = fields.List(fields.Date())
    unchanged = fields.List(fields.Date(), metadata={"description": "Lines the fund already had (a repeat is a no-op)."})


class YieldQuery(Schema):
    from_ = fields.Date(load_default=None, data_key="from")
    to = fields.Date(load_default=None)


class YieldOut(Schema):
    date = fields.Date(attribute="day")
    income_per_10k = fields.Function(lambda view: str(view.income_per_10k))
    seven_day_annualized = fields.Function(lambda view: None if view.seven_day_annualized is None else str(view.seven_day_annualized),
                                           metadata={"description": "Percent, 3 decimals; null until 7 days of figures exist."})


class YieldList(Schema):
    fund = fields.String()
    data = fields.List(fields.Nested(YieldOut))


class SubscriptionCreate(Schema):
    fund = fields.String(required=True)
    amount = Amount(required=True, metadata={"description": "Fen taken from the card."})
    payment_method = fields.String(required=True, metadata={"description": "The customer's saved card (card_...)."})


class SubscriptionOut(Schema):
    id = fields.String()
    object = fields.Constant("fund_subscription")
    fund = fields.String()
    customer = fields.String()
    amount = fields.Integer()
    status = fields.String(metadata={"description": "processing | paid (money in transit) | confirmed | failed"})
    payment = fields.String()
    trade_date = fields.Date(metadata={"description": "The order's trading day T (after the cut-off or on a closed day: the next one)."})
    confirmation_date = fields.Date(metadata={"description": "The trading day after T: units are confirmed and earn from it."})
    earns_from = fields.Date(allow_none=True)
    failure_code = fields.String(allow_none=True)
    created = UnixTime(attribute="created_at")


class RedemptionCreate(Schema):
    fund = fields.String(required=True)
    amount = Amount(required=True, metadata={"description": "Fen of confirmed units to redeem."})
    speed = fields.String(required=True, validate=validate.OneOf([s.value for s in rules.Speed]),
                          metadata={"description": "fast: paid at once, capped per day; normal: paid the trading day after T."})
    card = fields.String(required=True, metadata={"description": "The customer's saved card that receives the money."})


class RedemptionOut(Schema):
    id = fields.String()
    object = fields.Constant("fund_redemption")
    fund = fields.String()
    customer = fields.String()
    amount = fields.Integer()
    speed = fields.String()
    status = fields.String(metadata={"description": "pending (normal, until its pay date) | paying | paid | failed (units given back)"})
    card = fields.String(allow_none=True)
    installment_plan = fields.String(allow_none=True)
    trade_date = fields.Date()
    pay_date = fields.Date()
    failure_code = fields.String(allow_none=True)
    created = UnixTime(attribute="created_at")
    paid = UnixTime(attribute="paid_at", allow_none=True)


class HoldingOut(Schema):
    fund = fields.String()
    fund_code = fields.String()
    fund_name = fields.String()
    units = fields.Integer(metadata={"description": "Confirmed units in hundredths."})
    balance = fields.Integer(metadata={"description": "Fen: units plus income accrued but not yet converted."})
    pending_subscriptions = fields.Integer()
    pending_redemptions = fields.Integer()
    yesterday_income = fields.Integer()
    cumulative_income = fields.Integer()
    fast_redemption_available_today = fields.Integer()


class HoldingList(Schema):
    customer = fields.String()
    data = fields.List(fields.Nested(HoldingOut))


class StatementQuery(Schema):
    month = fields.String(required=True, validate=validate.Regexp(r"^\d{4}-\d{2}$"), metadata={"description": "YYYY-MM"})


class StatementLineOut(Schema):
    date = fields.Date(attribute="day")
    kind = fields.String(metadata={"description": "subscription | redemption | restored | income"})
    amount = fields.Integer()
    reference = fields.String(allow_none=True)


class StatementOut(Schema):
    fund = fields.String()
    fund_code = fields.String()
    fund_name = fields.String()
    month = fields.String()
    opening = fields.Integer()
    subscriptions = fields.Integer()
    redemptions = fields.Integer()
    income = fields.Integer()
    closing = fields.Integer()
    lines = fields.List(fields.Nested(StatementLineOut))


class StatementList(Schema):
    customer = fields.String()
    data = fields.List(fields.Nested(StatementOut))
