"""`kill -9` of a background process in the middle of its work: the due-debit worker mid-batch
and the webhook worker mid-delivery. A restarted process (after the dead one's leases ran out,
moved forward on the sandbox clock) finishes the work: every installment debited once, every
event delivered, the ledger sound."""
from __future__ import annotations

import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from bench.installments import seed
from gateway.domain.installments import UNSENT_RETRY, Method
from gateway.services.installment_plans import ProductTerms, create_product
from gateway.services.sandbox import advance_clock
from tests.support.processes import Process, wait_for

pytestmark = pytest.mark.faults

PLANS = 60


def travel(deployment, delta: timedelta) -> None:
    """Every process's time jumps (the sandbox clock lives in the database)."""
    advance_clock(deployment.gw.sandbox_clock, deployment.gw.clock() + delta)


def test_a_due_debit_worker_killed_mid_batch_debits_no_installment_twice(deployment, tmp_path):
    gw, merchant_id = deployment.gw, deployment.shop.id
    product = create_product(gw, merchant_id, ProductTerms("Phone", [3], Method.EQUAL_PRINCIPAL))
    seed(gw, merchant_id, product.id, n_customers=6, n_installments=PLANS)  # installment 1 of each due today
    # A slow bank, so the kill lands while the batch is at the bank.
    env = deployment.env(sandbox_latency_ms="400")
    worker = Process(["worker", "--queue", "installments", "--interval", "0.2"], env, tmp_path / "worker-1.log").start()
    try:
        wait_for(lambda: deployment.books.installments_by_status(merchant_id).get("collecting"), 30,
                 what="the worker to claim a batch", diagnose=worker.tail)
        worker.kill9()
        killed_with = deployment.books.installments_by_status(merchant_id)
        assert killed_with.get("paid", 0) < PLANS, "the batch finished before the kill: nothing was tested"

        # The dead worker's claims come back when their lease ends: reconciliation asks the bank
        # about each debit the worker had started (taken: paid; never reached the bank: sent
        # again within minutes, the same day, not counted as a failed attempt).
        travel(deployment, timedelta(minutes=3))
        worker = Process(["worker", "--queue", "installments", "--queue", "reconciliation", "--interval", "0.2"],
                         deployment.env(), tmp_path / "worker-2.log").start()
        status = lambda: deployment.books.installments_by_status(merchant_id)  # noqa: E731
        wait_for(lambda: not status().get("collecting"), 60, what="the killed worker's claims settled",
                 diagnose=lambda: f"{status()}\n{worker.tail()}")
        travel(deployment, UNSENT_RETRY + timedelta(minutes=1))
        wait_for(lambda: status().get("paid") == PLANS, 60, what=f"all {PLANS} due installments paid the same day",
                 diagnose=lambda: f"{status()}\n{worker.tail()}")
    finally:
        worker.stop()
    assert deployment.books.installments_debited_twice() == []
    deployment.assert_books_clean()


class Receiver(ThreadingHTTPServer):
    """A merchant's webhook endpoint, slow to answer: records each event id it is sent."""

    def __init__(self) -> None:
        self.received: list[str] = []
        self.lock = threading.Lock()

        class Handler(BaseHTTPRequestHandler):
            def do_POST(handler) -> None:  # noqa: N805 - the handler, inside the receiver
                handler.rfile.read(int(handler.headers["Content-Length"]))
                threading.Event().wait(0.15)
                with self.lock:
                    self.received.append(handler.headers["Paygate-Event-Id"])
                handler.send_response(200)
                handler.end_headers()

            def log_message(self, *args) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/hooks"


def test_the_webhook_worker_killed_mid_delivery_loses_no_event(deployment, tmp_path):
    shop = deployment.shop
    receiver = Receiver()
    endpoint = shop.post("/v1/webhook_endpoints", {"url": receiver.url, "enabled_events": ["*"]})
    assert endpoint.status_code == 200, endpoint.json
    for _ in range(8):
        shop.pay(1_000)
    events = {row[0] for row in deployment.books.rows("SELECT id FROM events WHERE merchant_id = :m", m=shop.id)}
    assert len(events) >= 8

    env = deployment.env(webhook_batch="4", webhook_timeout_seconds="2")
    worker = Process(["worker", "--queue", "webhooks", "--interval", "0.2"], env, tmp_path / "webhooks-1.log").start()
    try:
        wait_for(lambda: len(receiver.received) >= 2, 30, what="deliveries to start", diagnose=worker.tail)
        worker.kill9()
        assert len(set(receiver.received)) < len(events), "every event went out before the kill: nothing was tested"

        travel(deployment, timedelta(minutes=3))  # the dead worker's claims (lease: a batch's time-outs + 60 s) end
        worker = Process(["worker", "--queue", "webhooks", "--interval", "0.2"], env, tmp_path / "webhooks-2.log").start()
        wait_for(lambda: set(receiver.received) >= events, 60, what="every event delivered",
                 diagnose=lambda: f"missing {events - set(receiver.received)}\n{worker.tail()}")
        wait_for(lambda: not deployment.books.scalar("SELECT count(*) FROM webhook_deliveries WHERE status <> 'succeeded'"),
                 10, what="every delivery recorded as succeeded")
    finally:
        worker.stop()
        receiver.shutdown()
    # At least once by design (a receiver dedupes by event id): the only repeats are the
    # deliveries the kill cut short, at most one batch.
    repeats = len(receiver.received) - len(set(receiver.received))
    assert repeats <= 4, receiver.received
    deployment.assert_books_clean()
