"""An app per test database, merchants with keys, and a small client that speaks like a shop."""
from __future__ import annotations

import dataclasses
import time
import uuid
import itertools
import random
from datetime import date, datetime, timedelta, timezone

import pytest

from gateway.app import create_app
from gateway.config import Settings
from gateway.domain.sandbox_cards import sandbox_card_number
from gateway.domain.sandbox_ids import sandbox_id_number
from gateway.bootstrap import Gateway
from gateway.sdk.client import Paygate, Transport
from gateway.services.merchants import NewMerchant, create_merchant


# Tests run on banking hours: noon in Beijing on a fixed day, moving forward in real time, so a
# run never lands in a sandbox bank's maintenance window whatever the wall clock says.
TEST_EPOCH = datetime(2026, 11, 26, 4, 0, tzinfo=timezone.utc)


def banking_hours_clock(start: datetime = TEST_EPOCH):
    began = time.monotonic()
    return lambda: start + timedelta(seconds=time.monotonic() - began)


def make_gateway(database_url: str, var_dir, base_clock=None, **overrides) -> Gateway:
    """In test mode; its clock is the sandbox clock (what POST /v1/sandbox/clock moves) on top of
    `base_clock`, banking hours unless given."""
    settings = Settings.load({"database_url": database_url, "var_dir": var_dir, "sandbox_latency_ms": 0, "sandbox_endpoints": True, **overrides})
    return Gateway.from_settings(settings, base_clock=base_clock or banking_hours_clock())


@pytest.fixture(scope="session")
def gateway(database_url, var_dir):
    gw = make_gateway(database_url, var_dir)
    yield gw
    gw.db.dispose()


@pytest.fixture(scope="session")
def pg_gateway(postgres_database_url, var_dir):
    gw = make_gateway(postgres_database_url, var_dir, db_pool_size=25)
    yield gw
    gw.db.dispose()


def with_bank_latency(gw: Gateway, latency_ms: int, **settings) -> Gateway:
    """The same database and keys, a slower sandbox bank (to make requests overlap)."""
    return dataclasses.replace(gw, connectors={}, settings=dataclasses.replace(gw.settings, sandbox_latency_ms=latency_ms, **settings))


class TimeMachine:
    """Moves a gateway's clock forward without waiting."""

    def __init__(self, gw: Gateway):
        self.gw, self.offset, self.real = gw, timedelta(0), gw.clock
        gw.clock = lambda: self.real() + self.offset

    def travel(self, delta: timedelta) -> None:
        self.offset += delta

    def travel_to(self, moment: datetime) -> None:
        self.offset += moment - self.gw.clock()

    def restore(self) -> None:
        self.gw.clock = self.real


@pytest.fixture
def time_machine(gateway):
    machine = TimeMachine(gateway)
    yield machine
    machine.restore()


SANDBOX_OUTCOME_CARDS = {"0002", "0069", "0119", "0127"}


def approved_last4() -> str:
    """A card the sandbox approves, different from test to test: the sandbox banks count each
    card's daily limit across every test of a run (all run on the same banking day)."""
    while True:
        last4 = f"{random.randrange(10_000):04d}"
        if last4 not in SANDBOX_OUTCOME_CARDS:
            return last4


# Distinct order digits keep generated ID numbers unique within a run (one ID registers once).
_orders = itertools.cycle(range(1, 1000))


def test_client_transport(client) -> Transport:
    """The SDK's requests through Flask's test client (no server, no socket)."""

    def send(method: str, url: str, headers: dict[str, str], body: bytes | None):
        response = client.open(url, method=method, data=body, headers=headers)
        return response.status_code, response.headers, response.get_data()

    return send


class Shop:
    """A merchant driving the API through Flask's test client: `call`/`post`/`get` for the raw
    responses a test inspects, `sdk` (secret key) and `checkout` (publishable key) for the steps
    that only have to succeed."""

    def __init__(self, gw: Gateway, name: str = "Test Shop", merchant: NewMerchant | None = None) -> None:
        self.gw = gw
        self.merchant = merchant or create_merchant(gw, name)
        self.id = self.merchant.id
        self.client = create_app(gateway=gw).test_client()
        transport = test_client_transport(self.client)
        self.sdk = Paygate("", self.merchant.secret_key, transport=transport)
        self.checkout = Paygate("", self.merchant.publishable_key, transport=transport)

    def call(self, method: str, path: str, body=None, *, key: str | None = None, idempotency_key: str | None = None, **kwargs):
        headers = {"Authorization": f"Bearer {key or self.merchant.secret_key}"}
        if idempotency_key:
            headers["Idempotency-Key"] = idempotency_key
        return self.client.open(path, method=method, json=body, headers=headers, **kwargs)

    def post(self, path: str, body=None, **kwargs):
        return self.call("POST", path, body, **kwargs)

    def get(self, path: str, **kwargs):
        return self.call("GET", path, **kwargs)

    def token(self, last4: str | None = None, bank: str = "ICBC") -> str:
        last4 = last4 or approved_last4()
        return self.checkout.create_token(sandbox_card_number(bank, last4), 12, 2031, "123", "Li Lei")["id"]

    def pay(self, amount: int = 10_000, last4: str | None = None, *, confirm: bool = True, capture_method: str = "automatic") -> dict:
        return self.sdk.create_payment(amount, self.token(last4), confirm=confirm, capture_method=capture_method)

    def register(self, name: str = "Wang Fang", birth: date = date(1990, 5, 17), mobile: str = "13800138000", **extra):
        body = {
            "name": name,
            "mobile": mobile,
            "id_number": sandbox_id_number(birth, order=next(_orders)),
            "identity_consent": {"version": "2026-01", "purpose": "real-name verification"},
            **extra,
        }
        return self.post("/v1/customers", body)

    def customer(self, **kwargs) -> dict:
        response = self.register(**kwargs)
        assert response.status_code == 200, response.json
        customer = response.json
        self.sdk.grant_consent(customer["id"], "bank_card", "2026-01", "bind and charge debit cards")
        return customer

    def start_binding(self, customer_id: str, bank: str = "ICBC", last4: str | None = None):
        last4 = last4 or approved_last4()
        card = {"card_number": sandbox_card_number(bank, last4), "exp_month": 12, "exp_year": 2031, "cvv": "123"}
        return self.post(f"/v1/customers/{customer_id}/cards", card)

    def sms_code(self, card_id: str) -> str:
        return self.sdk.sandbox_sms_code(card_id)

    def saved_card(self, customer_id: str, bank: str = "ICBC", last4: str | None = None) -> dict:
        card = self.sdk.start_card_binding(customer_id, sandbox_card_number(bank, last4 or approved_last4()), 12, 2031, "123")
        return self.sdk.verify_card(customer_id, card["id"], self.sms_code(card["id"]))

    def pay_saved(self, card_id: str, amount: int = 10_000, **extra):
        body = {"amount": amount, "currency": "CNY", "payment_method": {"type": "saved_card", "card": card_id}, "confirm": True, **extra}
        return self.post("/v1/payments", body, idempotency_key=str(uuid.uuid4()))

    def balance(self) -> int:
        return self.sdk.balance()["available"][0]["amount"]


@pytest.fixture
def own_database_url(database_url, request, tmp_path):
    """A fresh, empty database of the same kind as `database_url`, for tests that need the whole
    database to themselves (key rotation touches every stored card)."""
    from gateway.adapters.db.schema import upgrade
    from tests.support import services

    if database_url.startswith("sqlite"):
        url = f"sqlite:///{tmp_path / 'own.db'}"
    else:
        admin_url = request.getfixturevalue("postgres_admin_url")
        url = services.create_database(admin_url)
        request.addfinalizer(lambda: services.drop_database(admin_url, url))
    upgrade(url)
    return url


@pytest.fixture
def shop(gateway) -> Shop:
    return Shop(gateway)


@pytest.fixture
def other_shop(gateway) -> Shop:
    return Shop(gateway, "Another Shop")
