"""`paygate serve` as an operator runs it: gunicorn with two workers, JSON log lines on stderr,
/metrics summed over the workers; and the CLI on a database nobody migrated."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from click.testing import CliRunner

from gateway.domain.sandbox_cards import sandbox_card_number
from gateway.entrypoints.cli import main
from tests.integration.conftest import approved_last4
from tests.integration.test_observability import samples, value
from tests.support import services
from tests.support.services import free_port

PAYMENTS = 8


def _env(var_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAYGATE_") and k != "PROMETHEUS_MULTIPROC_DIR"}
    return {**env, "PAYGATE_VAR_DIR": str(var_dir), **extra}


def _paygate(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gateway.entrypoints.cli", *args], env=env, capture_output=True,
                          text=True, timeout=120)


def _call(base: str, path: str, key: str, body: dict | None = None, request_id: str | None = None) -> tuple[int, dict, dict]:
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json", "Connection": "close"}
    if request_id:
        headers["X-Request-Id"] = request_id
    request = urllib.request.Request(base + path, json.dumps(body).encode() if body is not None else None, headers)
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.status, dict(response.headers), json.loads(response.read())


def test_gunicorn_logs_json_without_the_card_number_and_metrics_add_up_across_workers(tmp_path):
    var_dir = tmp_path / "var"
    # A slow sandbox bank keeps a worker busy, so concurrent payments land on both workers.
    env = _env(var_dir, PAYGATE_SANDBOX_LATENCY_MS="300", PAYGATE_SANDBOX_ENDPOINTS="1")
    assert _paygate("db", "upgrade", env=env).returncode == 0
    keys = json.loads(_paygate("merchant", "create", "Served Shop", env=env).stdout)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    stderr_path = tmp_path / "serve.log"
    with open(stderr_path, "wb") as stderr:
        server = subprocess.Popen([sys.executable, "-m", "gateway.entrypoints.cli", "serve", "--bind", f"127.0.0.1:{port}",
                                   "--workers", "2"], env=env, stdout=stderr, stderr=subprocess.STDOUT)
    try:
        services.wait_until_listening(server, port, stderr_path)
        cards = [sandbox_card_number("ICBC", approved_last4()) for _ in range(PAYMENTS)]

        def pay(number: int) -> tuple[int, dict, dict]:
            _, _, token = _call(base, "/v1/tokens", keys["publishable_key"],
                                {"card_number": cards[number], "holder_name": "Li Lei", "exp_month": 12,
                                 "exp_year": 2031, "cvv": "123"})
            return _call(base, "/v1/payments", keys["secret_key"],
                         {"amount": 1_000, "currency": "CNY", "payment_method": token["id"], "confirm": True},
                         request_id=f"test-pay-{number}")

        with ThreadPoolExecutor(PAYMENTS) as pool:
            answers = list(pool.map(pay, range(PAYMENTS)))
        assert all(status == 200 and headers["X-Request-Id"] == f"test-pay-{n}" and body["object"] == "payment"
                   for n, (status, headers, body) in enumerate(answers))

        with urllib.request.urlopen(base + "/metrics", timeout=10) as response:
            scraped = samples(response.read().decode())
        assert value(scraped, "paygate_http_requests_total", method="POST", route="/v1/payments", status="200") == PAYMENTS
        assert value(scraped, "paygate_http_requests_total", method="POST", route="/v1/tokens", status="200") == PAYMENTS
        paid = sum(v for (name, _labels), v in scraped.items() if name == "paygate_payments_total")
        assert paid == PAYMENTS
        # Both workers answered some of them: each keeps its own samples file, and the scrape summed them.
        metrics_dir = var_dir / "metrics" / f"127.0.0.1_{port}"
        workers = {path.stem.rsplit("_", 1)[-1] for path in metrics_dir.glob("counter_*.db")}
        assert len(workers) == 2, workers
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)

    lines = [line for line in stderr_path.read_text().splitlines() if line.strip()]
    records = [json.loads(line) for line in lines]  # every line is one JSON object
    assert all({"time", "level", "event"} <= set(record) for record in records)
    assert not [line for line in lines for card in cards if card in line]
    access = [r for r in records if r.get("logger") == "gateway.access" and r["route"] == "/v1/payments"]
    assert sorted(r["request_id"] for r in access) == sorted(f"test-pay-{n}" for n in range(PAYMENTS))
    assert all(r["merchant_id"] == keys["id"] and r["status"] == 200 and r["duration_ms"] > 0 for r in access)
    assert any(r.get("logger") == "gunicorn.error" and "Booting worker" in r["event"] for r in records)
    assert any(f"dashboard sign-in at http://127.0.0.1:{port}/dashboard/sign-in" in r["event"] for r in records)


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_a_command_on_an_unmigrated_database_says_so_in_one_line(database, tmp_path, request):
    if database == "sqlite":
        url = f"sqlite:///{tmp_path / 'never-migrated.db'}"
    else:
        admin_url = request.getfixturevalue("postgres_admin_url")
        url = services.create_database(admin_url)
        request.addfinalizer(lambda: services.drop_database(admin_url, url))
    env = _env(tmp_path / "var", PAYGATE_DATABASE_URL=url)
    result = _paygate("merchant", "create", "Too Early", env=env)
    assert result.returncode == 2
    # (A first run may also note that it generated development vault keys.)
    assert result.stderr.splitlines()[-1] == "database not migrated: run paygate db upgrade"
    assert "Traceback" not in result.stderr and result.stdout == ""
    in_process = CliRunner().invoke(main, ["ledger", "verify"], env={"PAYGATE_DATABASE_URL": url})
    assert in_process.exit_code == 2 and in_process.output.strip() == "database not migrated: run paygate db upgrade"
    # Long-running commands check before they start, rather than fail on every request or job.
    for command in (["serve", "--bind", f"127.0.0.1:{free_port()}"], ["worker"], ["ingest", "--name", "early"]):
        started = _paygate(*command, env=env)
        assert (started.returncode, started.stderr.splitlines()[-1]) == (2, "database not migrated: run paygate db upgrade"), command


def test_var_dir_holds_the_default_database_and_keys(tmp_path):
    var_dir = tmp_path / "elsewhere"
    env = _env(var_dir)
    assert _paygate("db", "upgrade", env=env).returncode == 0
    assert _paygate("merchant", "create", "Local", env=env).returncode == 0
    assert (var_dir / "paygate.db").is_file() and (var_dir / "dev-vault-keys.json").is_file()
    assert not (tmp_path / "var").exists()


def test_a_worker_serves_its_metrics_on_its_own_port(tmp_path):
    env = _env(tmp_path / "var")
    assert _paygate("db", "upgrade", env=env).returncode == 0
    port = free_port()
    worker = subprocess.Popen([sys.executable, "-m", "gateway.entrypoints.cli", "worker", "--metrics-port", str(port)],
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        scraped: dict = {}
        while ("paygate_queue_depth", (("queue", "webhooks"),)) not in scraped:
            assert worker.poll() is None and time.monotonic() < deadline, worker.stderr.read().decode()
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as response:
                    scraped = samples(response.read().decode())
            except OSError:
                time.sleep(0.2)
        assert value(scraped, "paygate_queue_depth", queue="webhooks") == 0
    finally:
        worker.send_signal(signal.SIGTERM)
        _, stderr = worker.communicate(timeout=30)
    assert worker.returncode == 0
    assert all(json.loads(line)["level"] for line in stderr.decode().splitlines() if line.strip())
