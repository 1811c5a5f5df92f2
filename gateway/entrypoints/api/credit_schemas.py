"""Schemas of the credit endpoints (docs/credit.md)."""
from __future__ import annotations

from marshmallow import Schema, fields, validate

from gateway.entrypoints.api.schemas import UnixTime
from gateway.services.credit import SANDBOX_PROFILES
from gateway.services.credit_bureau import PURPOSES


class ReasonOut(Schema):
    code = fields.String(metadata={"description": "The feature behind the reason."})
    text = fields.String()
    value = fields.String(allow_none=True, metadata={"description": "The customer's value of that feature."})


class FeatureOut(Schema):
    name = fields.String()
    value = fields.String(allow_none=True, metadata={"description": "As a decimal or integer in text; null when there is no data."})
    points = fields.Integer(allow_none=True)
    description = fields.String()


class CreditProfileOut(Schema):
    object = fields.Constant("credit_profile")
    customer = fields.String(attribute="customer_id")
    score = fields.Integer(allow_none=True, metadata={"description": "300-850; null if never scored (the default limit applies)."})
    band = fields.String(allow_none=True)
    installment_limit = fields.Integer(metadata={"description": "Installment credit in fen the customer may have outstanding."})
    model_version = fields.String(allow_none=True)
    model = fields.String(allow_none=True, metadata={"description": "device+repayment or repayment_only."})
    computed_at = UnixTime(allow_none=True)
    reasons = fields.List(fields.Nested(ReasonOut), metadata={"description": "What lowered the score most, at most four."})
    features = fields.List(fields.Nested(FeatureOut), metadata={"description": "The data the score used."})


class ContestCreate(Schema):
    reason = fields.String(required=True, validate=validate.Length(min=1, max=2000))


class ContestOut(Schema):
    id = fields.String()
    object = fields.Constant("credit_contest")
    customer = fields.String(attribute="customer_id")
    state = fields.String(metadata={"description": "open, upheld or corrected."})
    reason = fields.String()
    model_version = fields.String(allow_none=True)
    score = fields.Integer(allow_none=True)
    note = fields.String(allow_none=True)
    created = UnixTime(attribute="created_at")
    resolved = UnixTime(attribute="resolved_at", allow_none=True)


class ModelOut(Schema):
    version = fields.String()
    object = fields.Constant("credit_model")
    model = fields.String()
    state = fields.String(metadata={"description": "candidate, live or retired."})
    live = fields.Function(lambda view: view.state == "live")
    trained = UnixTime(attribute="trained_at")
    promoted = UnixTime(attribute="promoted_at", allow_none=True)
    retired = UnixTime(attribute="retired_at", allow_none=True)
    metrics = fields.Dict(metadata={"description": "AUC, KS, Gini on the time-based holdout, calibration by band, PSI per feature."})


class ModelList(Schema):
    object = fields.Constant("list")
    data = fields.List(fields.Nested(ModelOut))


class BureauReportCreate(Schema):
    purpose = fields.String(required=True, validate=validate.OneOf(PURPOSES))


class BureauReportOut(Schema):
    id = fields.String()
    object = fields.Constant("bureau_report")
    customer = fields.String(attribute="customer_id")
    bureau = fields.String()
    purpose = fields.String()
    found = fields.Boolean()
    open_loans = fields.Integer()
    overdue_accounts = fields.Integer()
    inquiries_90d = fields.Integer()
    queried = UnixTime(attribute="queried_at")


class SandboxUsageCreate(Schema):
    days = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=730))
    profile = fields.String(required=True, validate=validate.OneOf(SANDBOX_PROFILES))


class SandboxUsageOut(Schema):
    object = fields.Constant("sandbox_usage_history")
    device = fields.String()
    days = fields.Integer()
