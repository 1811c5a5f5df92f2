"""Prometheus metrics (prometheus-client), one definition per family for every process.

Under gunicorn the API runs in several worker processes: `paygate serve` points
PROMETHEUS_MULTIPROC_DIR at an emptied directory before gunicorn starts, every worker writes its
samples there, gunicorn's child_exit hook marks a dead worker (gateway/entrypoints/gunicorn_conf.py),
and `GET /metrics` sums them all (MultiProcessCollector). `paygate worker` and `paygate ingest`
serve their own with `--metrics-port`.

Counters that follow a database change are counted when its transaction commits
(`after_commit`), so a rolled-back payment is never counted.
"""
from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
    start_http_server,
)

HTTP_REQUESTS = Counter("paygate_http_requests", "API requests answered, by route template and status.",
                        ["method", "route", "status"])
HTTP_LATENCY = Histogram("paygate_http_request_duration_seconds", "Time to answer an API request.", ["method", "route"],
                         buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
PAYMENTS = Counter("paygate_payments", "Payments reaching a state merchants hear about, by status and failure code.",
                   ["status", "failure_code"])
BANK_CALLS = Histogram("paygate_bank_call_duration_seconds", "Time a bank or wallet connector call took.",
                       ["connector", "operation", "outcome"],
                       buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
IDEMPOTENT_REPLAYS = Counter("paygate_idempotent_replays", "Requests answered from a stored Idempotency-Key response.")
LEDGER_TRANSACTIONS = Counter("paygate_ledger_transactions", "Balanced ledger transactions committed, by kind.", ["kind"])
WEBHOOK_DELIVERIES = Counter("paygate_webhook_deliveries", "Webhook delivery attempts, by outcome (delivered, failed).",
                             ["outcome"])
WEBHOOK_RETRIES = Counter("paygate_webhook_retries", "Webhook delivery attempts after the first for the same event.")
QUEUE_DEPTH = Gauge("paygate_queue_depth", "Jobs due in a worker queue at the last look.", ["queue"],
                    multiprocess_mode="mostrecent")
QUEUE_AGE = Gauge("paygate_queue_oldest_age_seconds", "How long the oldest due job of a worker queue has waited.",
                  ["queue"], multiprocess_mode="mostrecent")
INGEST_STORED = Counter("paygate_ingest_messages_stored", "Device messages verified and stored by ingest.")
INGEST_REJECTED = Counter("paygate_ingest_messages_rejected", "Device messages ingest refused, by reason.", ["reason"])
FUND_ACCRUAL = Histogram("paygate_fund_accrual_duration_seconds", "Time one daily fund accrual run took.",
                         buckets=(0.1, 0.5, 1, 5, 10, 30, 60, 300, 900))
MQTT_CONNECTED = Gauge("paygate_mqtt_connected", "1 while this process's MQTT client is connected to the broker.",
                       ["client"], multiprocess_mode="livemax")


def exposition() -> tuple[bytes, str]:
    """(body, content type) of every metric of this process, or of all gunicorn workers when
    PROMETHEUS_MULTIPROC_DIR is set."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


def serve(port: int, address: str = "0.0.0.0") -> None:
    """Serve /metrics of this process on its own port (worker, ingest), in a daemon thread."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        start_http_server(port, address, registry=registry)
    else:
        start_http_server(port, address)


def on_commit(session, count: Callable[[], None]) -> None:
    """Run `count` once the session's transaction commits (see Database.unit_of_work)."""
    session.info.setdefault("after_commit", []).append(count)


def count_payment(session, status: str, failure_code: str | None) -> None:
    on_commit(session, PAYMENTS.labels(status, failure_code or "").inc)


def count_ledger_transaction(session, kind: str) -> None:
    on_commit(session, LEDGER_TRANSACTIONS.labels(kind).inc)


@contextmanager
def timed_bank_call(connector: str, operation: str) -> Iterator[None]:
    started = time.perf_counter()
    outcome = "error"
    try:
        yield
        outcome = "answered"
    finally:
        BANK_CALLS.labels(connector, operation, outcome).observe(time.perf_counter() - started)


@contextmanager
def timed_fund_accrual() -> Iterator[None]:
    """For the fund's daily accrual job: `with timed_fund_accrual(): accrue(...)`."""
    with FUND_ACCRUAL.time():
        yield
