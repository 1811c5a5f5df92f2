"""The command relay publishes after commit: no row lock is held while it publishes and waits for
the broker, a relay that dies after publishing leaves its commands to be sent again, and two
relays working at once never send the same command twice.

The broker is a stand-in (it records what was published and acknowledges like paho's network
thread does) so that a test can act in the middle of a publish; the real broker path is covered by
test_unlock_tokens.py and test_agents_end_to_end.py."""
from __future__ import annotations

import itertools
import threading
from collections import Counter
from datetime import timedelta
from types import SimpleNamespace

import pytest
from sqlalchemy import select, text

from device_agents import wire
from gateway.adapters.db.device_models import DeviceCommand
from gateway.entrypoints.mqtt.command_relay import CommandRelay
from gateway.services import device_commands
from tests.devices.conftest import SignedDevice

pytestmark = pytest.mark.postgres_only


class StandInBroker:
    """What the relay uses of paho's client. Each publish is acknowledged a moment later from
    another thread with `reason_code` (0: delivered to a session); `during_publish` runs inside
    publish(), i.e. while the relay has the command in flight."""

    def __init__(self, reason_code: int = 0, during_publish=None) -> None:
        self.reason_code, self.during_publish = reason_code, during_publish
        self.published: list[tuple[str, bytes]] = []
        self.relay: CommandRelay | None = None
        self._mids = itertools.count(1)

    def is_connected(self) -> bool:
        return True

    def publish(self, topic: str, payload: bytes, qos: int):
        mid = next(self._mids)
        self.published.append((topic, payload))
        if self.during_publish is not None:
            self.during_publish(topic, payload)
        ack = (self, None, mid, SimpleNamespace(value=self.reason_code), None)
        threading.Timer(0.005, self.relay.on_publish, args=ack).start()
        return SimpleNamespace(mid=mid)


def relay_on(gw, broker: StandInBroker) -> CommandRelay:
    broker.relay = CommandRelay(gw, broker)
    return broker.relay


def queue_commands(gw, device_id: str, count: int) -> list[bytes]:
    payloads = [f"command {n} for {device_id}".encode() for n in range(count)]
    with gw.db.unit_of_work() as session:
        session.add_all(DeviceCommand(device_id=device_id, attempts=0, created_at=gw.clock(), payload=payload)
                        for payload in payloads)
    return payloads


def sent_to(broker: StandInBroker, device_id: str) -> list[bytes]:
    return [payload for topic, payload in broker.published if topic == wire.commands_topic(device_id)]


def unsent(gw, device_id: str) -> list[bytes]:
    with gw.db.unit_of_work() as session:
        return [bytes(payload) for payload in session.scalars(
            select(DeviceCommand.payload).where(DeviceCommand.device_id == device_id, DeviceCommand.sent_at.is_(None)))]


def test_no_lock_is_held_while_a_command_is_published(device_gw, device_shop):
    device = SignedDevice(device_shop)
    [payload] = queue_commands(device_gw, device.id, 1)
    seen_in_flight = []

    def meanwhile_another_transaction(topic, published):
        # Runs while the relay has the command in flight: another transaction locks the command's
        # row and updates its device's row without waiting (NOWAIT fails if anyone holds them).
        if topic != wire.commands_topic(device.id):
            return  # a command other tests left unsent
        with device_gw.db.engine.connect() as connection, connection.begin():
            connection.execute(text("SET LOCAL lock_timeout = '1s'"))
            command = connection.execute(
                text("SELECT id, sent_at, claimed_until FROM device_commands WHERE payload = :payload FOR UPDATE NOWAIT"),
                {"payload": published}).one()
            connection.execute(text("UPDATE devices SET last_seen_at = now() WHERE id = :id"), {"id": device.id})
            seen_in_flight.append(command)

    broker = StandInBroker(during_publish=meanwhile_another_transaction)
    assert relay_on(device_gw, broker).relay() >= 1
    assert sent_to(broker, device.id) == [payload]
    [in_flight] = seen_in_flight
    # In flight, the claim was already committed (visible to others) and the command not yet sent.
    assert in_flight.sent_at is None and in_flight.claimed_until is not None
    assert unsent(device_gw, device.id) == []  # marked sent once acknowledged


def test_a_relay_that_dies_after_publishing_leaves_the_command_to_be_sent_again(device_gw, device_shop, monkeypatch):
    device = SignedDevice(device_shop)
    [payload] = queue_commands(device_gw, device.id, 1)

    def crash(*_args):
        raise SystemExit("the relay's process died before recording the delivery")

    dying = StandInBroker()
    monkeypatch.setattr(device_commands, "record_delivered", crash)
    with pytest.raises(SystemExit):
        relay_on(device_gw, dying).relay()
    monkeypatch.undo()
    assert sent_to(dying, device.id) == [payload]
    assert unsent(device_gw, device.id) == [payload]

    # While the dead relay's lease runs, another relay leaves the command alone...
    survivor = StandInBroker()
    relay_on(device_gw, survivor).relay()
    assert sent_to(survivor, device.id) == []
    # ...and once it has run out, sends it again and records it.
    real_clock = device_gw.clock
    monkeypatch.setattr(device_gw, "clock", lambda: real_clock() + device_commands.CLAIM_LEASE + timedelta(seconds=1))
    relay_on(device_gw, survivor).relay()
    assert sent_to(survivor, device.id) == [payload]
    assert unsent(device_gw, device.id) == []


def test_a_command_no_device_session_took_is_tried_again_on_the_next_pass(device_gw, device_shop):
    device = SignedDevice(device_shop)
    [payload] = queue_commands(device_gw, device.id, 1)
    never_subscribed = StandInBroker(reason_code=0x10)  # PUBACK "no matching subscribers"
    assert relay_on(device_gw, never_subscribed).relay() == 0
    assert sent_to(never_subscribed, device.id) == [payload]
    assert unsent(device_gw, device.id) == [payload]

    subscribed = StandInBroker()  # the claim was given back: no need to wait for the lease
    relay_on(device_gw, subscribed).relay()
    assert sent_to(subscribed, device.id) == [payload]
    assert unsent(device_gw, device.id) == []


def test_two_relays_at_once_never_send_the_same_command_twice(device_gw, device_shop):
    device = SignedDevice(device_shop)
    payloads = queue_commands(device_gw, device.id, 60)
    # Each relay's first publish waits for the other's: both must have claimed commands and be
    # publishing at the same moment, or the barrier breaks and the test fails.
    both_publishing = threading.Barrier(2, timeout=10)
    first_publish = {}

    def wait_for_the_other(topic, _payload):
        if threading.current_thread() not in first_publish:
            first_publish[threading.current_thread()] = topic
            both_publishing.wait()

    brokers = [StandInBroker(during_publish=wait_for_the_other) for _ in range(2)]
    relays = [relay_on(device_gw, broker) for broker in brokers]
    errors = []

    def work(relay: CommandRelay) -> None:
        try:
            while relay.relay(limit=10):
                pass
        except Exception as error:  # reported below, in the test's thread
            errors.append(error)

    threads = [threading.Thread(target=work, args=(relay,)) for relay in relays]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []
    sent = Counter(sent_to(brokers[0], device.id) + sent_to(brokers[1], device.id))
    assert sent == Counter(payloads)  # every command exactly once
    assert unsent(device_gw, device.id) == []
