"""Idempotency-Key semantics (DESIGN.md): replay, mismatch, in-flight, per merchant."""
from __future__ import annotations

import threading
import uuid

from sqlalchemy import func, select

from gateway.adapters.db.models import LedgerTransaction, Payment
from gateway.app import create_app
from tests.integration.conftest import with_bank_latency


def _payment_body(shop, amount=10_000):
    return {"amount": amount, "currency": "CNY", "payment_method": shop.token(), "confirm": True}


def _payments_of(gw, merchant_id) -> int:
    with gw.db.unit_of_work() as session:
        return session.execute(select(func.count()).select_from(Payment).where(Payment.merchant_id == merchant_id)).scalar_one()


def test_same_key_same_body_replays_the_first_response_byte_for_byte(shop):
    body, key = _payment_body(shop), str(uuid.uuid4())
    first = shop.post("/v1/payments", body, idempotency_key=key)
    again = shop.post("/v1/payments", body, idempotency_key=key)

    assert first.status_code == again.status_code == 200
    assert again.data == first.data
    assert again.headers["Idempotent-Replayed"] == "true"
    assert _payments_of(shop.gw, shop.id) == 1
    assert shop.balance() == 10_000 - 60


def test_errors_are_replayed_too(shop):
    payment = shop.pay(1_000)
    key = str(uuid.uuid4())
    first = shop.post("/v1/refunds", {"payment": payment["id"], "amount": 5_000}, idempotency_key=key)
    again = shop.post("/v1/refunds", {"payment": payment["id"], "amount": 5_000}, idempotency_key=key)
    assert first.status_code == again.status_code == 400
    assert again.data == first.data


def test_same_key_other_body_is_422_and_changes_nothing(shop):
    key = str(uuid.uuid4())
    shop.post("/v1/payments", _payment_body(shop, 10_000), idempotency_key=key)
    other = shop.post("/v1/payments", _payment_body(shop, 20_000), idempotency_key=key)

    assert other.status_code == 422
    assert other.json["error"]["code"] == "idempotency_key_reused"
    assert _payments_of(shop.gw, shop.id) == 1


def test_keys_are_per_merchant(shop, other_shop):
    key = str(uuid.uuid4())
    mine = shop.post("/v1/payments", _payment_body(shop), idempotency_key=key)
    theirs = other_shop.post("/v1/payments", _payment_body(other_shop), idempotency_key=key)
    assert mine.status_code == theirs.status_code == 200
    assert mine.json["id"] != theirs.json["id"]


def test_key_reused_after_24_hours_starts_afresh(shop):
    from datetime import timedelta

    body, key = _payment_body(shop, 1_000), str(uuid.uuid4())
    first = shop.post("/v1/payments", body, idempotency_key=key).json
    real_clock = shop.gw.clock
    shop.gw.clock = lambda: real_clock() + timedelta(hours=24, seconds=1)
    try:
        later = shop.post("/v1/payments", body, idempotency_key=key)
    finally:
        shop.gw.clock = real_clock
    # The token was single-use, so the fresh attempt is judged on its own: it cannot pay again.
    assert later.status_code == 409
    assert later.json["error"]["code"] == "token_already_used"
    assert shop.get(f"/v1/payments/{first['id']}").json["status"] == "succeeded"


def test_duplicate_while_the_first_is_in_flight_is_409(pg_gateway):
    from tests.integration.conftest import Shop

    slow = with_bank_latency(pg_gateway, 400, idempotency_wait_seconds=0.0)
    shop = Shop(slow)
    body, key = _payment_body(shop), str(uuid.uuid4())
    other_client = create_app(gateway=slow).test_client()  # built first: it takes longer than the bank on a busy machine
    first_response = {}
    first = threading.Thread(target=lambda: first_response.update(r=shop.post("/v1/payments", body, idempotency_key=key)))
    first.start()
    _wait_until(lambda: _payments_of(slow, shop.id) == 1)

    duplicate = other_client.post(
        "/v1/payments", json=body, headers={"Authorization": f"Bearer {shop.merchant.secret_key}", "Idempotency-Key": key}
    )
    first.join()

    assert duplicate.status_code == 409
    assert duplicate.json["error"]["code"] == "idempotency_key_in_use"
    assert first_response["r"].status_code == 200
    assert _payments_of(slow, shop.id) == 1


def test_twenty_concurrent_identical_requests_make_one_payment(pg_gateway):
    from tests.integration.conftest import Shop

    shop = Shop(with_bank_latency(pg_gateway, 100))
    body, key = _payment_body(shop), str(uuid.uuid4())
    responses = _concurrently(20, lambda: shop.post("/v1/payments", body, idempotency_key=key))

    assert {r.status_code for r in responses} == {200}
    assert len({r.data for r in responses}) == 1
    payment_id = responses[0].json["id"]
    assert _payments_of(pg_gateway, shop.id) == 1
    with pg_gateway.db.unit_of_work() as session:
        entries = session.execute(select(func.count()).select_from(LedgerTransaction).where(LedgerTransaction.reference == payment_id)).scalar_one()
    assert entries == 1
    assert shop.balance() == 10_000 - 60


def _concurrently(n: int, call):
    barrier = threading.Barrier(n)
    results: list = [None] * n

    def run(i):
        barrier.wait()
        results[i] = call()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return results


def _wait_until(condition, timeout=10.0):
    import time

    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.01)


def test_an_answer_recorded_meanwhile_is_not_booked_again_and_the_key_replays_it(shop, monkeypatch):
    """The bank's approval reaches the payment by another path (a callback, reconciliation) while
    the request that asked is still on its way back: the request's own settling write finds the
    payment moved, books nothing more, and stores the payment as it is under its key."""
    from sqlalchemy import func, select

    from gateway.adapters.db.models import Event, LedgerTransaction
    from gateway.services import payments
    from gateway.services.ledger import verify

    connector = shop.gw.connector("sandbox_big_four")
    real = connector.authorize

    def answered_twice(request):
        result = real(request)
        payments.record_result(shop.gw, shop.id, request.payment_id, result)  # the other path, first
        return result

    monkeypatch.setattr(connector, "authorize", answered_twice)
    body = {"amount": 4_321, "currency": "CNY", "payment_method": shop.token(), "confirm": True}
    first = shop.post("/v1/payments", body, idempotency_key="moved-meanwhile")
    monkeypatch.setattr(connector, "authorize", real)
    replay = shop.post("/v1/payments", body, idempotency_key="moved-meanwhile")

    assert first.status_code == 200 and first.json["status"] == "succeeded"
    assert replay.headers.get("Idempotent-Replayed") == "true" and replay.json == first.json
    payment_id = first.json["id"]
    with shop.gw.db.unit_of_work() as session:
        captures = session.execute(select(func.count()).select_from(LedgerTransaction).where(LedgerTransaction.reference == payment_id)).scalar_one()
        events = [e.type for e in session.execute(select(Event).where(Event.merchant_id == shop.id)).scalars() if e.data["id"] == payment_id]
    assert captures == 1
    assert events == ["payment.succeeded"]
    assert verify(shop.gw).ok
