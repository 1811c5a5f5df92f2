"""A bank connector that fails: times out after taking the money, answers 5xx (raises) before
doing anything, or calls back twice. The merchant's answer is `processing` (never a second
charge), reconciliation settles it from the bank's own books, a retry with the same
Idempotency-Key gets the same payment, and the ledger stays sound."""
from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from gateway.entrypoints.workers import reconciliation
from gateway.services.sandbox import advance_clock
from tests.integration.conftest import approved_last4

pytestmark = pytest.mark.faults


class FailingBank:
    """Wraps a connector: `before` raises before the bank is asked (a 5xx), `after` asks the bank
    and then raises as if its answer never came (a time-out)."""

    def __init__(self, connector, when: str) -> None:
        self.connector, self.when = connector, when

    def __getattr__(self, name):
        return getattr(self.connector, name)

    def authorize(self, request):
        if self.when == "before":
            raise ConnectionError("the bank answered 502 Bad Gateway")
        self.connector.authorize(request)
        raise TimeoutError("the bank's answer never came")


@pytest.mark.parametrize("fault, settled", [("after", "succeeded"), ("before", "failed")], ids=["timeout", "5xx"])
def test_a_bank_that_fails_mid_payment_is_settled_once_by_reconciliation(deployment, fault, settled):
    gw, shop = deployment.gw, deployment.shop
    name = _connector_of(deployment, shop.pay(1_000)["id"])
    bank = gw.connector(name)
    gw.connectors[name] = FailingBank(bank, fault)
    key = str(uuid.uuid4())
    body = {"amount": 2_000, "currency": "CNY", "payment_method": shop.token(approved_last4()), "confirm": True}
    try:
        answered = shop.post("/v1/payments", body, idempotency_key=key)
    finally:
        gw.connectors[name] = bank
    assert answered.status_code == 200 and answered.json["status"] == "processing", answered.json
    payment_id = answered.json["id"]

    advance_clock(gw.sandbox_clock, gw.clock() + timedelta(minutes=2))
    reconciliation.run_once(gw)
    assert shop.get(f"/v1/payments/{payment_id}").json["status"] == settled
    retried = shop.post("/v1/payments", body, idempotency_key=key)
    assert (retried.status_code, retried.json["id"]) == (200, payment_id)
    debits = deployment.books.scalar("SELECT count(*) FROM sandbox_bank_transactions WHERE payment_id = :p "
                                     "AND kind = 'debit' AND outcome = 'approved'", p=payment_id)
    assert debits == (1 if settled == "succeeded" else 0)
    assert deployment.books.stored_payments([payment_id]) == {payment_id: 1}
    deployment.assert_books_clean()


def test_a_bank_calling_back_twice_settles_the_payment_once(deployment):
    shop = deployment.shop
    payment = shop.pay(3_000, "0119")  # the bank takes the money, its answer is lost: it calls back
    assert payment["status"] == "processing", payment
    connector = deployment.gw.connector(_connector_of(deployment, payment["id"]))
    body, signature = connector.signed_callback(payment["id"])
    answers = [shop.client.post(f"/v1/bank_callbacks/{connector.name}", data=body,
                                headers={"Bank-Signature": signature, "Content-Type": "application/json"})
               for _ in range(2)]
    assert [answer.status_code for answer in answers] == [200, 200], [answer.json for answer in answers]
    settled = shop.get(f"/v1/payments/{payment['id']}").json
    assert settled["status"] == "succeeded" and settled["amount_received"] == 3_000
    announced = deployment.books.scalar("SELECT count(*) FROM events WHERE merchant_id = :m AND type = 'payment.succeeded' "
                                              "AND data::text LIKE :p", m=shop.id, p=f"%{payment['id']}%")
    assert announced == 1  # one success, announced once
    deployment.assert_books_clean()


def _connector_of(deployment, payment_id: str) -> str:
    return deployment.books.scalar("SELECT connector FROM payments WHERE id = :p", p=payment_id)
