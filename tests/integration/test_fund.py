"""The money-market fund end to end over the API, on SQLite and PostgreSQL: a subscription after
the Friday cut-off confirmed on Tuesday, income credited day by day as the signed feed arrives,
fast and normal redemptions, yields, holdings, statements, and books that match the feed."""
from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import select

from gateway.adapters.db import ledger_repository
from gateway.adapters.db.models import Event
from gateway.services.fund_accrual import reconcile
from gateway.services.ledger import verify
from tests.integration.fund_support import (
    Manager, beijing, create_fund, feed, fund_customer, holding, income, redeem, run_fund_queue, subscribe,
)

FIGURES = ["1.2000", "1.1000", "1.3000", "1.0000", "0.9000", "1.2500", "1.1500", "1.0500", "0.9500", "1.0100", "1.3300"]


def _events(shop, kind):
    with shop.gw.db.unit_of_work() as session:
        return [event.data for event in session.execute(select(Event).where(Event.merchant_id == shop.id, Event.type == kind).order_by(Event.seq)).scalars()]


def test_a_friday_evening_subscription_earns_from_tuesday_and_comes_back_fast_and_normal(shop, time_machine):
    manager = Manager()
    fund = create_fund(shop, manager)
    customer, card = fund_customer(shop)

    time_machine.travel_to(beijing(date(2026, 12, 4), 15, 30))  # a Friday, after the cut-off
    ordered = subscribe(shop, customer, card, fund, 500_000)
    assert ordered.status_code == 200, ordered.json
    assert ordered.json["status"] == "paid"
    assert (ordered.json["trade_date"], ordered.json["confirmation_date"]) == ("2026-12-07", "2026-12-08")
    assert holding(shop, customer, fund)["pending_subscriptions"] == 500_000
    not_yet = redeem(shop, customer, card, fund, 100)
    assert (not_yet.status_code, not_yet.json["error"]["code"]) == (422, "insufficient_units")

    time_machine.travel_to(beijing(date(2026, 12, 7)))  # Monday: still in transit
    run_fund_queue(shop.gw)
    assert holding(shop, customer, fund)["units"] == 0
    time_machine.travel_to(beijing(date(2026, 12, 8), 9))  # Tuesday: confirmed
    run_fund_queue(shop.gw)
    assert holding(shop, customer, fund)["units"] == 500_000
    assert [e["id"] for e in _events(shop, "fund.subscription.confirmed")] == [ordered.json["id"]]

    time_machine.travel_to(beijing(date(2026, 12, 12), 9))  # Saturday morning: the feed up to Friday
    feed(shop, manager, fund, date(2026, 12, 1), FIGURES)
    run_fund_queue(shop.gw)
    units, expected = 500_000, []
    for day, figure in zip((date(2026, 12, 1) + timedelta(days=n) for n in range(11)), FIGURES):
        earned = income(units, figure) if day >= date(2026, 12, 8) else 0
        expected.append(earned)
        units += earned  # daily carryover: income becomes units and earns from the next day
    seen = holding(shop, customer, fund)
    assert seen["units"] == units == 500_000 + sum(expected)
    assert seen["yesterday_income"] == expected[-1]
    assert seen["cumulative_income"] == sum(expected)
    assert len(_events(shop, "fund.income.credited")) == 11  # one per fund-day, not per holder
    assert verify(shop.gw).ok
    assert all(line.ok for line in reconcile(shop.gw, date(2026, 12, 10)) if line.fund == fund["id"])

    yields = shop.get(f"/v1/funds/{fund['id']}/yields?from=2026-12-06&to=2026-12-08").json["data"]
    assert [(y["date"], y["income_per_10k"], y["seven_day_annualized"]) for y in yields] == [
        ("2026-12-06", "1.2500", None), ("2026-12-07", "1.1500", "4.205"), ("2026-12-08", "1.0500", "4.124")]

    fast = redeem(shop, customer, card, fund, 300_000)
    assert (fast.status_code, fast.json["status"]) == (200, "paid"), fast.json
    normal = redeem(shop, customer, card, fund, 100_000, speed="normal")  # Saturday: T is Monday, paid Tuesday
    assert (normal.json["status"], normal.json["trade_date"], normal.json["pay_date"]) == ("pending", "2026-12-14", "2026-12-15")
    seen = holding(shop, customer, fund)
    assert seen["units"] == units - 400_000
    assert seen["pending_redemptions"] == 100_000
    assert seen["fast_redemption_available_today"] == min(1_000_000 - 300_000, units - 400_000)  # the cap, or what is left

    time_machine.travel_to(beijing(date(2026, 12, 15)))
    run_fund_queue(shop.gw)
    assert shop.get(f"/v1/fund_redemptions/{normal.json['id']}").json["status"] == "paid"
    assert {e["id"] for e in _events(shop, "fund.redemption.paid")} == {fast.json["id"], normal.json["id"]}
    with shop.gw.db.unit_of_work() as session:  # the manager settled Saturday's fast redemption on Monday: the bank is repaid
        advance = ledger_repository.normal_balances(session, f"fund:{fund['id']}:fast_redemption_advance")
        payable = ledger_repository.normal_balances(session, f"fund:{fund['id']}:redemptions_payable")
    assert (advance, payable) == ({"CNY": 0}, {"CNY": 0})

    statement = shop.get(f"/v1/customers/{customer['id']}/fund_statements?month=2026-12").json["data"][0]
    assert (statement["opening"], statement["subscriptions"], statement["redemptions"], statement["income"]) == (0, 500_000, 400_000, sum(expected))
    assert statement["closing"] == units - 400_000
    future = shop.get(f"/v1/customers/{customer['id']}/fund_statements?month=2099-01")
    assert (future.status_code, future.json["error"]["code"]) == (400, "month_in_future")
    assert [line["amount"] for line in statement["lines"] if line["kind"] == "income"] == [e for e in expected if e]
    assert verify(shop.gw).ok


def test_accrue_and_reconcile_from_the_command_line(shop, time_machine, monkeypatch):
    from click.testing import CliRunner

    from gateway.adapters.db.fund_models import FundHolderIncome, FundHolding
    from gateway.entrypoints.cli import main as cli

    manager = Manager()
    fund = create_fund(shop, manager)
    customer, card = fund_customer(shop)
    time_machine.travel_to(beijing(date(2026, 11, 2)))
    assert subscribe(shop, customer, card, fund, 250_000).status_code == 200
    time_machine.travel_to(beijing(date(2026, 11, 3), 9))
    run_fund_queue(shop.gw)  # confirmed; no figure yet
    time_machine.travel_to(beijing(date(2026, 11, 6)))
    feed(shop, manager, fund, date(2026, 11, 1), ["1.1111", "2.2222", "3.3333", "4.4444", "0.5555"])
    monkeypatch.setenv("PAYGATE_DATABASE_URL", shop.gw.settings.database_url)
    monkeypatch.setenv("PAYGATE_VAR_DIR", str(shop.gw.settings.var_dir))
    runner = CliRunner()

    accrued = runner.invoke(cli, ["fund", "accrue", "--date", "2026-11-04", "--fund", fund["id"]])
    assert accrued.exit_code == 0, accrued.output
    assert [line.split()[1] for line in accrued.output.splitlines()] == ["2026-11-01", "2026-11-02", "2026-11-03", "2026-11-04"]
    earned = income(250_000, "3.3333")
    assert holding(shop, customer, fund)["units"] == 250_000 + earned + income(250_000 + earned, "4.4444")
    assert runner.invoke(cli, ["fund", "accrue", "--date", "2026-11-04", "--fund", fund["id"]]).exit_code == 0  # again: no change
    assert holding(shop, customer, fund)["units"] == 250_000 + earned + income(250_000 + earned, "4.4444")

    ok = runner.invoke(cli, ["fund", "reconcile", "--date", "2026-11-04"])
    assert f"ok       {fund['id']}" in ok.output
    pending = runner.invoke(cli, ["fund", "reconcile", "--date", "2026-11-05"])
    assert pending.exit_code == 1 and "not accrued yet" in pending.output
    with shop.gw.db.unit_of_work() as session:  # a holder's record tampered with
        seq = session.execute(select(FundHolding.seq).where(FundHolding.fund_id == fund["id"])).scalar_one()
        session.execute(FundHolderIncome.__table__.update().where(FundHolderIncome.holding_seq == seq, FundHolderIncome.day == date(2026, 11, 4))
                        .values(income=FundHolderIncome.income + 1))
    tampered = runner.invoke(cli, ["fund", "reconcile", "--date", "2026-11-04"])
    assert tampered.exit_code == 1 and f"MISMATCH {fund['id']}" in tampered.output
