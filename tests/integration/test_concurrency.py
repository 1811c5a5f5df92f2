"""Concurrency never moves money twice (PostgreSQL, real row locks)."""
from __future__ import annotations

import uuid

from sqlalchemy import func, select

from gateway.adapters.db.models import Refund
from gateway.services.ledger import verify
from tests.integration.conftest import Shop, with_bank_latency
from tests.integration.test_idempotency import _concurrently


def test_twenty_concurrent_partial_refunds_never_exceed_the_payment(pg_gateway):
    shop = Shop(with_bank_latency(pg_gateway, 20))
    payment = shop.pay(10_000)

    responses = _concurrently(20, lambda: shop.post("/v1/refunds", {"payment": payment["id"], "amount": 700}, idempotency_key=str(uuid.uuid4())))

    accepted = [r for r in responses if r.status_code == 200]
    refused = [r for r in responses if r.status_code != 200]
    assert len(accepted) == 14  # 14 x 7.00 = 98.00 fits in 100.00; a 15th would not
    assert {r.json["error"]["code"] for r in refused} == {"amount_too_large"}
    assert shop.get(f"/v1/payments/{payment['id']}").json["amount_refunded"] == 9_800
    with pg_gateway.db.unit_of_work() as session:
        stored = session.execute(select(func.sum(Refund.amount)).where(Refund.payment_id == payment["id"], Refund.status == "succeeded")).scalar_one()
    assert stored == 9_800
    assert shop.balance() == 10_000 - 60 - 9_800
    assert verify(pg_gateway).ok


def test_concurrent_confirms_charge_once(pg_gateway):
    shop = Shop(with_bank_latency(pg_gateway, 50))
    payment = shop.pay(5_000, confirm=False)

    responses = _concurrently(10, lambda: shop.post(f"/v1/payments/{payment['id']}/confirm", {}))

    assert sorted(r.status_code for r in responses) == [200] + [409] * 9
    assert shop.balance() == 5_000 - 30


def test_concurrent_captures_capture_once(pg_gateway):
    shop = Shop(with_bank_latency(pg_gateway, 20))
    held = shop.pay(5_000, capture_method="manual")

    responses = _concurrently(10, lambda: shop.post(f"/v1/payments/{held['id']}/capture", {}))

    assert sorted(r.status_code for r in responses) == [200] + [409] * 9
    assert shop.balance() == 5_000 - 30
