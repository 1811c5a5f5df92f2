"""A gateway worker dies in the middle of a payment (as under `kill -9`: the process exits at the
named step, PAYGATE_FAULT_AT), and the client retries with the same Idempotency-Key once the
dead request's lease is over. The retry resumes from the last committed step: the bank is never
charged twice, the answer is the payment's real result, and the ledger verifies."""
from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import text

from gateway.adapters.db.sandbox_clock import system_clock
from gateway.domain.sandbox_cards import sandbox_card_number
from gateway.services.ledger import verify
from gateway.services.merchants import create_merchant
from gateway.services.tokens import create_card_token
from tests.integration.conftest import approved_last4, make_gateway
from tests.support import services
from tests.support.services import free_port

pytestmark = pytest.mark.faults

LEASE_SECONDS = 1

# step -> (the payment's final status, approved debits at the bank, whether the retry is a replay)
STEPS = {
    # Died inside the first transaction: nothing committed, the retry pays from scratch.
    "creating_payment": ("succeeded", 1, False),
    # Died after committing the payment, before asking the bank: the bank has no record of it,
    # which the resumed request applies (the payment fails; nobody is charged).
    "payment_created": ("failed", 0, False),
    # Died after the bank approved, before recording it: the retry asks the bank and books it.
    "bank_answered": ("succeeded", 1, False),
    # Died after committing the outcome and the response, before sending it: replayed.
    "settled": ("succeeded", 1, True),
}


@pytest.fixture(scope="module")
def database(request):
    admin_url = request.getfixturevalue("postgres_admin_url")
    url = services.create_database(admin_url)
    request.addfinalizer(lambda: services.drop_database(admin_url, url))
    from gateway.adapters.db.schema import upgrade

    upgrade(url)
    return url


@contextmanager
def served(database: str, var_dir: Path, log: Path, **extra: str):
    """`paygate serve` with one gunicorn worker, on a free port; its base URL."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAYGATE_") and k != "PROMETHEUS_MULTIPROC_DIR"}
    env |= {"PAYGATE_DATABASE_URL": database, "PAYGATE_VAR_DIR": str(var_dir), "PAYGATE_SANDBOX_ENDPOINTS": "1",
            "PAYGATE_SANDBOX_LATENCY_MS": "0", "PAYGATE_IDEMPOTENCY_LEASE_SECONDS": str(LEASE_SECONDS), **extra}
    port = free_port()
    with open(log, "ab") as out:
        server = subprocess.Popen([sys.executable, "-m", "gateway.entrypoints.cli", "serve", "--bind", f"127.0.0.1:{port}",
                                   "--workers", "1"], env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        services.wait_until_listening(server, port, log)
        yield port
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)


def pay(port: int, secret_key: str, token: str, key: str) -> tuple[int, dict, dict]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    body = json.dumps({"amount": 12_300, "currency": "CNY", "payment_method": token, "confirm": True})
    connection.request("POST", "/v1/payments", body, {"Authorization": f"Bearer {secret_key}", "Idempotency-Key": key,
                                                       "Content-Type": "application/json"})
    response = connection.getresponse()
    answer = response.status, dict(response.headers), json.loads(response.read())
    connection.close()
    return answer


def test_a_retry_resumes_a_payment_whose_worker_died_at_each_step(database, tmp_path):
    var_dir = tmp_path / "var"
    gw = make_gateway(database, var_dir, base_clock=system_clock)  # the servers' clock: tokens expire
    merchant = create_merchant(gw, "Crash Shop")
    card = {"holder_name": "Li Lei", "exp_month": 12, "exp_year": date.today().year + 3, "cvv": "123"}
    tokens = {step: create_card_token(gw, merchant.id, card_number=sandbox_card_number("ICBC", approved_last4()), **card).id
              for step in STEPS}
    log = tmp_path / "serve.log"

    for step, token in tokens.items():
        with served(database, var_dir, log, PAYGATE_FAULT_AT=step) as port:
            with pytest.raises((http.client.HTTPException, ConnectionError)):
                pay(port, merchant.secret_key, token, f"crash-{step}")  # the worker dies: no answer
    time.sleep(LEASE_SECONDS + 0.5)  # the dead requests' leases run out

    with served(database, var_dir, log) as port:
        answers = {step: pay(port, merchant.secret_key, token, f"crash-{step}") for step, token in tokens.items()}
        again = {step: pay(port, merchant.secret_key, token, f"crash-{step}") for step, token in tokens.items()}

    with gw.db.unit_of_work() as session:
        for step, (status, debits, replayed) in STEPS.items():
            code, headers, body = answers[step]
            rows = session.execute(text("SELECT id, status FROM payments WHERE card_token_id = :t"), {"t": tokens[step]}).all()
            assert len(rows) == 1, (step, rows)  # one payment per request, whatever died where
            payment_id, final = rows[0]
            assert (code, body["id"], body["status"], final) == (200, payment_id, status, status), (step, body)
            assert (headers.get("Idempotent-Replayed") == "true") == replayed, step
            charged = session.execute(text(
                "SELECT count(*) FROM sandbox_bank_transactions WHERE payment_id = :p AND kind = 'debit' AND outcome = 'approved'"
            ), {"p": payment_id}).scalar_one()
            assert charged == debits, step
            captures = session.execute(text(
                "SELECT count(*) FROM ledger_transactions WHERE reference = :p AND kind = 'capture'"), {"p": payment_id}).scalar_one()
            assert captures == (1 if status == "succeeded" else 0), step
            assert again[step][0] == 200 and again[step][1].get("Idempotent-Replayed") == "true" and again[step][2] == body, step
        assert answers["payment_created"][2]["failure_code"] == "bank_no_record"
    assert verify(gw).ok


def test_a_live_request_keeps_its_key_and_a_dead_ones_key_is_taken_over(database, tmp_path):
    """The lease: while it lasts, a duplicate waits then gets 409; once it is over, the key is taken."""
    from gateway.services import idempotency

    gw = make_gateway(database, tmp_path / "var", idempotency_wait_seconds=0.05, idempotency_lease_seconds=LEASE_SECONDS)
    merchant = create_merchant(gw, "Lease Shop")
    assert idempotency.claim(gw, merchant.id, "k1", "f", resumable=True) is None
    with pytest.raises(Exception) as held:
        idempotency.claim(gw, merchant.id, "k1", "f", resumable=True)
    assert getattr(held.value, "code", None) == "idempotency_key_in_use"
    time.sleep(LEASE_SECONDS + 0.2)
    assert idempotency.claim(gw, merchant.id, "k1", "f", resumable=True) is None  # taken over: run it from scratch
    # A key of an endpoint without recovery points is never taken over while it lives.
    assert idempotency.claim(gw, merchant.id, "k2", "f") is None
    time.sleep(LEASE_SECONDS + 0.2)
    with pytest.raises(Exception) as refused:
        idempotency.claim(gw, merchant.id, "k2", "f")
    assert getattr(refused.value, "code", None) == "idempotency_key_in_use"
