"""Fund orders and their rules over the API (SQLite and PostgreSQL): the fast cap, the signed
feed refusing forgeries, consent and erasure, installments paid from the fund, monthly carryover."""
from __future__ import annotations

from datetime import date, timedelta

from click.testing import CliRunner
from sqlalchemy import select, update

from gateway.adapters.connectors.base import ConnectorResult, Outcome
from gateway.adapters.connectors.sandbox_core import SandboxAcquirer
from gateway.adapters.db.fund_models import FundIncomeFigure
from gateway.adapters.db.models import Payment
from gateway.entrypoints.cli import main as cli
from gateway.services import installment_plans
from gateway.services.ledger import verify
from tests.integration.fund_support import (
    Manager, beijing, create_fund, feed, fund_customer, holding, income, redeem, run_fund_queue, subscribe,
)


def _holder(shop, time_machine, fund, amount, monday=date(2026, 12, 14), **card):
    """A customer holding `amount` of confirmed units: ordered on a Monday morning, confirmed Tuesday."""
    customer, card = fund_customer(shop, **card)
    time_machine.travel_to(beijing(monday))
    assert subscribe(shop, customer, card, fund, amount).status_code == 200
    time_machine.travel_to(beijing(monday + timedelta(days=1), 9))
    run_fund_queue(shop.gw)
    assert holding(shop, customer, fund)["units"] == amount
    return customer, card


def test_fast_redemption_cap_per_customer_fund_and_beijing_day(shop, time_machine):
    fund = create_fund(shop, Manager())
    customer, card = _holder(shop, time_machine, fund, 3_000_000)

    time_machine.travel_to(beijing(date(2026, 12, 15), 22, 0))
    assert redeem(shop, customer, card, fund, 400_000).json["status"] == "paid"
    assert redeem(shop, customer, card, fund, 600_000).json["status"] == "paid"  # exactly CNY 10,000.00 in two requests
    over = redeem(shop, customer, card, fund, 1)
    assert (over.status_code, over.json["error"]["code"]) == (422, "fast_redemption_cap_exceeded")
    assert "CNY 0.00 is still available" in over.json["error"]["message"]
    assert redeem(shop, customer, card, fund, 500_000, speed="normal").status_code == 200  # normal has no cap

    time_machine.travel_to(beijing(date(2026, 12, 16), 0, 45))  # past midnight in Beijing: a new day
    refused = redeem(shop, customer, card, fund, 1_000_001)
    assert refused.json["error"]["code"] == "fast_redemption_cap_exceeded"
    assert "CNY 10,000.00 is still available" in refused.json["error"]["message"]
    assert holding(shop, customer, fund)["fast_redemption_available_today"] == 1_000_000
    assert redeem(shop, customer, card, fund, 1_000_000).json["status"] == "paid"
    assert holding(shop, customer, fund)["units"] == 3_000_000 - 2_500_000
    assert verify(shop.gw).ok


def test_a_refused_payout_gives_the_units_and_the_cap_back(shop, time_machine, monkeypatch):
    fund = create_fund(shop, Manager())
    customer, card = _holder(shop, time_machine, fund, 500_000)
    # The card expired since it was bound: the bank refuses to credit it.
    monkeypatch.setattr(SandboxAcquirer, "payout", lambda self, request: ConnectorResult(Outcome.DECLINED, None, "expired_card"))
    failed = redeem(shop, customer, card, fund, 200_000)
    assert (failed.json["status"], failed.json["failure_code"]) == ("failed", "expired_card")
    seen = holding(shop, customer, fund)
    assert (seen["units"], seen["fast_redemption_available_today"]) == (500_000, 500_000)
    assert verify(shop.gw).ok


def test_forged_gapped_changed_and_early_feed_lines_change_nothing(shop, time_machine, tmp_path, monkeypatch):
    manager, forger = Manager(), Manager()
    fund = create_fund(shop, manager)
    time_machine.travel_to(beijing(date(2026, 11, 20)))
    path = f"/v1/funds/{fund['id']}/income"
    assert shop.post(path, manager.line(date(2026, 11, 1), "1.2345")).status_code == 200
    assert shop.post(path, manager.line(date(2026, 11, 1), "1.2345")).json == {"recorded": [], "unchanged": ["2026-11-01"]}

    refusals = {
        "signature_invalid": forger.line(date(2026, 11, 2), "1.2345"),
        "feed_gap": manager.line(date(2026, 11, 3), "1.2345"),
        "figure_changed": manager.line(date(2026, 11, 1), "1.2346"),
        "income_figure_out_of_range": manager.line(date(2026, 11, 2), "-1.5000"),
        "income_figure_invalid": manager.line(date(2026, 11, 2), "1.23"),
        "feed_date_not_over": manager.line(date(2026, 11, 20), "1.2345"),
    }
    tampered = manager.line(date(2026, 11, 2), "1.2345") | {"income_per_10k": "9.2345"}  # a signed line, altered
    for code, line in [*refusals.items(), ("signature_invalid", tampered)]:
        response = shop.post(path, line)
        assert (response.status_code, response.json["error"]["code"]) == (422, code), line
    assert shop.post(path, manager.line(date(2026, 11, 2), "-0.2500")).status_code == 200  # a loss the manager may declare

    # The CLI (on the real clock: these days are over) takes the whole file or nothing.
    monkeypatch.setenv("PAYGATE_DATABASE_URL", shop.gw.settings.database_url)
    monkeypatch.setenv("PAYGATE_VAR_DIR", str(shop.gw.settings.var_dir))
    lines = [manager.line(date(2026, 11, 3) + timedelta(days=n), f"1.{n:04d}") for n in range(3)]
    good = "date,income_per_10k,signature\n" + "".join(f"{l['date']},{l['income_per_10k']},{l['signature']}\n" for l in lines)
    bad = good.replace(lines[2]["signature"], forger.line(date(2026, 11, 5), "1.0002")["signature"])
    (tmp_path / "bad.csv").write_text(bad)
    (tmp_path / "good.csv").write_text(good)
    result = CliRunner().invoke(cli, ["fund", "import", fund["id"], str(tmp_path / "bad.csv")])
    assert result.exit_code == 1 and "signature_invalid" in result.output
    with shop.gw.db.unit_of_work() as session:
        assert len(session.execute(select(FundIncomeFigure).where(FundIncomeFigure.fund_id == fund["id"])).all()) == 2
    result = CliRunner().invoke(cli, ["fund", "import", fund["id"], str(tmp_path / "good.csv")])
    assert result.exit_code == 0 and "3 day(s) recorded" in result.output, result.output
    result = CliRunner().invoke(cli, ["fund", "import", fund["id"], str(tmp_path / "good.csv")])
    assert "0 day(s) recorded, 3 already known" in result.output


def test_fund_consent_gates_subscriptions_never_redemptions_and_erasure_waits_for_redemption(shop, time_machine):
    fund = create_fund(shop, Manager(), name="Huoqibao Plus")
    customer, card = _holder(shop, time_machine, fund, 100_000)
    assert shop.post(f"/v1/customers/{customer['id']}/consents/fund/withdraw", {}).status_code == 200
    refused = subscribe(shop, customer, card, fund, 10_000)
    assert (refused.status_code, refused.json["error"]["code"]) == (403, "consent_required")

    erase = shop.call("DELETE", f"/v1/customers/{customer['id']}")
    assert (erase.status_code, erase.json["error"]["code"]) == (409, "customer_has_fund_units")
    assert fund["code"] in erase.json["error"]["message"]
    assert redeem(shop, customer, card, fund, 100_000).json["status"] == "paid"
    assert shop.call("DELETE", f"/v1/customers/{customer['id']}").status_code == 200


def test_subscriptions_without_consent_or_with_a_stranger_card_are_refused(shop):
    fund = create_fund(shop, Manager())
    customer = shop.customer()
    card = shop.saved_card(customer["id"])
    assert subscribe(shop, customer, card, fund, 10_000).json["error"]["code"] == "consent_required"
    other, other_card = fund_customer(shop)
    assert subscribe(shop, other, card, fund, 10_000).json["error"]["code"] == "card_not_active"


def _installment_plan(shop, customer, card, fund):
    product = shop.post("/v1/installment_products", {"name": "Phone", "terms": [3], "method": "equal_installment", "apr": "12",
                                                     "down_payment_share": "0.1", "grace_days": 5}).json
    response = shop.post("/v1/installment_plans", {"customer": customer["id"], "card": card["id"], "product": product["id"], "term_months": 3,
                                                   "amount": 300_000, "source": "fund", "fund": fund["id"]})
    assert response.status_code == 200, response.json
    assert (response.json["source"], response.json["fund"]) == ("fund", fund["id"])
    return response.json


def _collect_first(shop, time_machine, plan):
    time_machine.travel_to(beijing(date.fromisoformat(plan["schedule"][0]["due_date"])))
    installment_plans.collect_due(shop.gw)
    plan = shop.get(f"/v1/installment_plans/{plan['id']}").json
    with shop.gw.db.unit_of_work() as session:
        payments = session.execute(select(Payment).where(Payment.installment_plan_id == plan["id"], Payment.purpose == "installment")).scalars().all()
    return plan, {payment.connector.split(":")[0]: payment.amount for payment in payments}


def test_an_installment_is_paid_from_the_fund(shop, time_machine):
    fund = create_fund(shop, Manager())
    customer, card = _holder(shop, time_machine, fund, 1_500_000)
    plan = _installment_plan(shop, customer, card, fund)
    owed = plan["schedule"][0]["principal"] + plan["schedule"][0]["interest"]

    plan, paid_by = _collect_first(shop, time_machine, plan)
    assert plan["schedule"][0]["status"] == "paid"
    assert paid_by == {"fund": owed}
    seen = holding(shop, customer, fund)
    assert seen["units"] == 1_500_000 - owed
    assert seen["fast_redemption_available_today"] == 1_000_000 - owed  # it counts against the day's fast cap
    assert verify(shop.gw).ok


def test_the_card_pays_what_the_fund_cannot(shop, time_machine):
    fund = create_fund(shop, Manager())
    customer, card = _holder(shop, time_machine, fund, 30_000)
    plan = _installment_plan(shop, customer, card, fund)
    owed = plan["schedule"][0]["principal"] + plan["schedule"][0]["interest"]

    plan, paid_by = _collect_first(shop, time_machine, plan)
    assert plan["schedule"][0]["status"] == "paid"
    assert paid_by == {"fund": 30_000, "sandbox_big_four": owed - 30_000}
    assert holding(shop, customer, fund)["units"] == 0
    assert verify(shop.gw).ok


def test_monthly_carryover_accrues_then_converts_on_the_first_trading_day(shop, time_machine):
    manager = Manager()
    fund = create_fund(shop, manager, carryover="monthly")
    customer, card = _holder(shop, time_machine, fund, 1_000_000, monday=date(2026, 10, 26))  # earns from Tuesday 27 October
    time_machine.travel_to(beijing(date(2026, 11, 4)))
    figures = ["2.0000", "2.0000", "2.0000", "2.0000", "2.0000", "2.0000", "2.0000", "2.0000", "2.0000"]  # 26 Oct .. 3 Nov
    feed(shop, manager, fund, date(2026, 10, 26), figures)
    run_fund_queue(shop.gw)
    # October 27..31 and 1 November earn on 1,000,000 (5 + 1 days x 200); on Monday 2 November, the
    # month's first trading day, the accrued 1,200 become units and earn from that day.
    seen = holding(shop, customer, fund)
    assert seen["units"] == 1_000_000 + 6 * income(1_000_000, "2.0000")
    assert seen["balance"] == seen["units"] + 2 * income(seen["units"], "2.0000")
    assert verify(shop.gw).ok
    yields = shop.get(f"/v1/funds/{fund['id']}/yields?from=2026-11-01&to=2026-11-01").json["data"]
    assert yields[0]["seven_day_annualized"] == "7.300"


def test_a_bank_that_answers_later_settles_the_subscription_by_callback_and_the_payout_by_asking(shop, time_machine):
    fund = create_fund(shop, Manager())
    customer, card = fund_customer(shop, bank="CMB")  # joint-stock banks answer by callback
    time_machine.travel_to(beijing(date(2026, 12, 14)))
    ordered = subscribe(shop, customer, card, fund, 200_000)
    assert ordered.json["status"] == "processing"
    connector = shop.gw.connector("sandbox_joint_stock")
    body, signature = connector.signed_callback(ordered.json["payment"])
    assert shop.client.post("/v1/bank_callbacks/sandbox_joint_stock", data=body, headers={"Bank-Signature": signature}).status_code == 200
    assert shop.get(f"/v1/fund_subscriptions/{ordered.json['id']}").json["status"] == "paid"
    time_machine.travel_to(beijing(date(2026, 12, 15), 9))
    run_fund_queue(shop.gw)

    paying = redeem(shop, customer, card, fund, 50_000)
    assert paying.json["status"] == "paying"
    assert holding(shop, customer, fund)["pending_redemptions"] == 50_000
    time_machine.travel(timedelta(minutes=6))
    run_fund_queue(shop.gw)
    assert shop.get(f"/v1/fund_redemptions/{paying.json['id']}").json["status"] == "paid"
    assert verify(shop.gw).ok


def test_orders_are_idempotent_and_fund_events_reach_webhooks(shop, time_machine):
    from gateway.adapters.db.webhook_models import WebhookDelivery

    endpoint = shop.post("/v1/webhook_endpoints", {"url": "http://127.0.0.1:9/hooks", "enabled_events": ["fund.subscription.confirmed", "fund.redemption.paid"]})
    assert endpoint.status_code == 200, endpoint.json
    fund = create_fund(shop, Manager())
    customer, card = fund_customer(shop)
    time_machine.travel_to(beijing(date(2026, 12, 14)))
    body = {"fund": fund["id"], "amount": 120_000, "payment_method": card["id"]}
    first = shop.post(f"/v1/customers/{customer['id']}/fund_subscriptions", body, idempotency_key="sub-1")
    again = shop.post(f"/v1/customers/{customer['id']}/fund_subscriptions", body, idempotency_key="sub-1")
    assert first.json == again.json and again.headers["Idempotent-Replayed"] == "true"
    time_machine.travel_to(beijing(date(2026, 12, 15), 9))
    run_fund_queue(shop.gw)
    assert holding(shop, customer, fund)["units"] == 120_000  # one subscription, not two

    redemption = {"fund": fund["id"], "amount": 20_000, "speed": "fast", "card": card["id"]}
    paid = shop.post(f"/v1/customers/{customer['id']}/fund_redemptions", redemption, idempotency_key="red-1")
    assert shop.post(f"/v1/customers/{customer['id']}/fund_redemptions", redemption, idempotency_key="red-1").json == paid.json
    assert holding(shop, customer, fund)["units"] == 100_000
    with shop.gw.db.unit_of_work() as session:
        queued = session.execute(select(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint.json["id"])).scalars().all()
    assert len(queued) == 2  # the confirmation and the payout


def test_ledger_verify_catches_holdings_that_do_not_add_up(own_database_url, var_dir):
    from sqlalchemy import insert as sql_insert

    from gateway.adapters.db.fund_models import Fund, FundHolding
    from gateway.services import funds
    from gateway.services.merchants import create_merchant
    from tests.integration.conftest import make_gateway

    gw = make_gateway(own_database_url, var_dir)
    try:
        merchant = create_merchant(gw, "Books Check")
        fund = funds.create_fund(gw, merchant.id, funds.NewFund(code="000009", name="Huoqibao", manager="E Fund", manager_public_key=Manager().public_pem))
        assert verify(gw).ok
        with gw.db.unit_of_work() as session:  # units appear on a holding without passing through the books
            session.execute(sql_insert(FundHolding).values(fund_id=fund.id, customer_id="cus_x", units=500, accrued_income=0, cumulative_income=0, created_at=gw.clock()))
        assert any("holdings sum to 500 units but the fund has 0 outstanding" in problem for problem in verify(gw).problems)
        with gw.db.unit_of_work() as session:
            session.execute(update(Fund).where(Fund.id == fund.id).values(units_outstanding=500))
        assert verify(gw).problems == [f"fund {fund.id} (000009): ledger holdings account is 0 but 500 units are outstanding"]
    finally:
        gw.db.dispose()
