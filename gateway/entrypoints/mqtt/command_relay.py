"""The command relay: publishes the device_commands outbox to devices/<id>/commands at QoS 1.

Publish after commit: a pass claims due commands in one short transaction (a lease, see
gateway/services/device_commands.py), publishes them and waits for the broker's acknowledgements
with no transaction open, then records the outcome in another short transaction. Several ingest
processes may relay at once: a claimed command is skipped by the others until its lease runs out,
which is also how a command whose relay died after publishing gets sent again. Delivery is at
least once; a device treats a repeat (same nonce) as the same request.

A command is marked sent only once the broker acknowledged it *and* had a session to give it to
(PUBACK "no matching subscribers" means a device that never subscribed: it is retried, until the
command is a day old). A device offline with its persistent session gets it on reconnect.
"""
from __future__ import annotations

import logging
import threading
import time

import paho.mqtt.client as mqtt

from device_agents import wire
from gateway.bootstrap import Gateway
from gateway.services import device_commands

log = logging.getLogger(__name__)

ACK_WAIT_SECONDS = 2.0
NO_MATCHING_SUBSCRIBERS = 0x10


class CommandRelay:
    """Publishes claimed commands on the ingest loop's MQTT client (whose on_publish it is)."""

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
        claimed = device_commands.claim_due(self.gw, limit)
        if not claimed:
            return 0
        mids = [self.client.publish(wire.commands_topic(command.device_id), command.payload, qos=1).mid
                for command in claimed]
        codes = self._wait_for_acks(mids)
        delivered, undelivered = [], []
        for command, code in zip(claimed, codes):
            (delivered if _reached_a_session(code) else undelivered).append(command)
        device_commands.record_delivered(self.gw, delivered)
        if undelivered:
            device_commands.release(self.gw, undelivered)
            log.info("command relay: %d of %d commands not delivered yet (device offline or never "
                     "subscribed); will retry", len(undelivered), len(claimed))
        return len(delivered)

    def _wait_for_acks(self, mids: list[int]) -> list[int | None]:
        deadline = time.monotonic() + ACK_WAIT_SECONDS
        while time.monotonic() < deadline and self.client.is_connected():
            with self._lock:
                if all(mid in self._acks for mid in mids):
                    break
            time.sleep(0.005)
        with self._lock:
            return [self._acks.pop(mid, None) for mid in mids]


def _reached_a_session(code: int | None) -> bool:
    """A PUBACK that is a success and not "no matching subscribers"; None: no PUBACK in time."""
    return code is not None and code < 0x80 and code != NO_MATCHING_SUBSCRIBERS
