"""Checkout sessions through the API and the hosted page's service: created idempotently, read
by their merchant only, completed at most once (also under concurrent attempts)."""
from __future__ import annotations

import dataclasses
import threading
import uuid
from datetime import timedelta

import pytest

from gateway.domain.errors import Conflict, DomainError
from gateway.services import checkout
from tests.integration.conftest import Shop, with_bank_latency

SESSION = {
    "line_items": [{"name": "Phone", "amount": 399900}, {"name": "Case", "amount": 9900, "quantity": 2}],
    "currency": "CNY", "payment_methods": ["card", "wallet"],
    "success_url": "https://shop.example/thanks", "cancel_url": "https://shop.example/cart",
}


def completed_events(shop: Shop, session_id: str) -> list[dict]:
    events = shop.get("/v1/events?type=checkout.session.completed&limit=100").json["data"]
    return [event for event in events if event["data"]["object"]["id"] == session_id]


def test_a_session_is_created_once_per_idempotency_key_and_read_by_its_merchant_only(shop, other_shop):
    key = str(uuid.uuid4())
    first = shop.post("/v1/checkout/sessions", SESSION, idempotency_key=key)
    again = shop.post("/v1/checkout/sessions", SESSION, idempotency_key=key)
    assert first.status_code == 200, first.json
    assert again.json["id"] == first.json["id"]
    created = first.json
    assert (created["status"], created["amount_total"], created["object"]) == ("open", 399900 + 2 * 9900, "checkout.session")
    assert created["url"].endswith(f"/checkout/{created['id']}")
    assert created["expires_at"] - created["created"] == 30 * 60
    assert shop.get(f"/v1/checkout/sessions/{created['id']}").json["status"] == "open"
    assert other_shop.get(f"/v1/checkout/sessions/{created['id']}").status_code == 404


@pytest.mark.parametrize("change, param", [
    ({"payment_methods": ["cash"]}, "payment_methods"),
    ({"payment_methods": ["installments"]}, "installment_product"),
    ({"success_url": "javascript:alert(1)"}, "success_url"),
    ({"line_items": []}, "line_items"),
    ({"expires_in": 10}, "expires_in"),
    ({"confirmation_device": "dev_missing"}, "confirmation_device"),
])
def test_bad_sessions_are_refused_and_change_nothing(shop, change, param):
    response = shop.post("/v1/checkout/sessions", {**SESSION, **change})
    assert response.status_code in (400, 404), response.json
    assert response.json["error"]["param"].split(".")[0] == param


def test_a_session_completes_once_with_one_event(shop):
    session = shop.post("/v1/checkout/sessions", SESSION).json
    view = checkout.pay_with_card(shop.gw, session["id"], shop.token())
    assert view.status == "complete"
    with pytest.raises(DomainError) as refused:
        checkout.pay_with_card(shop.gw, session["id"], shop.token())
    assert refused.value.code == "checkout_session_complete"
    paid = shop.get(f"/v1/checkout/sessions/{session['id']}").json
    assert paid["status"] == "complete" and paid["completed_at"]
    assert shop.get(f"/v1/payments/{paid['payment']}").json["amount_received"] == 419700
    [event] = completed_events(shop, session["id"])
    assert event["data"]["object"]["payment"] == paid["payment"]


def test_a_payment_naming_a_session_in_its_metadata_does_not_complete_it(shop, other_shop):
    """Metadata is the merchant's to write: only the session's own attempt completes it."""
    session = shop.post("/v1/checkout/sessions", SESSION).json
    for payer in (other_shop, shop):
        paid = payer.sdk.create_payment(419700, payer.token(), confirm=True, metadata={"checkout_session": session["id"]})
        assert paid["status"] == "succeeded"
    assert shop.get(f"/v1/checkout/sessions/{session['id']}").json["status"] == "open"
    assert completed_events(shop, session["id"]) == []


def test_a_wallet_order_completes_the_session_when_the_provider_notifies(shop):
    session = shop.post("/v1/checkout/sessions", SESSION).json
    view = checkout.pay_with_wallet(shop.gw, session["id"], "wechat_like")
    assert (view.status, view.attempt.status) == ("open", "requires_action")
    with pytest.raises(Conflict):  # the order is in flight: no second one
        checkout.pay_with_card(shop.gw, session["id"], shop.token())
    shop.post(f"/v1/sandbox/wallets/payments/{view.attempt.id}/confirm", {"approve": True})
    assert shop.get(f"/v1/checkout/sessions/{session['id']}").json["status"] == "complete"
    assert len(completed_events(shop, session["id"])) == 1


def test_a_declined_card_leaves_the_session_open_for_a_retry(shop):
    session = shop.post("/v1/checkout/sessions", SESSION).json
    declined = checkout.pay_with_card(shop.gw, session["id"], shop.token("0002"))
    assert (declined.status, declined.attempt.status, declined.attempt.failure_code) == ("open", "failed", "insufficient_funds")
    assert checkout.pay_with_card(shop.gw, session["id"], shop.token()).status == "complete"


def test_an_expired_session_takes_no_payment(shop, time_machine):
    session = shop.post("/v1/checkout/sessions", {**SESSION, "expires_in": 60}).json
    token = shop.token()
    time_machine.travel(timedelta(seconds=61))
    with pytest.raises(DomainError) as refused:
        checkout.pay_with_card(shop.gw, session["id"], token)
    assert refused.value.code == "checkout_session_expired"
    assert shop.get(f"/v1/checkout/sessions/{session['id']}").json["status"] == "expired"


@pytest.mark.postgres_only
def test_concurrent_attempts_on_one_session_charge_once(pg_gateway):
    shop = Shop(with_bank_latency(pg_gateway, 200))
    session = shop.post("/v1/checkout/sessions", SESSION).json
    tokens = [shop.token() for _ in range(8)]
    outcomes: list[str] = []

    def attempt(token: str) -> None:
        try:
            outcomes.append(checkout.pay_with_card(shop.gw, session["id"], token).status)
        except DomainError as error:
            outcomes.append(error.code)

    threads = [threading.Thread(target=attempt, args=(token,)) for token in tokens]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    payments = [p for p in shop.get("/v1/payments?limit=100").json["data"] if p["metadata"].get("checkout_session") == session["id"]]
    assert [p["status"] for p in payments] == ["succeeded"]
    assert outcomes.count("complete") == 1
    assert set(outcomes) <= {"complete", "payment_in_progress", "checkout_session_complete"}
    assert len(completed_events(shop, session["id"])) == 1


def test_a_shopper_may_leave_a_wallet_order_and_pay_by_card(shop):
    session = shop.post("/v1/checkout/sessions", SESSION).json
    order = checkout.pay_with_wallet(shop.gw, session["id"], "alipay_like").attempt.id
    view = checkout.abandon_wallet_order(shop.gw, session["id"])
    assert (view.status, view.attempt.status) == ("open", "canceled")
    assert checkout.pay_with_card(shop.gw, session["id"], shop.token()).status == "complete"
    assert shop.get(f"/v1/payments/{order}").json["status"] == "canceled"


def test_the_page_waits_for_the_device_and_the_approval_completes_the_session(shop):
    from tests.support.devices import enrolled_device

    device_id = enrolled_device(shop)
    session = shop.post("/v1/checkout/sessions", {**SESSION, "confirmation_device": device_id}).json
    waiting = checkout.pay_with_card(shop.gw, session["id"], shop.token())
    assert (waiting.status, waiting.attempt.status) == ("open", "requires_action")
    assert waiting.attempt.next_action == {**waiting.attempt.next_action, "type": "device_confirmation", "device": device_id}
    shop.gw.confirmation_decided(waiting.attempt.id, True, "approved")  # the device's signed approval, delivered
    assert shop.get(f"/v1/checkout/sessions/{session['id']}").json["status"] == "complete"
    assert len(completed_events(shop, session["id"])) == 1


def test_installments_a_refused_card_can_be_corrected_without_registering_twice(shop):
    from datetime import date

    from gateway.domain.sandbox_cards import sandbox_card_number
    from gateway.domain.sandbox_ids import sandbox_id_number
    from tests.integration.conftest import approved_last4

    product = shop.post("/v1/installment_products", {"name": "Phone", "terms": [6, 12], "method": "equal_installment", "apr": "12"}).json
    session = shop.post("/v1/checkout/sessions", {**SESSION, "payment_methods": ["installments"], "installment_product": product["id"]}).json
    shopper = checkout.Shopper(name="Wang Fang", mobile="13800138000", id_number=sandbox_id_number(date(1991, 2, 3), order=int(approved_last4()) % 998 + 1),
                               card_number="6222 0000 0000 0001", exp_month=12, exp_year=2031, cvv="123", term_months=12, agreed=True)
    with pytest.raises(DomainError) as typo:
        checkout.start_installments(shop.gw, session["id"], shopper)
    assert typo.value.param == "card_number"
    with pytest.raises(DomainError) as refused:  # the bank will not bind this one (it says the card expired)
        checkout.start_installments(shop.gw, session["id"], dataclasses.replace(shopper, card_number=sandbox_card_number("ICBC", "0069")))
    assert refused.value.param == "card_number"
    waiting = checkout.start_installments(shop.gw, session["id"], dataclasses.replace(shopper, card_number=sandbox_card_number("ICBC", approved_last4())))
    assert waiting.installments_card is not None
    done = checkout.confirm_installments(shop.gw, session["id"], checkout.sandbox_sms_code(shop.gw, session["id"]))
    assert done.status == "complete"
    plan = shop.get(f"/v1/installment_plans/{done.installment_plan}").json
    assert (plan["state"], plan["term_months"]) == ("active", 12)
