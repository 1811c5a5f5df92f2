"""Credit profiles (score, band, limit, reasons, the data used), contests, model versions and
bureau reports. The score is internal: a merchant sees only its own customers' profiles. The
test-mode usage history is with the other sandbox endpoints (sandbox.py)."""
from __future__ import annotations

from gateway.entrypoints.api.base import ApiBlueprint, gateway, principal, require_key
from gateway.entrypoints.api.credit_schemas import (
    BureauReportCreate,
    BureauReportOut,
    ContestCreate,
    ContestOut,
    CreditProfileOut,
    ModelList,
)
from gateway.services import credit, credit_bureau, credit_models

blp = ApiBlueprint("credit", __name__, url_prefix="/v1", description="Credit profiles, contests, model versions and bureau reports.")


@blp.before_request
def _authenticate() -> None:
    require_key()


@blp.route("/customers/<customer_id>/credit_profile", methods=["GET"])
@blp.response(200, CreditProfileOut)
def get_profile(customer_id):
    """The customer's latest score, band and installment limit, why, and the data it used."""
    return credit.get_profile(gateway(), principal().merchant_id, customer_id)


@blp.route("/customers/<customer_id>/credit_profile/refresh", methods=["POST"])
@blp.response(200, CreditProfileOut)
def refresh_profile(customer_id):
    """Compute the customer's features from the data stored now and score them with the live model."""
    return credit.refresh_profile(gateway(), principal().merchant_id, customer_id)


@blp.route("/customers/<customer_id>/credit_profile/contests", methods=["POST"])
@blp.arguments(ContestCreate)
@blp.response(200, ContestOut)
def open_contest(body, customer_id):
    """The customer contests the automated decision (PIPL art. 24): an operator reviews it."""
    return credit.open_contest(gateway(), principal().merchant_id, customer_id, body["reason"])


@blp.route("/credit_models", methods=["GET"])
@blp.response(200, ModelList)
def list_models():
    """Every model version with its validation figures; `live` marks the ones in use."""
    return {"data": credit_models.list_models(gateway())}


@blp.route("/customers/<customer_id>/bureau_reports", methods=["POST"])
@blp.arguments(BureauReportCreate)
@blp.response(200, BureauReportOut)
def query_bureau(body, customer_id):
    """Ask the licensed bureau for the customer's report (needs the credit_bureau consent; logged)."""
    return credit_bureau.query_bureau(gateway(), principal().merchant_id, customer_id, body["purpose"])

