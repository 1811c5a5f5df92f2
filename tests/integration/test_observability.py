"""Structured logs, redaction and Prometheus metrics of the API, in-process."""
from __future__ import annotations

import io
import json
import logging
import uuid

import pytest
from prometheus_client.parser import text_string_to_metric_families

from gateway.domain.sandbox_cards import sandbox_card_number
from gateway.observability import logs
from tests.integration.conftest import Shop

CARD = sandbox_card_number("ICBC", "4242")
RESIDENT_ID = "11010519491231002X"
MOBILE = "13800138000"


@pytest.fixture
def log_lines():
    """Everything logged while the test runs, rendered as the JSON lines a pipeline would read."""
    stream = io.StringIO()
    logs.configure("json", "DEBUG", stream)
    yield lambda: [line for line in stream.getvalue().splitlines() if line]
    logs.configure("json", "INFO")


def test_personal_numbers_are_masked_in_every_field(log_lines):
    spaced = " ".join(CARD[i:i + 4] for i in range(0, len(CARD), 4))
    logs.get_logger("test").info(f"charging {CARD}", customer={"id_number": RESIDENT_ID, "phones": [f"+86 {MOBILE}"]},
                                 card=int(CARD), note=f"card {spaced}")
    logging.getLogger("stdlib").warning("resident %s mobile %s", RESIDENT_ID, MOBILE)
    try:
        raise ValueError(f"bad card {CARD} for {RESIDENT_ID}")
    except ValueError:
        logs.get_logger("test").exception("failed")
    lines = log_lines()
    assert len(lines) == 3
    records = [json.loads(line) for line in lines]
    for line in lines:
        for secret in (CARD, spaced, RESIDENT_ID, MOBILE):
            assert secret not in line
    first = records[0]
    assert first["event"] == "charging [card ...4242]" and first["card"] == "[card ...4242]"
    assert first["note"] == "card [card ...4242]"
    assert first["customer"] == {"id_number": "[resident id]", "phones": ["[mobile]"]}
    assert records[1]["event"] == "resident [resident id] mobile [mobile]" and records[1]["level"] == "warning"
    assert "ValueError: bad card [card ...4242] for [resident id]" in records[2]["exception"]
    assert {"time", "level", "event", "logger"} <= set(first)


def test_the_console_format_masks_them_too():
    stream = io.StringIO()
    logs.configure("console", "INFO", stream)
    try:
        try:
            raise ValueError(f"bad card {CARD}")
        except ValueError:
            logs.get_logger("test").exception("failed", mobile=MOBILE, id_number=RESIDENT_ID)
    finally:
        logs.configure("json", "INFO")
    rendered = stream.getvalue()
    assert "ValueError: bad card [card ...4242]" in rendered and "mobile=[mobile]" in rendered
    assert CARD not in rendered and MOBILE not in rendered and RESIDENT_ID not in rendered


def test_ordinary_numbers_are_left_alone(log_lines):
    logs.get_logger("test").info("batch", amount=399900, created=1764489600123, order="A-20261130-0001")
    record = json.loads(log_lines()[0])
    assert (record["amount"], record["created"], record["order"]) == (399900, 1764489600123, "A-20261130-0001")


def test_a_request_logs_one_access_line_with_its_request_id(gateway, log_lines):
    shop = Shop(gateway)
    response = shop.client.post("/v1/tokens", json={"card_number": CARD, "holder_name": "Li Lei", "exp_month": 12,
                                                     "exp_year": 2031, "cvv": "123"},
                                headers={"Authorization": f"Bearer {shop.merchant.publishable_key}",
                                         "X-Request-Id": "order-77.retry-1"})
    assert response.status_code == 200 and response.headers["X-Request-Id"] == "order-77.retry-1"
    made = shop.client.get("/v1/balance", headers={"Authorization": f"Bearer {shop.merchant.secret_key}",
                                                   "X-Request-Id": "bad id\twith a tab"})
    assert made.headers["X-Request-Id"].startswith("req_")
    access = [json.loads(line) for line in log_lines() if '"gateway.access"' in line]
    assert [(a["route"], a["status"], a["request_id"], a["merchant_id"]) for a in access] == [
        ("/v1/tokens", 200, "order-77.retry-1", shop.id), ("/v1/balance", 200, made.headers["X-Request-Id"], shop.id)]
    assert all(a["duration_ms"] >= 0 and a["method"] in ("GET", "POST") for a in access)
    assert all(CARD not in line for line in log_lines())


def samples(text: str) -> dict[tuple[str, tuple], float]:
    """Prometheus text, parsed by prometheus_client's parser: (name, sorted labels) -> value."""
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}


def value(parsed, name: str, **labels) -> float:
    return parsed.get((name, tuple(sorted(labels.items()))), 0.0)


def _scrape(client) -> dict[tuple[str, tuple], float]:
    response = client.get("/metrics")
    assert response.status_code == 200 and response.content_type.startswith("text/plain")
    return samples(response.get_data(as_text=True))


def test_metrics_count_a_payment_its_ledger_entry_its_bank_call_and_a_replay(gateway):
    shop = Shop(gateway)
    before = _scrape(shop.client)
    body = {"amount": 10_000, "currency": "CNY", "payment_method": shop.token(), "confirm": True}
    key = str(uuid.uuid4())
    first = shop.post("/v1/payments", body, idempotency_key=key)
    replay = shop.post("/v1/payments", body, idempotency_key=key)
    declined = shop.pay(10_000, last4="0002")
    after = _scrape(shop.client)

    assert first.json["status"] == "succeeded" and replay.headers["Idempotent-Replayed"] == "true"
    assert declined["status"] == "failed"

    def grew(name: str, **labels) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert grew("paygate_payments_total", status="succeeded", failure_code="") == 1
    assert grew("paygate_payments_total", status="failed", failure_code="insufficient_funds") == 1
    assert grew("paygate_http_requests_total", method="POST", route="/v1/payments", status="200") == 3
    assert grew("paygate_http_request_duration_seconds_count", method="POST", route="/v1/payments") == 3
    assert grew("paygate_idempotent_replays_total") == 1
    assert grew("paygate_ledger_transactions_total", kind="capture") == 1
    assert grew("paygate_bank_call_duration_seconds_count", connector="sandbox_big_four", operation="authorize",
                outcome="answered") == 2


def test_a_worker_measures_its_queues_and_counts_webhook_attempts(gateway):
    from prometheus_client import REGISTRY, generate_latest

    from gateway.entrypoints.workers.runner import measure_backlog
    from gateway.entrypoints.workers.webhooks import deliver_due

    shop = Shop(gateway)
    # Nothing listens on port 9 of loopback: every attempt fails and is retried later.
    assert shop.post("/v1/webhook_endpoints", {"url": "http://127.0.0.1:9/hook", "enabled_events": ["payment.succeeded"]}).status_code == 200
    shop.pay(10_000)
    before = samples(generate_latest(REGISTRY).decode())
    measure_backlog(gateway, ["webhooks", "maintenance", "not-a-queue"])
    measured = samples(generate_latest(REGISTRY).decode())
    assert value(measured, "paygate_queue_depth", queue="webhooks") >= 1
    assert value(measured, "paygate_queue_oldest_age_seconds", queue="webhooks") >= 0
    assert ("paygate_queue_depth", (("queue", "maintenance"),)) in measured
    attempts = deliver_due(gateway, batch=50, timeout=2)
    after = samples(generate_latest(REGISTRY).decode())
    assert attempts >= 1
    assert sum(value(after, "paygate_webhook_deliveries_total", outcome=outcome)
               - value(before, "paygate_webhook_deliveries_total", outcome=outcome)
               for outcome in ("delivered", "failed")) == attempts


def test_an_unhandled_error_is_logged_once_without_its_sql_parameters(gateway, log_lines):
    from sqlalchemy import text

    from gateway.app import create_app

    app = create_app(gateway=gateway)

    @app.route("/boom")
    def boom():
        parameters = {"secret": "parameter-value-" + "77"}  # (the traceback quotes only the failing line)
        with gateway.db.unit_of_work() as session:
            session.execute(text("INSERT INTO no_such_table (secret) VALUES (:secret)"), parameters)

    response = app.test_client().get("/boom", headers={"X-Request-Id": "boom-1"})
    assert response.status_code == 500 and response.json["error"]["code"] == "internal_error"
    records = [json.loads(line) for line in log_lines()]
    errors = [r for r in records if "exception" in r]
    assert len(errors) == 1 and errors[0]["request_id"] == "boom-1" and "no_such_table" in errors[0]["exception"]
    assert all("parameter-value-77" not in line for line in log_lines())


def test_ingest_counts_stored_and_rejected_messages_by_reason():
    from collections import Counter

    from prometheus_client import REGISTRY, generate_latest

    from gateway.entrypoints.mqtt.ingest import IngestStats
    from gateway.services.device_ingest import BatchResult

    before = samples(generate_latest(REGISTRY).decode())
    IngestStats().add(BatchResult(stored=7, rejections=Counter({"bad_signature": 2, "duplicate_sequence": 1})))
    after = samples(generate_latest(REGISTRY).decode())
    assert value(after, "paygate_ingest_messages_stored_total") - value(before, "paygate_ingest_messages_stored_total") == 7
    for reason, count in (("bad_signature", 2), ("duplicate_sequence", 1)):
        assert (value(after, "paygate_ingest_messages_rejected_total", reason=reason)
                - value(before, "paygate_ingest_messages_rejected_total", reason=reason)) == count
