"""Money-market fund endpoints (docs/fund.md): funds and their signed income feed, yields,
customers' subscriptions, redemptions, holdings and statements."""
from __future__ import annotations

from gateway.domain import fund as rules
from gateway.entrypoints.api.base import ApiBlueprint, gateway, principal, require_key
from gateway.entrypoints.api.fund_schemas import (
    FundCreate, FundList, FundOut, HoldingList, IncomeCreate, IncomeRecorded, RedemptionCreate, RedemptionOut, StatementList,
    StatementQuery, SubscriptionCreate, SubscriptionOut, YieldList, YieldQuery,
)
from gateway.entrypoints.api.idempotency import idempotent
from gateway.services import fund_holdings, fund_orders, funds

blp = ApiBlueprint("funds", __name__, url_prefix="/v1", description="Money-market fund (Huoqibao): income feed, yields, subscriptions, redemptions.")


@blp.before_request
def _authenticate() -> None:
    require_key()


@blp.route("/funds", methods=["POST"])
@blp.arguments(FundCreate)
@blp.response(200, FundOut)
def create_fund(body):
    """Offer a money-market fund (stable NAV: 1 unit = CNY 1.00)."""
    return funds.create_fund(gateway(), principal().merchant_id, funds.NewFund(**{**body, "carryover": rules.Carryover(body["carryover"])}))


@blp.route("/funds", methods=["GET"])
@blp.response(200, FundList)
def list_funds():
    return {"data": funds.list_funds(gateway(), principal().merchant_id)}


@blp.route("/funds/<fund_id>", methods=["GET"])
@blp.response(200, FundOut)
def get_fund(fund_id):
    return funds.get_fund(gateway(), principal().merchant_id, fund_id)


@blp.route("/funds/<fund_id>/income", methods=["POST"])
@blp.arguments(IncomeCreate)
@blp.response(200, IncomeRecorded)
def record_income(body, fund_id):
    """The manager's signed income per 10,000 units for one natural day (after it ended). A bad
    signature, a gap, a changed figure or one out of range is refused; the same line again is a
    no-op. Holders are credited by the accrual (`paygate worker --queue fund`)."""
    line = funds.FeedLine(body["date"], body["income_per_10k"], body["signature"])
    return funds.record_income(gateway(), principal().merchant_id, fund_id, [line])


@blp.route("/funds/<fund_id>/yields", methods=["GET"])
@blp.arguments(YieldQuery, location="query")
@blp.response(200, YieldList)
def list_yields(query, fund_id):
    """Each natural day's income per 10,000 units and the 7-day annualized yield ending that day."""
    return {"fund": fund_id, "data": funds.yields(gateway(), principal().merchant_id, fund_id, query["from_"], query["to"])}


@blp.route("/customers/<customer_id>/fund_subscriptions", methods=["POST"])
@idempotent
@blp.arguments(SubscriptionCreate)
@blp.response(200, SubscriptionOut)
def subscribe(body, customer_id):
    """Move money from a saved card into the fund (needs the identity and fund consents)."""
    return fund_orders.subscribe(gateway(), principal().merchant_id, customer_id, body["fund"], body["amount"], body["payment_method"])


@blp.route("/fund_subscriptions/<subscription_id>", methods=["GET"])
@blp.response(200, SubscriptionOut)
def get_subscription(subscription_id):
    return fund_orders.get_subscription(gateway(), principal().merchant_id, subscription_id)


@blp.route("/customers/<customer_id>/fund_redemptions", methods=["POST"])
@idempotent
@blp.arguments(RedemptionCreate)
@blp.response(200, RedemptionOut)
def redeem(body, customer_id):
    """Take money out to a saved card: fast (at once, capped per fund per Beijing day) or normal
    (paid on the trading day after the order's). Never needs a consent."""
    return fund_orders.redeem(gateway(), principal().merchant_id, customer_id, body["fund"], body["amount"], rules.Speed(body["speed"]), body["card"])


@blp.route("/fund_redemptions/<redemption_id>", methods=["GET"])
@blp.response(200, RedemptionOut)
def get_redemption(redemption_id):
    return fund_orders.get_redemption(gateway(), principal().merchant_id, redemption_id)


@blp.route("/customers/<customer_id>/fund_holdings", methods=["GET"])
@blp.response(200, HoldingList)
def holdings(customer_id):
    """Per fund: units, balance, pending orders, yesterday's and cumulative income, and what can
    still be redeemed fast today."""
    return {"customer": customer_id, "data": fund_holdings.holdings(gateway(), principal().merchant_id, customer_id)}


@blp.route("/customers/<customer_id>/fund_statements", methods=["GET"])
@blp.arguments(StatementQuery, location="query")
@blp.response(200, StatementList)
def statements(query, customer_id):
    """The month's statement per fund: opening, subscriptions, redemptions, income per day, closing."""
    return {"customer": customer_id, "data": fund_holdings.statements(gateway(), principal().merchant_id, customer_id, query["month"])}

