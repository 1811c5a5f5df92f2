"""/v1/installment_products, /v1/installment_quotes and /v1/installment_plans: products, quotes,
plans, early payments, payoff quotes and cancellation."""
from __future__ import annotations

from gateway.entrypoints.api.base import ApiBlueprint, gateway, principal, require_key
from gateway.entrypoints.api.idempotency import idempotent
from gateway.entrypoints.api.installment_schemas import PayoffQuoteOut, PlanCreate, PlanOut, PlanPayment, ProductCreate, ProductOut, QuoteCreate, QuoteOut
from gateway.entrypoints.api.schemas import PaymentOut
from gateway.domain.installments import Method
from gateway.services import installment_plans as plans

blp = ApiBlueprint("installments", __name__, url_prefix="/v1", description="Installment products, quotes and plans.")


@blp.before_request
def _authenticate() -> None:
    require_key()


@blp.route("/installment_products", methods=["POST"])
@blp.arguments(ProductCreate)
@blp.response(200, ProductOut)
def create_product(body):
    """Offer installments: terms, pricing method, rate or fee, down payment, grace and late fees."""
    return plans.create_product(gateway(), principal().merchant_id, plans.ProductTerms(**{**body, "method": Method(body["method"])}))


@blp.route("/installment_products/<product_id>", methods=["GET"])
@blp.response(200, ProductOut)
def get_product(product_id):
    return plans.get_product(gateway(), principal().merchant_id, product_id)


@blp.route("/installment_quotes", methods=["POST"])
@blp.arguments(QuoteCreate)
@blp.response(200, QuoteOut)
def create_quote(body):
    """The exact schedule and total cost before the shopper agrees."""
    return plans.quote(
        gateway(), principal().merchant_id, body["amount"], product_id=body["product"], term_months=body["term_months"],
        method=Method(body["method"]) if body["method"] else None, apr=body["apr"], fee_rate=body["fee_rate"],
    )


@blp.route("/installment_plans", methods=["POST"])
@idempotent
@blp.arguments(PlanCreate)
@blp.response(200, PlanOut)
def create_plan(body):
    """Sell on installments: checks the customer's credit, takes the down payment from the saved
    card, pays the merchant in full and books the customer's receivable."""
    return plans.create_plan(
        gateway(), principal().merchant_id, customer_id=body["customer"], card_id=body["card"], product_id=body["product"],
        term_months=body["term_months"], amount=body["amount"], device_id=body["device"],
    )


@blp.route("/installment_plans/<plan_id>", methods=["GET"])
@blp.response(200, PlanOut)
def get_plan(plan_id):
    return plans.get_plan(gateway(), principal().merchant_id, plan_id)


@blp.route("/installment_plans/<plan_id>/payments", methods=["POST"])
@idempotent
@blp.arguments(PlanPayment)
@blp.response(200, PaymentOut)
def pay_now(body, plan_id):
    """Pay early from the plan's card: the next installment, any amount, or the payoff amount."""
    return plans.pay_now(gateway(), principal().merchant_id, plan_id, body["kind"], body["amount"])


@blp.route("/installment_plans/<plan_id>/payoff_quote", methods=["GET"])
@blp.response(200, PayoffQuoteOut)
def payoff_quote(plan_id):
    """What paying the plan off today costs (future interest waived on declining-balance plans)."""
    return plans.payoff_quote(gateway(), principal().merchant_id, plan_id)


@blp.route("/installment_plans/<plan_id>/cancel", methods=["POST"])
@idempotent
@blp.response(200, PlanOut)
def cancel_plan(plan_id):
    """Void a plan within its cooling-off period: the down payment is refunded, the device released."""
    return plans.cancel_plan(gateway(), principal().merchant_id, plan_id)
