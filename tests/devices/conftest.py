"""Fixtures for the device tests: a CA made at test time, Mosquitto started with the rendered TLS
configuration on a free port, enrolled agents, and ingest running in a thread."""
from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from device_agents.agent import Agent, Backoff
from device_agents.enroll import enroll
from device_agents.profiles import profile_for
from gateway.adapters.mqtt.broker_config import default_broker_user, write_broker_config
from gateway.entrypoints.mqtt.ingest import IngestLoop
from gateway.adapters.pki import CertificateAuthority
from gateway.domain.devices import GATEWAY_IDENTITY
from gateway.bootstrap import system_clock
from tests.integration.conftest import Shop
from tests.integration.conftest import make_gateway as make_payment_gateway


def make_gateway(database_url: str, var_dir, **overrides):
    """A test gateway on the real clock: device messages carry real timestamps, checked against it."""
    return make_payment_gateway(database_url, var_dir, base_clock=system_clock, **overrides)
from tests.support.services import broker_dir, free_port, start_mosquitto


@pytest.fixture(scope="session")
def ca() -> CertificateAuthority:
    """A deployment CA with broker and gateway certificates; keys exist only in a temp dir (one
    the broker's user can reach)."""
    authority = CertificateAuthority.create(broker_dir("paygate-pki-") / "ca")
    authority.issue_service("broker", "127.0.0.1", ("127.0.0.1", "localhost"))
    authority.issue_service("gateway", GATEWAY_IDENTITY)
    return authority


class Broker:
    """Mosquitto with the rendered TLS/ACL/CRL configuration; can be restarted on the same port
    with the same persistence directory (sessions and queued messages survive)."""

    def __init__(self, ca: CertificateAuthority, workdir: Path) -> None:
        self.port = free_port()
        self.persistence = workdir / "persistence"
        self.persistence.mkdir(parents=True, exist_ok=True)
        self.conf = write_broker_config(ca, workdir, self.port, persistence_dir=self.persistence,
                                        broker_user=default_broker_user())
        self.server = None
        self.start()

    @property
    def url(self) -> str:
        return f"mqtts://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.server = start_mosquitto(self.conf.read_text(), self.port)

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()  # SIGTERM: Mosquitto writes its persistence file on the way out
            self.server = None

    def restart(self) -> None:
        self.stop()
        self.start()


@pytest.fixture
def broker(ca):
    running = Broker(ca, broker_dir() / "broker")
    yield running
    running.stop()


@pytest.fixture(scope="session")
def device_gw(postgres_database_url, ca, tmp_path_factory):
    """The gateway on PostgreSQL, as deployed, with the test CA."""
    gw = make_gateway(postgres_database_url, tmp_path_factory.mktemp("var"), pki_dir=ca.directory)
    yield gw
    gw.db.dispose()


@pytest.fixture
def device_shop(device_gw) -> Shop:
    return Shop(device_gw, "Device Shop")


def api_enroller(shop: Shop):
    def enroll_through_api(request: dict) -> dict:
        response = shop.post("/v1/devices", request)
        assert response.status_code == 200, response.json
        return response.json
    return enroll_through_api


def enroll_agent(shop: Shop, home: Path, kind: str = "iot", algorithm: str = "EdDSA") -> str:
    return enroll(home, kind, f"test-{kind}", api_enroller(shop), algorithm)


def make_agent(home: Path, broker_url: str, kind: str = "iot", **options) -> Agent:
    profile = profile_for(kind, auto_approve_limit=options.pop("auto_approve_limit", 0), seed=1,
                          approve_probability=options.pop("approve_probability", None))
    options.setdefault("telemetry_interval", 0)  # tests queue messages themselves
    return Agent(home, profile, broker_url=broker_url, backoff=Backoff(base=0.05, cap=0.5), **options)


class RunningIngest:
    def __init__(self, gw, broker_url: str, name: str) -> None:
        self.loop = IngestLoop(gw, name, broker_url=broker_url, batch_size=200, batch_wait=0.01)
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self.loop.run, args=(self.stop_event,), daemon=True)
        self.thread.start()
        assert self.loop.connected.wait(10), "ingest did not connect to the broker"

    @property
    def stats(self):
        return self.loop.stats

    def stop(self) -> None:
        self.stop_event.set()
        self.thread.join(10)


@pytest.fixture
def start_ingest(device_gw):
    running = []

    def start(broker_url: str, name: str = "ingest-test") -> RunningIngest:
        ingest = RunningIngest(device_gw, broker_url, f"{name}-{time.monotonic_ns()}")
        running.append(ingest)
        return ingest

    yield start
    for ingest in running:
        ingest.stop()


def wait_for(condition, timeout: float = 15.0, interval: float = 0.05, message: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {message}")
        time.sleep(interval)


def run_agent_until(agent: Agent, condition, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out running the agent")
        agent.step(0.02)


# ---- devices enrolled through the API, without an agent (for ingest and API tests) -------------

class SignedDevice:
    """An enrolled device whose keys the test holds, to sign (or forge) messages directly."""

    def __init__(self, shop: Shop, kind: str = "phone", algorithm: str = "EdDSA") -> None:
        from device_agents.keys import csr_pem, new_signing_key, new_tls_key
        from device_agents import wire

        self.tls_key, self.signing_key = new_tls_key(), new_signing_key(algorithm)
        response = shop.post("/v1/devices", {"csr": csr_pem(self.tls_key), "model": "test", "kind": kind,
                                             "signing_key": wire.public_key_pem(self.signing_key)})
        assert response.status_code == 200, response.json
        self.enrolled = response.json
        self.id = response.json["id"]
        self.seq = 0

    def message(self, body: dict | None = None, *, kind: str = "telemetry", seq: int | None = None,
                ts_ms: int | None = None, device_id: str | None = None, key=None, topic_device: str | None = None):
        from device_agents import wire
        from gateway.services.device_ingest import Incoming

        if seq is None:
            self.seq += 1
            seq = self.seq
        ts_ms = int(time.time() * 1000) if ts_ms is None else ts_ms
        data = wire.seal(key or self.signing_key, device_id or self.id, seq, ts_ms, kind,
                         body if body is not None else {"screen_seconds": 60, "battery_pct": 90})
        return Incoming(wire.topic_for(kind, topic_device or self.id), data)


@pytest.fixture(scope="session")
def any_gw(database_url, ca, tmp_path_factory):
    """The gateway on SQLite and on PostgreSQL (the ingest SQL differs between them)."""
    gw = make_gateway(database_url, tmp_path_factory.mktemp("var"), pki_dir=ca.directory)
    yield gw
    gw.db.dispose()


@pytest.fixture
def any_shop(any_gw) -> Shop:
    return Shop(any_gw, "Device Shop")
