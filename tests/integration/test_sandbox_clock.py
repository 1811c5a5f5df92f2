"""The sandbox clock (POST /v1/sandbox/clock): one time for every process of a deployment, kept in
the database; only forward; only in test mode. On SQLite and PostgreSQL."""
from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime, time, timedelta, timezone
from pathlib import Path

from gateway.app import create_app
from gateway.bootstrap import Gateway
from gateway.config import Settings
from gateway.domain.clock import BEIJING
from gateway.entrypoints.workers.runner import run
from tests.integration.conftest import Shop, make_gateway

REPO = Path(__file__).resolve().parents[2]


def _now(shop: Shop) -> datetime:
    response = shop.get("/v1/sandbox/clock")
    assert response.status_code == 200, response.json
    return datetime.fromisoformat(response.json["now"])


def _advance(shop: Shop, moment: datetime):
    return shop.post("/v1/sandbox/clock", {"advance_to": moment.isoformat()})


def test_two_app_instances_on_one_database_see_the_same_advanced_time(own_database_url, tmp_path):
    first = Shop(make_gateway(own_database_url, tmp_path))
    second = Shop(make_gateway(own_database_url, tmp_path), merchant=first.merchant)  # its own cache
    second.pay(1_000)  # the second instance has read its clock (and keeps what it read)
    target = _now(first) + timedelta(days=40)

    moved = _advance(first, target)

    assert moved.status_code == 200, moved.json
    assert abs(datetime.fromisoformat(moved.json["now"]) - target) < timedelta(seconds=5)
    assert moved.json["offset_seconds"] >= 40 * 86_400 - 5
    # The second instance's next request runs on the advanced time. (Each test gateway's
    # banking-hours base started on its own, a moment apart: hence "about".)
    payment = second.pay(1_000)
    assert abs(payment["created"] - target.timestamp()) < 5
    assert abs(_now(second) - target) < timedelta(seconds=5)


def test_time_only_moves_forward_and_reset_returns_to_real_time(own_database_url, tmp_path):
    shop = Shop(make_gateway(own_database_url, tmp_path))
    start = _now(shop)
    assert _advance(shop, start + timedelta(days=3)).status_code == 200

    back = _advance(shop, start + timedelta(days=1))

    assert back.status_code == 400
    assert back.json["error"]["code"] == "clock_cannot_go_back" and back.json["error"]["param"] == "advance_to"
    assert _now(shop) >= start + timedelta(days=3)  # the refused move changed nothing
    reset = shop.post("/v1/sandbox/clock", {"reset": True})
    assert reset.status_code == 200 and reset.json["offset_seconds"] == 0
    assert _now(shop) < start + timedelta(hours=1)


def test_bad_moves_are_400_and_change_nothing(own_database_url, tmp_path):
    shop = Shop(make_gateway(own_database_url, tmp_path))
    for body in ({}, {"reset": False}, {"advance_to": "2030-01-01T00:00:00+00:00", "reset": True},
                 {"advance_to": "tomorrow"}, {"advance_to": "2030-01-01T00:00:00"}, {"reset": "yes"}):
        response = shop.post("/v1/sandbox/clock", body)
        assert response.status_code == 400, (body, response.json)
        assert response.json["error"]["type"] == "invalid_request_error"
    assert shop.get("/v1/sandbox/clock").json["offset_seconds"] == 0


def test_without_the_sandbox_setting_there_is_no_clock_to_move(own_database_url, tmp_path):
    live = make_gateway(own_database_url, tmp_path, sandbox_endpoints=False)
    shop = Shop(live)
    assert shop.get("/v1/sandbox/clock").status_code == 404
    assert shop.post("/v1/sandbox/clock", {"advance_to": "2030-01-01T00:00:00+00:00"}).status_code == 404
    assert live.sandbox_clock is None
    real = Gateway.from_settings(Settings.load({"database_url": own_database_url, "var_dir": tmp_path}))
    assert abs(real.clock() - datetime.now(timezone.utc)) < timedelta(seconds=1)
    real.db.dispose()


def test_the_clock_endpoints_are_in_the_contract(gateway):
    spec = create_app(gateway=gateway).test_client().get("/openapi.json").json
    assert {"get", "post"} <= set(spec["paths"]["/v1/sandbox/clock"])
    assert "advance_to" in spec["components"]["schemas"]["ClockMove"]["properties"]


def _next_noon_in_beijing(after: datetime) -> datetime:
    noon = datetime.combine(after.astimezone(BEIJING).date(), time(12), BEIJING)
    return noon if noon > after else noon + timedelta(days=1)


def test_a_due_installment_is_collected_by_a_worker_process_after_the_clock_passes_its_due_date(own_database_url, tmp_path):
    # Real time underneath, as in a deployment, so that the worker process (which reads the system
    # clock plus the stored offset) and this one agree; the clock first goes to banking hours.
    settings = Settings.load({"database_url": own_database_url, "var_dir": tmp_path, "sandbox_latency_ms": 0, "sandbox_endpoints": True})
    gw = Gateway.from_settings(settings)
    shop = Shop(gw)
    assert _advance(shop, _next_noon_in_beijing(_now(shop))).status_code == 200
    product = shop.post("/v1/installment_products", {"name": "Phone 12 months", "terms": [12], "method": "equal_installment", "apr": "12",
                                                     "down_payment_share": "0.1", "grace_days": 5}).json
    customer = shop.customer()
    card = shop.saved_card(customer["id"])
    plan = shop.post("/v1/installment_plans", {"customer": customer["id"], "card": card["id"], "product": product["id"],
                                               "term_months": 12, "amount": 399_900}).json
    first_due = datetime.combine(datetime.fromisoformat(plan["schedule"][0]["due_date"]).date(), time(12), BEIJING)
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("PAYGATE_")}, "PYTHONPATH": str(REPO),
           "PAYGATE_DATABASE_URL": own_database_url, "PAYGATE_VAR_DIR": str(tmp_path), "PAYGATE_SANDBOX_ENDPOINTS": "1",
           "PAYGATE_SANDBOX_LATENCY_MS": "0"}

    def worker() -> None:
        result = subprocess.run([sys.executable, "-m", "gateway.entrypoints.cli", "worker", "--queue", "installments", "--once"],
                                env=env, capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stdout + result.stderr

    worker()  # not due yet: nothing collected
    assert shop.get(f"/v1/installment_plans/{plan['id']}").json["schedule"][0]["status"] != "paid"

    assert _advance(shop, first_due).status_code == 200
    worker()

    seen = shop.get(f"/v1/installment_plans/{plan['id']}").json
    assert seen["schedule"][0]["status"] == "paid"
    assert seen["schedule"][1]["status"] != "paid"

    # A long-running worker (its own gateway, its clock read already) sees the next move at its
    # next pass, not a second later.
    worker_gw = Gateway.from_settings(settings)
    assert worker_gw.clock() < first_due + timedelta(days=20)
    second_due = datetime.combine(datetime.fromisoformat(seen["schedule"][1]["due_date"]).date(), time(12), BEIJING)
    assert _advance(shop, second_due).status_code == 200
    assert run(worker_gw, ["installments"], once=True) >= 1
    assert shop.get(f"/v1/installment_plans/{plan['id']}").json["schedule"][1]["status"] == "paid"
    worker_gw.db.dispose()
    gw.db.dispose()
