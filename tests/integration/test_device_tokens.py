"""OpenPAYGO tokens for devices on installment plans, from the gateway's side: what is issued,
when, and that openpaygo's own decoder reads each token as intended."""
from __future__ import annotations

from openpaygo import OpenPAYGOTokenDecoder, TokenType
from sqlalchemy import select

from device_agents import wire
from gateway.adapters.db.device_models import DeviceCommand
from gateway.adapters.db.installment_models import DeviceToken
from gateway.services import device_credit, installment_plans
from tests.integration.test_installments import PRICE, _day, _product, _run_workers
from tests.support.devices import enrolled_device


def _provisioned_device(shop) -> tuple[str, str, int]:
    """A device id with OpenPAYGO credentials (what enrollment provisions)."""
    device_id = enrolled_device(shop)
    with shop.gw.db.unit_of_work() as session:
        secret, starting_code = device_credit.provision(shop.gw, session, device_id)
    return device_id, secret, starting_code


def _tokens(shop, plan_id):
    """The plan's token rows as issued (with their OpenPAYGO counts, which the API does not show)."""
    with shop.gw.db.unit_of_work() as session:
        return list(session.execute(select(DeviceToken).where(DeviceToken.plan_id == plan_id).order_by(DeviceToken.id)).scalars())


def test_tokens_follow_the_plan_and_decode_with_openpaygo(shop, time_machine):
    device_id, secret, starting_code = _provisioned_device(shop)
    product = _product(shop, grace_days=5)
    customer = shop.customer()
    card = shop.saved_card(customer["id"])
    plan = shop.post("/v1/installment_plans", {"customer": customer["id"], "card": card["id"], "product": product["id"], "term_months": 3, "amount": PRICE, "device": device_id}).json
    assert plan["state"] == "active" and plan["device"] == device_id

    first = _tokens(shop, plan["id"])
    assert [t.kind for t in first] == ["add_time"]
    shown = shop.get(f"/v1/installment_plans/{plan['id']}").json["device_tokens"]
    assert shown == [{"token": first[0].token, "kind": "add_time", "days": first[0].days, "paid_until": first[0].paid_until.isoformat()}]
    first_due = plan["schedule"][0]["due_date"]
    today = installment_plans.local_today(shop.gw)
    assert first[0].paid_until == _date(first_due) + _days(5)  # usable through the first due date plus grace
    assert first[0].days == (first[0].paid_until - today).days + 1  # today included
    value, kind, count, _ = OpenPAYGOTokenDecoder.decode_token(token=first[0].token, secret_key=secret, count=0, used_counts=[], starting_code=starting_code)
    assert (value, kind, count) == (first[0].days, TokenType.ADD_TIME, first[0].count)

    for number in (1, 2, 3):
        time_machine.travel_to(_day(plan, number))
        _run_workers(shop)
    issued = _tokens(shop, plan["id"])
    assert [t.kind for t in issued] == ["add_time", "add_time", "add_time", "disable_payg"]
    assert [t.count for t in issued] == sorted({t.count for t in issued})  # every token a new count
    last_count = issued[-2].count
    _, kind, _, _ = OpenPAYGOTokenDecoder.decode_token(token=issued[-1].token, secret_key=secret, count=last_count, used_counts=[], starting_code=starting_code)
    assert kind == TokenType.DISABLE_PAYG

    with shop.gw.db.unit_of_work() as session:
        commands = [wire.decode_command(c.payload) for c in session.execute(select(DeviceCommand).where(DeviceCommand.device_id == device_id).order_by(DeviceCommand.id)).scalars()]
    assert [(kind, body["token"]) for kind, body in commands] == [(device_credit.UNLOCK_TOKEN_COMMAND, t.token) for t in issued]


def test_a_late_payment_issues_time_from_today(shop, time_machine):
    device_id, secret, starting_code = _provisioned_device(shop)
    product = _product(shop, grace_days=5)
    customer = shop.customer()
    card = shop.saved_card(customer["id"])
    plan = shop.post("/v1/installment_plans", {"customer": customer["id"], "card": card["id"], "product": product["id"], "term_months": 3, "amount": PRICE, "device": device_id}).json
    shop.post(f"/v1/customers/{customer['id']}/consents/bank_card/withdraw")
    time_machine.travel_to(_day(plan, 1, 9))  # locked since day 5 after the due date
    _run_workers(shop)
    assert len(_tokens(shop, plan["id"])) == 1
    shop.post(f"/v1/customers/{customer['id']}/consents", {"kind": "bank_card", "version": "v2", "purpose": "cards"})
    time_machine.travel_to(_day(plan, 1, 16))  # the weekly retry after grace
    _run_workers(shop)
    tokens = _tokens(shop, plan["id"])
    assert len(tokens) == 2
    today = installment_plans.local_today(shop.gw)
    assert tokens[-1].paid_until == _date(plan["schedule"][1]["due_date"]) + _days(5)
    assert tokens[-1].days == (tokens[-1].paid_until - today).days + 1  # credit ran out: counted from today


def test_only_the_merchants_own_provisioned_device_can_go_on_a_plan(shop, other_shop):
    product = _product(shop)
    customer = shop.customer()
    card = shop.saved_card(customer["id"])
    body = {"customer": customer["id"], "card": card["id"], "product": product["id"], "term_months": 3, "amount": PRICE}
    unknown = shop.post("/v1/installment_plans", {**body, "device": "dev_unknown"})
    theirs = shop.post("/v1/installment_plans", {**body, "device": _provisioned_device(other_shop)[0]})
    unprovisioned = shop.post("/v1/installment_plans", {**body, "device": enrolled_device(shop)})
    assert (unknown.status_code, theirs.status_code) == (404, 404)
    assert (unprovisioned.status_code, unprovisioned.json["error"]["code"]) == (409, "device_not_provisioned")
    assert shop.balance() == 0


def test_cooling_off_releases_the_device(shop, time_machine):
    device_id, secret, starting_code = _provisioned_device(shop)
    product = _product(shop)
    customer = shop.customer()
    card = shop.saved_card(customer["id"])
    plan = shop.post("/v1/installment_plans", {"customer": customer["id"], "card": card["id"], "product": product["id"], "term_months": 3, "amount": PRICE, "device": device_id}).json
    shop.post(f"/v1/installment_plans/{plan['id']}/cancel")
    assert [t.kind for t in _tokens(shop, plan["id"])] == ["add_time", "disable_payg"]


def _date(text):
    from datetime import date

    return date.fromisoformat(text)


def _days(n):
    from datetime import timedelta

    return timedelta(days=n)


def test_tokens_are_stored_as_issued(shop):
    with shop.gw.db.unit_of_work() as session:
        assert session.execute(select(DeviceToken).where(DeviceToken.device_id == "nobody")).first() is None


def test_a_device_not_on_a_plan_can_be_released_one_on_a_plan_cannot(shop, other_shop):
    device_id, secret, starting_code = _provisioned_device(shop)
    released = shop.post(f"/v1/devices/{device_id}/release", {})
    assert released.status_code == 200 and released.json["kind"] == "disable_payg"
    from openpaygo import OpenPAYGOTokenDecoder, TokenType

    assert OpenPAYGOTokenDecoder.decode_token(token=released.json["token"], secret_key=secret, count=0, used_counts=[], starting_code=starting_code)[1] == TokenType.DISABLE_PAYG
    assert other_shop.post(f"/v1/devices/{device_id}/release", {}).status_code == 404

    on_plan, *_ = _provisioned_device(shop)
    product = _product(shop)
    customer = shop.customer()
    card = shop.saved_card(customer["id"])
    shop.post("/v1/installment_plans", {"customer": customer["id"], "card": card["id"], "product": product["id"], "term_months": 3, "amount": PRICE, "device": on_plan})
    refused = shop.post(f"/v1/devices/{on_plan}/release", {})
    assert (refused.status_code, refused.json["error"]["code"]) == (409, "device_on_plan")
