"""The command relay: publishes the device_commands outbox to devices/<id>/commands at QoS 1.

A command is marked sent only once the broker acknowledged it *and* had a session to give it to
(PUBACK "no matching subscribers" means a device that never subscribed: it is retried, until the
command is a day old). A device offline with its persistent session gets it on reconnect. Several
ingest processes may relay at once: each claims its rows with SKIP LOCKED (PostgreSQL), and a
device treats a repeat (same nonce) as the same request in any case.
"""
from __future__ import annotations

import logging
import threading
import time
from datetime import timedelta

import paho.mqtt.client as mqtt
from sqlalchemy import select

from device_agents import wire
from gateway.adapters.db.device_models import DeviceCommand
from gateway.bootstrap import Gateway

log = logging.getLogger(__name__)

ACK_WAIT_SECONDS = 2.0
GIVE_UP_AFTER = timedelta(days=1)
NO_MATCHING_SUBSCRIBERS = 0x10


class CommandRelay:
    def __init__(self, gw: Gateway, client: mqtt.Client) -> None:
        self.gw, self.client = gw, client
        self._acks: dict[int, int] = {}  # mid -> PUBACK reason code, filled on paho's thread
        self._lock = threading.Lock()

    def on_publish(self, _client, _userdata, mid, reason_code, _properties) -> None:
        with self._lock:
            self._acks[mid] = reason_code.value

    def relay(self, limit: int = 100) -> int:
        """Publish up to `limit` unsent commands; how many reached a device session."""
        if not self.client.is_connected():
            return 0
        with self.gw.db.unit_of_work() as session:
            rows = session.scalars(
                select(DeviceCommand)
                .where(DeviceCommand.sent_at.is_(None), DeviceCommand.created_at > self.gw.clock() - GIVE_UP_AFTER)
                .order_by(DeviceCommand.id).limit(limit).with_for_update(skip_locked=True)
            ).all()
            if not rows:
                return 0
            mids = [self.client.publish(wire.commands_topic(row.device_id), bytes(row.payload), qos=1).mid
                    for row in rows]
            codes = self._wait_for_acks(mids)
            sent = 0
            for row, code in zip(rows, codes):
                if code is not None and code < 0x80 and code != NO_MATCHING_SUBSCRIBERS:
                    row.sent_at = self.gw.clock()
                    sent += 1
                else:
                    row.attempts += 1
        if sent < len(rows):
            log.info("command relay: %d of %d commands not delivered yet (device offline or never "
                     "subscribed); will retry", len(rows) - sent, len(rows))
        return sent

    def _wait_for_acks(self, mids: list[int]) -> list[int | None]:
        deadline = time.monotonic() + ACK_WAIT_SECONDS
        while time.monotonic() < deadline and self.client.is_connected():
            with self._lock:
                if all(mid in self._acks for mid in mids):
                    break
            time.sleep(0.005)
        with self._lock:
            return [self._acks.pop(mid, None) for mid in mids]
