"""PostgreSQL restarted under load, on a throwaway server of the test's own (the machine's server
and the other tests' databases are never touched): while it is down the gateway answers 503
`service_unavailable` with Retry-After (health check and payments alike); when it is back the
same gateway processes (no restart) serve again, and no request meets a dead pooled connection."""
from __future__ import annotations

import threading
import uuid
from datetime import datetime

import pytest

from gateway.domain.clock import BEIJING
from gateway.domain.sandbox_cards import sandbox_card_number
from tests.faults.conftest import open_deployment
from tests.integration.conftest import approved_last4
from tests.support import services
from tests.support.processes import Process, http, wait_for
from tests.support.services import free_port

pytestmark = pytest.mark.faults

CLIENTS = 3
AFTER_RECOVERY = 8


@pytest.fixture
def own_postgres(tmp_path):
    try:
        server = services.start_postgres()
    except services.ServiceMissing as missing:
        pytest.fail(f"PostgreSQL binaries are needed: {missing}")
    url = services.create_database(server.url)
    from gateway.adapters.db.schema import upgrade

    upgrade(url)
    yield server, url
    server.stop()


def open_bank() -> str:
    """A bank not in its maintenance window now (real time: the served gateway has no sandbox
    clock): ICBC closes 23:30-00:30 Beijing time, CMB 02:00-02:30."""
    hour = datetime.now(BEIJING).hour
    return "CMB" if hour in (23, 0) else "ICBC"


class Shopper:
    """Payments in a loop through the served gateway, each with its own Idempotency-Key;
    remembers every answer."""

    def __init__(self, base: str, keys: dict) -> None:
        self.base, self.keys = base, keys
        self.answers: list[tuple[str, int, dict]] = []  # (idempotency key, status, body)
        self.stop = threading.Event()
        self.lock = threading.Lock()

    def pay_once(self) -> tuple[str, int, dict]:
        key = str(uuid.uuid4())
        status, _, token = http("POST", self.base + "/v1/tokens", self.keys["publishable_key"], {
            "card_number": sandbox_card_number(open_bank(), approved_last4()), "holder_name": "Li Lei", "exp_month": 12,
            "exp_year": 2031, "cvv": "123"})
        if status != 200:
            answer = (key, status, token)
        else:
            status, _, body = http("POST", self.base + "/v1/payments", self.keys["secret_key"], {
                "amount": 1_000, "currency": "CNY", "payment_method": token["id"], "confirm": True}, idempotency_key=key)
            answer = (key, status, body)
        with self.lock:
            self.answers.append(answer)
        return answer

    def run(self) -> None:
        while not self.stop.is_set():
            self.pay_once()


def test_a_database_restart_under_load_is_503_then_recovers_by_itself(own_postgres, tmp_path):
    server, url = own_postgres
    deployment = open_deployment(url, tmp_path / "var")
    keys = {"publishable_key": deployment.shop.merchant.publishable_key, "secret_key": deployment.shop.merchant.secret_key}
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    # Sandbox endpoints off, as in production: in test mode every request first re-reads the
    # sandbox clock, a query that would find a dead connection before the request does.
    gateway = Process(["serve", "--bind", f"127.0.0.1:{port}", "--workers", "2"],
                      deployment.env(rate_limit_tokenization="100000 per minute", sandbox_endpoints="0"),
                      tmp_path / "serve.log").start()
    try:
        wait_for(lambda: services.port_open("127.0.0.1", port, 0.2) and http("GET", base + "/healthz")[0] == 200,
                 what="the gateway to serve", diagnose=gateway.tail)
        shopper = Shopper(base, keys)
        load = [threading.Thread(target=shopper.run) for _ in range(CLIENTS)]
        for thread in load:
            thread.start()
        wait_for(lambda: sum(status == 200 for _, status, _ in shopper.answers) >= 10, what="payments before the outage")

        server.shut_down("fast")
        try:
            during = [shopper.pay_once() for _ in range(4)]
            health = http("GET", base + "/healthz")
            refused = http("POST", base + "/v1/payments", keys["secret_key"], {"amount": 1_000, "currency": "CNY",
                                                                               "payment_method": "tok_none", "confirm": True})
        finally:
            server.start_again()
        shopper.stop.set()
        for thread in load:
            thread.join(30)

        # Down: every answer is the 503 error object with Retry-After, never a 500.
        assert health[0] == 503 and health[2]["status"] == "unavailable", health
        for _, status, body in during:
            assert status == 503 and body["error"]["code"] == "service_unavailable", body
        assert refused[0] == 503 and int(refused[1]["Retry-After"]) > 0, refused
        assert {status for _, status, _ in shopper.answers} <= {200, 503}, [a for a in shopper.answers if a[1] not in (200, 503)]

        # Back, without restarting the gateway: the very next requests all succeed (no worker is
        # handed a connection the restart killed).
        assert gateway.running()
        assert http("GET", base + "/healthz")[0] == 200
        after = [shopper.pay_once() for _ in range(AFTER_RECOVERY)]
        assert [status for _, status, _ in after] == [200] * AFTER_RECOVERY, [body for _, s, body in after if s != 200]

        # A quick restart between two requests, which no request saw: the pools still hold the
        # connections it closed, and none of them is handed out.
        server.shut_down("fast")
        server.start_again()
        after = [shopper.pay_once() for _ in range(AFTER_RECOVERY)]
        assert [status for _, status, _ in after] == [200] * AFTER_RECOVERY, [body for _, s, body in after if s != 200]
    finally:
        gateway.stop()

    acknowledged = {body["id"] for _, status, body in shopper.answers if status == 200}
    assert set(deployment.books.stored_payments(acknowledged).values()) == {1}
    deployment.assert_books_clean()
    deployment.books.close()
    deployment.gw.db.dispose()
