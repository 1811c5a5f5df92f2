"""Unlock tokens end to end: enrollment provisions the device's OpenPAYGO credentials, an agent on an
installment plan gets its ADD_TIME token over MQTT (real Mosquitto, the command relay of
`paygate ingest`) and unlocks; an offline agent locks on the right day and is unlocked by a token
typed on its keypad (`paygate-agent token`) taken from the plan; a reused token is refused."""
from __future__ import annotations

import json
import logging
import os
import re
import stat
import time as clock_time
import uuid
from datetime import date, datetime, time, timedelta, timezone

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from device_agents import cli as agent_cli
from device_agents import wire
from device_agents.payg import BEIJING, EMERGENCY
from gateway.adapters.db.device_models import DeviceCommand
from gateway.adapters.db.installment_models import DevicePaygCredential
from gateway.adapters.db.models import IdempotencyKey
from gateway.domain.devices import DeviceKind, validate_telemetry
from tests.devices.conftest import RunningIngest, enroll_agent, make_agent, run_agent_until, wait_for
from tests.integration.conftest import Shop, TimeMachine
from tests.integration.conftest import make_gateway as make_banking_hours_gateway
from tests.integration.test_installments import PRICE, _day, _product


@pytest.fixture(scope="module")
def payg_database_url(postgres_admin_url):
    """A PostgreSQL database of this module's own: its plans (sealed under this gateway's vault
    keys) must not fall due for other tests' workers, and their leftovers not for ours."""
    from gateway.adapters.db.schema import upgrade
    from tests.support import services

    url = services.create_database(postgres_admin_url)
    upgrade(url)
    yield url
    services.drop_database(postgres_admin_url, url)


@pytest.fixture(scope="module")
def payg_gw(payg_database_url, ca, tmp_path_factory):
    """The gateway on PostgreSQL on a banking-hours clock (plans take a down payment from a sandbox
    bank), which tests may move forward."""
    gw = make_banking_hours_gateway(payg_database_url, tmp_path_factory.mktemp("var"), pki_dir=ca.directory)
    yield gw
    gw.db.dispose()


@pytest.fixture
def travel(payg_gw):
    machine = TimeMachine(payg_gw)
    yield machine
    machine.restore()


@pytest.fixture
def phone_shop(payg_gw) -> Shop:
    return Shop(payg_gw, "Phone Shop")


class DeviceClock:
    """The phone's own calendar, moved by the test (the device has no network to ask)."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def set(self, moment: datetime) -> None:
        self.now = moment


def _plan(shop: Shop, device_id: str) -> dict:
    customer = shop.customer()
    card = shop.saved_card(customer["id"])
    product = _product(shop, grace_days=5)
    response = shop.post("/v1/installment_plans", {"customer": customer["id"], "card": card["id"], "product": product["id"],
                                                   "term_months": 3, "amount": PRICE, "device": device_id},
                         idempotency_key=str(uuid.uuid4()))
    assert response.status_code == 200, response.json
    assert response.json["state"] == "active"
    return response.json


def _tokens(shop: Shop, plan_id: str) -> list[dict]:
    response = shop.get(f"/v1/installment_plans/{plan_id}")
    assert response.status_code == 200, response.json
    return response.json["device_tokens"]


def _keypad(home, *digits: str) -> tuple[int, dict]:
    result = CliRunner().invoke(agent_cli.main, ["token", "--home", str(home), *digits])
    return result.exit_code, json.loads(result.output)


def _status(home) -> dict:
    result = CliRunner().invoke(agent_cli.main, ["status", "--home", str(home)])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def _last_telemetry(agent) -> dict:
    pending = agent.outbox.pending(after=0, limit=1000)[-1]
    return wire.read_payload(wire.open_envelope(pending.envelope)).body


def test_enrollment_gives_the_credentials_once_and_the_gateway_keeps_them_sealed(phone_shop, payg_gw, tmp_path):
    from device_agents.keys import csr_pem, new_signing_key, new_tls_key

    body = {"csr": csr_pem(new_tls_key()), "model": "P1", "kind": "phone",
            "signing_key": wire.public_key_pem(new_signing_key("EdDSA"))}
    first = phone_shop.post("/v1/devices", body, idempotency_key="enroll-payg")
    again = phone_shop.post("/v1/devices", body, idempotency_key="enroll-payg")  # a retry after a lost answer
    assert first.status_code == again.status_code == 200
    secret = first.json["payg"]["secret_key"]
    assert re.fullmatch(r"[0-9a-f]{32}", secret) and isinstance(first.json["payg"]["starting_code"], int)
    assert again.json["payg"] == first.json["payg"] and again.headers["Idempotent-Replayed"] == "true"
    with payg_gw.db.unit_of_work() as session:
        credential = session.get(DevicePaygCredential, first.json["id"])
        stored_answer = session.get(IdempotencyKey, (phone_shop.id, "enroll-payg")).response_body
    assert credential.starting_code == first.json["payg"]["starting_code"]
    assert secret not in credential.secret_sealed and secret not in stored_answer  # sealed at rest
    assert "payg" not in phone_shop.get(f"/v1/devices/{first.json['id']}").json  # never shown again
    spec = phone_shop.client.get("/openapi.json").json["components"]["schemas"]["DeviceEnrolled"]
    assert "Shown once" in spec["properties"]["payg"]["description"]

    home = tmp_path / "phone"
    enroll_agent(phone_shop, home, "phone")
    assert stat.S_IMODE(os.stat(home / "payg.json").st_mode) == 0o600
    assert _status(home)["state"] == "locked"  # a new device is locked until its plan pays for it


def test_an_agent_on_a_plan_gets_its_token_over_mqtt_and_unlocks(broker, payg_gw, phone_shop, tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="device_agents")
    home = tmp_path / "phone"
    device_id = enroll_agent(phone_shop, home, "phone")
    secret = json.loads((home / "payg.json").read_text())["secret_hex"]
    agent = make_agent(home, broker.url, "phone", clock=lambda: payg_gw.clock())
    assert agent.locked() and agent.allows(EMERGENCY) and not agent.allows("open_app")
    ingest = RunningIngest(payg_gw, broker.url, f"payg-{clock_time.monotonic_ns()}")  # relays the commands
    try:
        run_agent_until(agent, lambda: agent.ready)
        plan = _plan(phone_shop, device_id)  # activates: an ADD_TIME token to the first due date plus grace
        [token] = _tokens(phone_shop, plan["id"])
        run_agent_until(agent, lambda: agent.stats.tokens_accepted == 1)
        assert not agent.locked() and agent.allows("open_app")
        assert agent.lock.paid_until == date.fromisoformat(token["paid_until"])

        def delivered() -> list:
            with payg_gw.db.unit_of_work() as session:
                return list(session.scalars(select(DeviceCommand.sent_at).where(DeviceCommand.device_id == device_id)))
        wait_for(lambda: delivered() and all(delivered()), message="the relay to mark the command sent")

        # The same token again (a replayed or duplicated command) is refused and changes nothing.
        with payg_gw.db.unit_of_work() as session:
            session.add(DeviceCommand(device_id=device_id, attempts=0, created_at=payg_gw.clock(), payload=wire.encode_command(
                wire.UNLOCK_TOKEN, {"token": token["token"], "kind": "add_time", "days": token["days"],
                                    "paid_until": token["paid_until"]})))
        run_agent_until(agent, lambda: agent.stats.tokens_refused == 1)
        assert agent.lock.paid_until == date.fromisoformat(token["paid_until"]) and not agent.locked()
        assert _status(home)["paid_until"] == token["paid_until"]
    finally:
        ingest.stop()
        agent.close()
    assert "unlock token accepted (add_time" in caplog.text and "unlock token refused (already_used)" in caplog.text
    assert secret not in caplog.text


def test_an_offline_agent_locks_on_the_right_day_and_a_keypad_token_unlocks_it(payg_gw, phone_shop, travel, tmp_path,
                                                                               monkeypatch):
    home = tmp_path / "phone"
    device_id = enroll_agent(phone_shop, home, "phone")
    device_clock = DeviceClock(payg_gw.clock())
    monkeypatch.setattr(agent_cli, "device_clock", device_clock)  # `paygate-agent` reads the same calendar
    agent = make_agent(home, "mqtts://127.0.0.1:9", "phone", clock=device_clock)  # never connects: offline

    plan = _plan(phone_shop, device_id)
    [first] = _tokens(phone_shop, plan["id"])
    spaced = [first["token"][i:i + 3] for i in (0, 3, 6)]  # typed as "123 456 789"
    code, shown = _keypad(home, *spaced)
    assert (code, shown["accepted"], shown["state"], shown["paid_until"]) == (0, True, "unlocked", first["paid_until"])
    assert not agent.locked()  # the running agent sees what the keypad applied

    # The shopper misses the first installment; the phone has no network, so nothing reaches it.
    last_paid_day = date.fromisoformat(first["paid_until"])
    assert last_paid_day == date.fromisoformat(plan["schedule"][0]["due_date"]) + timedelta(days=5)
    device_clock.set(datetime.combine(last_paid_day, time(23, 59), BEIJING))
    assert not agent.locked()
    device_clock.set(datetime.combine(last_paid_day + timedelta(days=1), time(0, 1), BEIJING))
    assert agent.locked() and agent.allows(EMERGENCY) and not agent.allows("open_app")
    agent.queue_telemetry()
    assert _last_telemetry(agent)["locked"] is True
    assert _status(home)["state"] == "locked"

    # Ten days later the shopper pays at the shop; the plan shows the new token for the keypad.
    travel.travel_to(_day(plan, 1, 16))
    device_clock.set(_day(plan, 1, 16).astimezone(timezone.utc))
    paid = phone_shop.post(f"/v1/installment_plans/{plan['id']}/payments", {"kind": "next"})
    assert paid.status_code == 200 and paid.json["status"] == "succeeded", paid.json
    tokens = _tokens(phone_shop, plan["id"])
    assert len(tokens) == 2 and tokens[1]["kind"] == "add_time"
    assert agent.locked()  # still offline: only the keypad brings the token

    code, shown = _keypad(home, tokens[1]["token"])
    assert (code, shown["accepted"], shown["state"]) == (0, True, "unlocked")
    assert shown["paid_until"] == tokens[1]["paid_until"]  # counted from today, as the gateway counts
    assert not agent.locked() and agent.allows("open_app")
    agent.queue_telemetry()
    assert _last_telemetry(agent)["locked"] is False

    # Typing a token again (or an older one) is refused and adds nothing.
    for reused in (tokens[1]["token"], first["token"]):
        code, shown = _keypad(home, reused)
        assert (code, shown["accepted"], shown["reason"]) == (1, False, "already_used")
        assert shown["paid_until"] == tokens[1]["paid_until"]
    agent.close()


def test_the_gateway_keeps_the_lock_state_from_telemetry():
    body = {"screen_seconds": 60, "locked": True, "region": "CN-SH"}
    assert validate_telemetry(DeviceKind.PHONE, body) == {"screen_seconds": 60, "locked": True, "region": "CN-SH"}
    assert validate_telemetry(DeviceKind.IOT, {"run_seconds_total": 5, "locked": False}) == {"run_seconds_total": 5, "locked": False}
    assert "locked" not in validate_telemetry(DeviceKind.PHONE, {"locked": "no"})
