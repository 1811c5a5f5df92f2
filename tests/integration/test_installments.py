"""Installment plans over a year of (travelled) time: on time, late, missed, recovered, paid off;
two workers on one due date; late fee caps; credit limits; cooling-off. The ledger balances at
every step."""
from __future__ import annotations

import threading
from datetime import datetime, time, timedelta

import pytest
from sqlalchemy import func, select

from gateway.domain.clock import BEIJING
from gateway.adapters.db import ledger_repository
from gateway.adapters.db.installment_models import Installment
from gateway.adapters.db.models import Event, Payment
from gateway.services import installment_plans
from gateway.services.ledger import verify
from tests.integration.conftest import Shop, TimeMachine

PRICE = 399_900  # CNY 3,999.00


def _product(shop, **overrides):
    body = {"name": "Phone 12 months", "terms": [3, 6, 12, 24], "method": "equal_installment", "apr": "12", "down_payment_share": "0.1",
            "grace_days": 5, "late_fee_fixed": 2_000, "late_fee_cap": 5_000, **overrides}
    response = shop.post("/v1/installment_products", body)
    assert response.status_code == 200, response.json
    return response.json


def _plan(shop, product, *, bank="ICBC", last4=None, term=12, amount=PRICE, **extra):
    customer = shop.customer()
    card = shop.saved_card(customer["id"], bank, last4)
    response = shop.post("/v1/installment_plans", {"customer": customer["id"], "card": card["id"], "product": product["id"], "term_months": term, "amount": amount, **extra}, idempotency_key=f"plan-{customer['id']}")
    assert response.status_code == 200, response.json
    return response.json, customer


def _run_workers(shop):
    installment_plans.collect_due(shop.gw)
    installment_plans.update_delinquency(shop.gw)


def _day(plan, number, offset_days=0, hour=10):
    due = datetime.fromisoformat(plan["schedule"][number - 1]["due_date"]).date() + timedelta(days=offset_days)
    return datetime.combine(due, time(hour), BEIJING)


def _check_books(shop, plan_id):
    assert verify(shop.gw).ok
    view = installment_plans.get_plan(shop.gw, shop.id, plan_id)
    owed_principal = sum(item.principal - item.paid_principal for item in view.installments if item.status != "canceled")
    with shop.gw.db.unit_of_work() as session:
        receivable = ledger_repository.normal_balances(session, f"customer:{view.plan.customer_id}:installment_receivable").get("CNY", 0)
    assert receivable == owed_principal


def _events(shop, kind):
    with shop.gw.db.unit_of_work() as session:
        return [e for e in session.execute(select(Event).where(Event.merchant_id == shop.id, Event.type == kind)).scalars()]


def test_quote_shows_the_schedule_and_the_cost(shop):
    product = _product(shop)
    quote = shop.post("/v1/installment_quotes", {"amount": PRICE, "product": product["id"], "term_months": 12}).json
    assert quote["down_payment"] == 39_990
    assert quote["financed"] == PRICE - 39_990 == sum(p["principal"] for p in quote["schedule"])
    assert quote["cost_of_credit"] == sum(p["interest"] for p in quote["schedule"])
    assert quote["total_repayable"] == PRICE + quote["cost_of_credit"]
    assert quote["apr"] == "12.000" or quote["apr"].startswith("12")
    inline = shop.post("/v1/installment_quotes", {"amount": 120_000, "term_months": 6, "method": "interest_free", "fee_rate": "0.03"}).json
    assert [p["interest"] for p in inline["schedule"]] == [600] * 6
    bad = shop.post("/v1/installment_quotes", {"amount": 120_000, "term_months": 6, "method": "equal_installment", "apr": 12.5})
    assert (bad.status_code, bad.json["error"]["param"]) == (400, "apr")
    wrong_term = shop.post("/v1/installment_quotes", {"amount": PRICE, "product": product["id"], "term_months": 9})
    assert wrong_term.status_code == 400


def test_a_year_on_time_late_missed_recovered_and_paid_off(shop, time_machine):
    product = _product(shop)
    plan, customer = _plan(shop, product)
    assert (plan["state"], plan["down_payment"], plan["delinquency"]) == ("active", 39_990, "current")
    merchant_before = shop.balance()
    assert merchant_before == PRICE - 2_399  # paid in full at once, less the 0.6 % fee
    _check_books(shop, plan["id"])

    # Month 1: collected on the due date.
    time_machine.travel_to(_day(plan, 1))
    _run_workers(shop)
    seen = shop.get(f"/v1/installment_plans/{plan['id']}").json
    assert seen["schedule"][0]["status"] == "paid" and seen["delinquency"] == "current"
    assert shop.balance() == merchant_before  # collections are the platform's, not the merchant's
    _check_books(shop, plan["id"])

    # Month 2: the customer withdraws card consent; debits fail through grace, a late fee follows.
    shop.post(f"/v1/customers/{customer['id']}/consents/bank_card/withdraw")
    for offset in (0, 1, 3, 5, 6):
        time_machine.travel_to(_day(plan, 2, offset))
        _run_workers(shop)
    seen = shop.get(f"/v1/installment_plans/{plan['id']}").json
    assert seen["delinquency"] == "1-30"
    assert seen["schedule"][1]["late_fee"] == 2_000
    assert seen["overdue"] == seen["schedule"][1]["principal"] + seen["schedule"][1]["interest"] + 2_000
    assert len(_events(shop, "installment.failed")) == 4
    assert len(_events(shop, "plan.delinquent")) == 1
    _check_books(shop, plan["id"])

    # Recovery: consent is given again and the weekly retry collects installment and late fee.
    shop.post(f"/v1/customers/{customer['id']}/consents", {"kind": "bank_card", "version": "v2", "purpose": "cards"})
    time_machine.travel_to(_day(plan, 2, 12))
    _run_workers(shop)
    seen = shop.get(f"/v1/installment_plans/{plan['id']}").json
    assert seen["schedule"][1]["status"] == "paid" and seen["schedule"][1]["paid"] == seen["schedule"][1]["principal"] + seen["schedule"][1]["interest"] + 2_000
    assert seen["delinquency"] == "current"
    _check_books(shop, plan["id"])

    # Months 3-6 on time.
    for number in range(3, 7):
        time_machine.travel_to(_day(plan, number))
        _run_workers(shop)
    # Mid-month 7: pay off early; the interest of months not begun is waived.
    time_machine.travel_to(_day(plan, 6, 10))
    payoff = shop.get(f"/v1/installment_plans/{plan['id']}/payoff_quote").json
    remaining = [p for p in shop.get(f"/v1/installment_plans/{plan['id']}").json["schedule"] if p["status"] != "paid"]
    assert payoff["principal"] == sum(p["principal"] for p in remaining)
    assert payoff["interest"] == remaining[0]["interest"]  # only the running month's interest
    paid = shop.post(f"/v1/installment_plans/{plan['id']}/payments", {"kind": "payoff"}).json
    assert (paid["status"], paid["amount"]) == ("succeeded", payoff["total"])
    done = shop.get(f"/v1/installment_plans/{plan['id']}").json
    assert done["state"] == "completed" and done["outstanding"] == 0
    assert len(_events(shop, "plan.completed")) == 1
    _check_books(shop, plan["id"])
    time_machine.travel_to(_day(plan, 12, 30))
    _run_workers(shop)
    with shop.gw.db.unit_of_work() as session:
        collections = session.execute(select(func.count()).select_from(Payment).where(Payment.installment_plan_id == plan["id"], Payment.purpose == "installment", Payment.status == "succeeded")).scalar_one()
    assert collections == 7  # months 1-6 and the payoff: nothing after completion


def test_late_fees_stop_at_the_cap(shop, time_machine):
    product = _product(shop, late_fee_fixed=2_000, late_fee_cap=5_000)
    plan, customer = _plan(shop, product, term=6)
    shop.post(f"/v1/customers/{customer['id']}/consents/bank_card/withdraw")
    for number in range(1, 5):
        time_machine.travel_to(_day(plan, number, 7))
        _run_workers(shop)
    seen = shop.get(f"/v1/installment_plans/{plan['id']}").json
    assert seen["late_fees_charged"] == 5_000
    assert [p["late_fee"] for p in seen["schedule"][:4]] == [2_000, 2_000, 1_000, 0]
    assert seen["delinquency"] == "default"  # the first installment is 97 days late


def test_delinquency_reaches_default_after_ninety_days_past_grace(shop, time_machine):
    product = _product(shop)
    plan, customer = _plan(shop, product, term=6)
    shop.post(f"/v1/customers/{customer['id']}/consents/bank_card/withdraw")
    buckets = []
    for days in (3, 10, 40, 70, 100):
        time_machine.travel_to(_day(plan, 1, days))
        _run_workers(shop)
        buckets.append(shop.get(f"/v1/installment_plans/{plan['id']}").json["delinquency"])
    assert buckets == ["grace", "1-30", "31-60", "61-90", "default"]
    assert len(_events(shop, "plan.delinquent")) == 4


def test_pay_next_installment_early_and_any_amount(shop, time_machine):
    product = _product(shop)
    plan, _ = _plan(shop, product, term=3)
    first = plan["schedule"][0]
    paid = shop.post(f"/v1/installment_plans/{plan['id']}/payments", {"kind": "next"}).json
    assert paid["amount"] == first["principal"] + first["interest"]
    part = shop.post(f"/v1/installment_plans/{plan['id']}/payments", {"kind": "amount", "amount": 1_000}).json
    assert part["status"] == "succeeded"
    seen = shop.get(f"/v1/installment_plans/{plan['id']}").json
    assert seen["schedule"][0]["status"] == "paid" and seen["schedule"][1]["paid"] == 1_000
    too_much = shop.post(f"/v1/installment_plans/{plan['id']}/payments", {"kind": "amount", "amount": 10**9})
    assert too_much.status_code == 400
    time_machine.travel_to(_day(plan, 1))
    _run_workers(shop)  # month 1 was paid early: nothing is debited for it again
    with shop.gw.db.unit_of_work() as session:
        assert session.execute(select(func.count()).select_from(Payment).where(Payment.installment_plan_id == plan["id"], Payment.purpose == "installment")).scalar_one() == 2
    _check_books(shop, plan["id"])


def test_credit_limit_and_consent_gate_plans(shop):
    product = _product(shop, max_amount=5_000_000)
    customer = shop.customer()
    card = shop.saved_card(customer["id"])
    too_big = shop.post("/v1/installment_plans", {"customer": customer["id"], "card": card["id"], "product": product["id"], "term_months": 12, "amount": 4_000_000})
    assert (too_big.status_code, too_big.json["error"]["code"]) == (402, "credit_limit_exceeded")
    shop.post(f"/v1/customers/{customer['id']}/consents/bank_card/withdraw")
    no_consent = shop.post("/v1/installment_plans", {"customer": customer["id"], "card": card["id"], "product": product["id"], "term_months": 12, "amount": PRICE})
    assert (no_consent.status_code, no_consent.json["error"]["code"]) == (403, "consent_required")
    assert shop.balance() == 0


def test_a_failed_down_payment_cancels_the_plan(shop):
    product = _product(shop)
    plan, _ = _plan(shop, product, last4="0002")  # insufficient funds
    assert plan["state"] == "canceled"
    assert shop.balance() == 0
    assert verify(shop.gw).ok


def test_async_bank_plan_activates_when_the_callback_arrives(shop):
    product = _product(shop)
    plan, _ = _plan(shop, product, bank="CMB")
    assert plan["state"] == "pending"
    connector = shop.gw.connector("sandbox_joint_stock")
    body, signature = connector.signed_callback(plan["down_payment_payment"])
    shop.client.post("/v1/bank_callbacks/sandbox_joint_stock", data=body, headers={"Bank-Signature": signature})
    assert shop.get(f"/v1/installment_plans/{plan['id']}").json["state"] == "active"
    _check_books(shop, plan["id"])


def test_cooling_off_cancellation_refunds_and_unwinds(shop, time_machine):
    product = _product(shop)
    plan, _ = _plan(shop, product)
    time_machine.travel(timedelta(days=3))
    canceled = shop.post(f"/v1/installment_plans/{plan['id']}/cancel")
    assert canceled.status_code == 200 and canceled.json["state"] == "canceled"
    down = shop.get(f"/v1/payments/{plan['down_payment_payment']}").json
    assert down["amount_refunded"] == plan["down_payment"]
    assert shop.balance() == -240  # only the down payment's fee stays taken, as with any refund
    _check_books(shop, plan["id"])
    again = shop.post(f"/v1/installment_plans/{plan['id']}/cancel")
    assert again.status_code == 409


def test_cooling_off_ends(shop, time_machine):
    product = _product(shop, cooling_off_days=7)
    plan, _ = _plan(shop, product)
    time_machine.travel(timedelta(days=8))
    late = shop.post(f"/v1/installment_plans/{plan['id']}/cancel")
    assert (late.status_code, late.json["error"]["code"]) == (409, "cooling_off_over")


def test_two_workers_on_one_due_date_debit_each_installment_once(pg_gateway):
    shop = Shop(pg_gateway)
    machine = TimeMachine(pg_gateway)
    try:
        product = _product(shop)
        plans = [_plan(shop, product, term=3, amount=100_000 + n)[0] for n in range(8)]
        machine.travel_to(_day(plans[0], 1, 1))
        barrier = threading.Barrier(2)

        def worker():
            barrier.wait()
            while installment_plans.collect_due(pg_gateway, batch=3):
                pass

        threads = [threading.Thread(target=worker) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
    finally:
        machine.restore()
    with pg_gateway.db.unit_of_work() as session:
        for plan in plans:
            debits = session.execute(select(func.count()).select_from(Payment).where(Payment.installment_plan_id == plan["id"], Payment.purpose == "installment")).scalar_one()
            assert debits == 1
            first = session.execute(select(Installment).where(Installment.plan_id == plan["id"], Installment.number == 1)).scalar_one()
            assert first.status == "paid"
    assert verify(pg_gateway).ok


@pytest.mark.parametrize("method", ["equal_principal", "interest_free"])
def test_other_methods_collect_and_balance(shop, time_machine, method):
    product = _product(shop, method=method, apr="9", fee_rate="0.03")
    plan, _ = _plan(shop, product, term=3)
    for number in (1, 2, 3):
        time_machine.travel_to(_day(plan, number))
        _run_workers(shop)
    assert shop.get(f"/v1/installment_plans/{plan['id']}").json["state"] == "completed"
    _check_books(shop, plan["id"])


def test_concurrent_plans_cannot_exceed_the_credit_limit(pg_gateway):
    import dataclasses

    limited = dataclasses.replace(pg_gateway, settings=dataclasses.replace(pg_gateway.settings, installment_credit_limit=500_000))
    shop = Shop(limited)
    product = _product(shop, down_payment_share="0")
    customer = shop.customer()
    card = shop.saved_card(customer["id"])
    body = {"customer": customer["id"], "card": card["id"], "product": product["id"], "term_months": 3, "amount": 300_000}
    from tests.integration.test_idempotency import _concurrently

    responses = _concurrently(6, lambda: shop.post("/v1/installment_plans", body))
    assert sorted(r.status_code for r in responses) == [200] + [402] * 5  # CNY 3,000 fits a CNY 5,000 limit once
    assert verify(limited).ok


def test_cancel_whose_refund_the_bank_refuses_leaves_the_plan_in_place(shop, monkeypatch):
    product = _product(shop)
    plan, _ = _plan(shop, product)
    from gateway.adapters.connectors.base import ConnectorResult, Outcome

    monkeypatch.setattr(shop.gw.connector("sandbox_big_four"), "refund", lambda *args: ConnectorResult(Outcome.DECLINED, None, "refund_refused", "no"))
    refused = shop.post(f"/v1/installment_plans/{plan['id']}/cancel")
    assert refused.status_code == 402
    seen = shop.get(f"/v1/installment_plans/{plan['id']}").json
    assert seen["state"] == "active"
    _check_books(shop, plan["id"])
    monkeypatch.undo()
    assert shop.post(f"/v1/installment_plans/{plan['id']}/cancel").json["state"] == "canceled"


def test_a_claim_whose_worker_died_before_the_debit_is_taken_over(shop, time_machine):
    product = _product(shop)
    plan, _ = _plan(shop, product, term=3)
    time_machine.travel_to(_day(plan, 1))
    with shop.gw.db.unit_of_work() as session:  # as a worker leaves it when it dies mid-claim
        first = session.execute(select(Installment).where(Installment.plan_id == plan["id"], Installment.number == 1)).scalar_one()
        first.status, first.collecting_payment_id = "collecting", "pay_never_created"
        first.next_attempt_at = shop.gw.clock() - timedelta(minutes=1)  # its lease has run out
    _run_workers(shop)
    assert shop.get(f"/v1/installment_plans/{plan['id']}").json["schedule"][0]["status"] == "paid"
    _check_books(shop, plan["id"])


def test_a_decline_inside_a_batch_fails_that_installment_only(shop, time_machine, monkeypatch):
    from gateway.adapters.connectors.base import ConnectorResult, Outcome

    product = _product(shop)
    declined_plan, _ = _plan(shop, product, term=3)
    paid_plan, _ = _plan(shop, product, term=3)
    connector = shop.gw.connector("sandbox_big_four")
    real = connector.authorize_batch
    declined_payment = {}

    def one_declined(requests):
        results = real(requests)
        for index, request in enumerate(requests):
            if request.description.endswith(declined_plan["id"]):
                declined_payment["id"] = request.payment_id
                results[index] = ConnectorResult(Outcome.DECLINED, None, "insufficient_funds", "no money")
        return results

    monkeypatch.setattr(connector, "authorize_batch", one_declined)
    time_machine.travel_to(_day(declined_plan, 1))
    installment_plans.collect_due(shop.gw)

    assert shop.get(f"/v1/installment_plans/{paid_plan['id']}").json["schedule"][0]["status"] == "paid"
    declined = shop.get(f"/v1/installment_plans/{declined_plan['id']}").json["schedule"][0]
    assert declined["status"] == "scheduled" and declined["paid"] == 0
    assert shop.get(f"/v1/payments/{declined_payment['id']}").json["failure_code"] == "insufficient_funds"
    assert len(_events(shop, "installment.failed")) == 1
    _check_books(shop, paid_plan["id"])
    _check_books(shop, declined_plan["id"])


def test_an_async_bank_in_a_batch_settles_the_installment_on_its_callback(shop, time_machine):
    product = _product(shop)
    plan, _ = _plan(shop, product, bank="CMB", term=3)
    connector = shop.gw.connector("sandbox_joint_stock")
    body, signature = connector.signed_callback(plan["down_payment_payment"])
    shop.client.post("/v1/bank_callbacks/sandbox_joint_stock", data=body, headers={"Bank-Signature": signature})
    plan = shop.get(f"/v1/installment_plans/{plan['id']}").json  # active now, with its schedule
    time_machine.travel_to(_day(plan, 1))
    installment_plans.collect_due(shop.gw)
    first = shop.get(f"/v1/installment_plans/{plan['id']}").json["schedule"][0]
    assert first["status"] == "collecting" and first["paid"] == 0  # the bank answers later
    with shop.gw.db.unit_of_work() as session:
        debit = session.execute(select(Payment).where(Payment.installment_plan_id == plan["id"], Payment.purpose == "installment")).scalar_one()
    body, signature = connector.signed_callback(debit.id)
    assert shop.client.post("/v1/bank_callbacks/sandbox_joint_stock", data=body, headers={"Bank-Signature": signature}).json["status"] == "succeeded"
    assert shop.get(f"/v1/installment_plans/{plan['id']}").json["schedule"][0]["status"] == "paid"
    _check_books(shop, plan["id"])
