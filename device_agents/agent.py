"""The agent runtime: identity on disk, the outbox, and one MQTT 5 session driven from one thread.

Everything happens on the thread that calls `step()`/`run()` (paho's callbacks included), so the
outbox, the in-flight map and the counters need no locks. The session is persistent
(clean_start=False, session expiry), so commands queued while the device was away arrive when it
reconnects; reconnects back off exponentially with full jitter so a fleet that lost its broker
does not come back all in the same second.

A device on an installment plan has an OpenPAYGO lock (`payg.json` in its home, see
device_agents.payg): `unlock_token` commands are applied to it, telemetry reports `locked`, and
`allows(action)` is what the device's OS asks before letting the user do something (emergency
calls are always allowed).
"""
from __future__ import annotations

import json
import logging
import random
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from device_agents import wire
from device_agents.keys import load_private_key
from device_agents.outbox import Outbox
from device_agents.payg import PAYG_FILE, PaygLock, TokenResult, utc_now
from device_agents.profiles import ConfirmationRequest, Profile

log = logging.getLogger(__name__)

SESSION_EXPIRY_SECONDS = 7 * 24 * 3600
CONNACK_TIMEOUT_SECONDS = 10.0
# PUBACK reason codes that will never turn into success by retrying: drop the message (counted).
PERMANENT_REFUSALS = {0x87, 0x90, 0x99}  # not authorized, topic name invalid, payload format invalid
NO_MATCHING_SUBSCRIBERS = 0x10


@dataclass(frozen=True)
class Identity:
    home: Path
    device_id: str
    kind: str
    broker_url: str

    @classmethod
    def load(cls, home: Path) -> Identity:
        home = Path(home)
        try:
            data = json.loads((home / "identity.json").read_text())
        except FileNotFoundError as exc:
            raise RuntimeError(f"no enrolled device in {home}: run `paygate-agent enroll` first") from exc
        return cls(home, data["device_id"], data["kind"], data["broker_url"])

    @property
    def ca_path(self) -> Path:
        return self.home / "ca.cert.pem"

    @property
    def cert_path(self) -> Path:
        return self.home / "tls.cert.pem"

    @property
    def tls_key_path(self) -> Path:
        return self.home / "tls.key.pem"

    @property
    def signing_key_path(self) -> Path:
        return self.home / "signing.key.pem"

    @property
    def payg_path(self) -> Path:
        return self.home / PAYG_FILE

    def payg_lock(self, clock: Callable[[], datetime] = utc_now) -> PaygLock | None:
        """The device's OpenPAYGO lock; None for a device enrolled without one (never locks)."""
        return PaygLock(self.payg_path, clock=clock) if self.payg_path.exists() else None


class Backoff:
    """Exponential backoff with full jitter: the n-th wait is uniform in [0, min(cap, base * 2^n)]."""

    def __init__(self, base: float = 0.5, cap: float = 30.0, rng: random.Random | None = None) -> None:
        self.base, self.cap, self.attempts = base, cap, 0
        self._rng = rng or random.Random()

    def next_delay(self) -> float:
        delay = self._rng.uniform(0, min(self.cap, self.base * 2 ** self.attempts))
        self.attempts += 1
        return delay

    def reset(self) -> None:
        self.attempts = 0


@dataclass
class AgentStats:
    queued: int = 0  # messages signed into the outbox
    sent: int = 0  # PUBLISH handed to the broker (a resend after reconnect is not counted again)
    acked: int = 0  # PUBACK success: the message left the outbox
    refused: int = 0  # PUBACK with a permanent failure code (dropped)
    connects: int = 0
    confirmations: int = 0  # confirmation answers queued
    tokens_accepted: int = 0  # unlock tokens applied (commands topic or keypad)
    tokens_refused: int = 0


@dataclass
class _Prompt:
    request: ConfirmationRequest
    mid: int
    generation: int


class Agent:
    def __init__(self, home: Path, profile: Profile, *, telemetry_interval: float = 60.0, max_inflight: int = 20,
                 broker_url: str | None = None, backoff: Backoff | None = None,
                 clock: Callable[[], datetime] = utc_now) -> None:
        self.identity = Identity.load(home)
        self.device_id = self.identity.device_id
        self.profile = profile
        self.telemetry_interval = telemetry_interval
        self.max_inflight = max_inflight
        self.broker = urlsplit(broker_url or self.identity.broker_url)
        self.backoff = backoff or Backoff()
        self.stats = AgentStats()
        self.outbox = Outbox(self.identity.home / "outbox.db")
        self.lock = self.identity.payg_lock(clock)  # `clock` is the device's calendar (tests drive it)
        self._was_locked = self.locked()
        self._next_lock_check = 0.0
        self._signing_key = load_private_key(self.identity.signing_key_path)
        self._inflight: dict[int, int] = {}  # paho mid -> outbox seq
        self._handed_up_to = 0  # highest seq given to paho (it resends its own in-flight on reconnect)
        self._acked: list[int] = []
        self._prompts: dict[str, _Prompt] = {}
        self._generation = 0
        self._connected = self._connecting = self._subscribed = False
        self._connect_started = 0.0
        self._next_attempt = 0.0
        self._hold_until = 0.0  # no new sends before this (after the broker could not deliver)
        self._next_telemetry = time.monotonic() + telemetry_interval
        self._client = self._make_client()

    # ---- messages ----

    def queue_message(self, kind: str, body: dict, answers: str | None = None) -> int | None:
        """Sign a message into the outbox; it is sent when connected and kept until acked."""
        seq = self.outbox.add(kind, lambda seq, ts_ms: wire.seal(self._signing_key, self.device_id, seq, ts_ms, kind, body),
                              answers=answers)
        if seq is not None:
            self.stats.queued += 1
        return seq

    def queue_telemetry(self) -> int | None:
        return self.queue_message(wire.TELEMETRY, {**self.profile.reading(self.telemetry_interval), "locked": self.locked()})

    # ---- the installment lock ----

    def locked(self) -> bool:
        """Whether the device is locked for not being paid up (never, without a lock)."""
        return self.lock is not None and self.lock.locked()

    def allows(self, action: str) -> bool:
        """What the device's OS asks before an action: everything while paid up, only
        `device_agents.payg.EMERGENCY` ("emergency_call") while locked."""
        return self.lock is None or self.lock.allows(action)

    def enter_token(self, token: str, source: str = "keypad") -> TokenResult:
        """Apply an OpenPAYGO token (from the commands topic or typed on the keypad)."""
        if self.lock is None:
            log.warning("%s: %s unlock token ignored: this device has no PAYG lock", self.device_id, source)
            return TokenResult(False, "no_lock")
        result = self.lock.enter(token)
        if result.accepted:
            self.stats.tokens_accepted += 1
            log.info("%s: %s unlock token accepted (%s%s); %s", self.device_id, source, result.reason,
                     f", {result.days} days" if result.reason == "add_time" else "", self._lock_summary())
        else:
            self.stats.tokens_refused += 1
            log.info("%s: %s unlock token refused (%s); %s", self.device_id, source, result.reason, self._lock_summary())
        self._note_lock_state()
        return result

    def _lock_summary(self) -> str:
        if self.lock.unlocked_for_good:
            return "unlocked for good"
        until = self.lock.paid_until
        return f"{'locked' if self.lock.locked() else 'unlocked'}, paid until {until.isoformat() if until else 'never'}"

    def _note_lock_state(self) -> None:
        locked = self.locked()
        if locked != self._was_locked:
            log.warning("%s: device %s (%s)", self.device_id, "locked" if locked else "unlocked", self._lock_summary())
            self._was_locked = locked

    def answer(self, nonce: str, approved: bool) -> bool:
        """The user's answer to an open confirmation prompt; False if there is no such prompt."""
        prompt = self._prompts.pop(nonce, None)
        if prompt is None:
            return False
        self._send_answer(prompt.request, approved)
        self._ack_command(prompt.mid, prompt.generation)
        return True

    @property
    def open_prompts(self) -> list[ConfirmationRequest]:
        return [prompt.request for prompt in self._prompts.values()]

    def _send_answer(self, request: ConfirmationRequest, approved: bool) -> None:
        if request.expired:
            log.info("%s: confirmation for %s expired before it was answered", self.device_id, request.payment_id)
            return
        if self.queue_message(wire.CONFIRMATION, request.answer(approved), answers=request.nonce) is not None:
            self.stats.confirmations += 1

    # ---- the session ----

    def _make_client(self) -> mqtt.Client:
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=self.device_id, protocol=mqtt.MQTTv5,
                             manual_ack=True)
        if self.broker.scheme == "mqtts":
            client.tls_set(ca_certs=str(self.identity.ca_path), certfile=str(self.identity.cert_path),
                           keyfile=str(self.identity.tls_key_path))
        client.max_inflight_messages_set(self.max_inflight)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        client.on_message = self._on_message
        client.on_subscribe = self._on_subscribe
        return client

    @property
    def connected(self) -> bool:
        return self._connected

    @property
    def ready(self) -> bool:
        """Connected and subscribed to its commands topic."""
        return self._connected and self._subscribed

    def _try_connect(self, now: float) -> None:
        properties = Properties(PacketTypes.CONNECT)
        properties.SessionExpiryInterval = SESSION_EXPIRY_SECONDS
        try:
            self._client.connect(self.broker.hostname or "127.0.0.1", self.broker.port or 8883, keepalive=30,
                                 clean_start=False, properties=properties)
            self._connecting, self._connect_started = True, now
        except (OSError, ssl.SSLError, ValueError) as exc:
            self._retry_later(f"connect failed: {exc.__class__.__name__}")

    def _retry_later(self, why: str) -> None:
        self._connected = self._connecting = self._subscribed = False
        delay = self.backoff.next_delay()
        self._next_attempt = time.monotonic() + delay
        log.info("%s: %s; next attempt in %.2fs", self.device_id, why, delay)

    def _on_connect(self, client, _userdata, _flags, reason_code, _properties) -> None:
        self._connecting = False
        if reason_code.is_failure:
            self._retry_later(f"broker refused: {reason_code}")
            return
        self._connected = True
        self._generation += 1
        self.backoff.reset()
        self._hold_until = 0.0
        self.stats.connects += 1
        client.subscribe(wire.commands_topic(self.device_id), qos=1)

    def _on_subscribe(self, _client, _userdata, _mid, reason_codes, _properties) -> None:
        self._subscribed = all(not code.is_failure for code in reason_codes)
        if not self._subscribed:
            log.error("%s: broker refused the commands subscription: %s", self.device_id, reason_codes)

    def _on_disconnect(self, _client, _userdata, _flags, reason_code, _properties) -> None:
        self._retry_later(f"disconnected: {reason_code}")

    def _on_publish(self, _client, _userdata, mid, reason_code, _properties) -> None:
        seq = self._inflight.pop(mid, None)
        if seq is None:
            return
        if reason_code.value == NO_MATCHING_SUBSCRIBERS:
            # Accepted, but nobody (no ingest) was subscribed, so the broker dropped it: for us that
            # is not delivered. Happens while a restarted broker waits for ingest to come back.
            self._send_again_later(seq)
        elif not reason_code.is_failure:
            self._acked.append(seq)
            self.stats.acked += 1
        elif reason_code.value in PERMANENT_REFUSALS:
            log.error("%s: broker refused message %d: %s (dropped)", self.device_id, seq, reason_code)
            self._acked.append(seq)
            self.stats.refused += 1
        else:  # e.g. quota exceeded
            self._send_again_later(seq)

    def _send_again_later(self, seq: int) -> None:
        self._handed_up_to = min(self._handed_up_to, seq - 1)
        self._hold_until = time.monotonic() + self.backoff.next_delay()

    def _on_message(self, _client, _userdata, message: mqtt.MQTTMessage) -> None:
        generation = self._generation
        try:
            kind, body = wire.decode_command(message.payload)
            if kind == wire.CONFIRMATION_REQUEST:
                self._on_confirmation_request(ConfirmationRequest.from_command(body), message.mid, generation)
                return
            if kind == wire.UNLOCK_TOKEN:  # applied, then acked: a redelivery is refused as already used
                try:
                    self.enter_token(str(body["token"]), source="commands")
                except OSError as exc:  # not kept on disk: unacked, so it comes again after a reconnect
                    log.error("%s: could not store an unlock token: %s", self.device_id, exc)
                    return
                self._ack_command(message.mid, generation)
                return
            log.info("%s: ignoring unknown command %r", self.device_id, kind)
        except (wire.EnvelopeError, KeyError, TypeError, ValueError):
            log.warning("%s: ignoring a malformed command", self.device_id)
        self._ack_command(message.mid, generation)

    def _on_confirmation_request(self, request: ConfirmationRequest, mid: int, generation: int) -> None:
        if request.nonce in self._prompts:  # redelivered while the user is still deciding
            self._prompts[request.nonce] = _Prompt(request, mid, generation)
            return
        decision = None if request.expired else self.profile.decide(request)
        if decision is None and not request.expired:
            # Acked only once answered: if the agent restarts first, the broker delivers it again.
            self._prompts[request.nonce] = _Prompt(request, mid, generation)
            return
        if decision is not None:
            self._send_answer(request, decision)
        self._ack_command(mid, generation)

    def _ack_command(self, mid: int, generation: int) -> None:
        if generation == self._generation and self._connected:
            self._client.ack(mid, 1)

    # ---- the loop ----

    def step(self, timeout: float = 0.05) -> None:
        now = time.monotonic()
        if not self._connected and not self._connecting and now >= self._next_attempt:
            self._try_connect(now)
        elif self._connecting and now - self._connect_started > CONNACK_TIMEOUT_SECONDS:
            self._client.disconnect()
            self._retry_later("no CONNACK in time")
        if self._connected or self._connecting:
            rc = self._client.loop(timeout)
            if rc != mqtt.MQTT_ERR_SUCCESS and (self._connected or self._connecting):
                self._retry_later(f"connection lost ({mqtt.error_string(rc)})")
        else:
            time.sleep(min(timeout, max(0.0, self._next_attempt - now)))
        if self._connected:
            self._fill_window()
        if self.telemetry_interval and time.monotonic() >= self._next_telemetry:
            self.queue_telemetry()
            self._next_telemetry += self.telemetry_interval
        if self.lock is not None and time.monotonic() >= self._next_lock_check:
            self._note_lock_state()  # the credit runs out at midnight, connected or not
            self._next_lock_check = time.monotonic() + 1.0
        self._flush_acks()

    def _fill_window(self) -> None:
        free = self.max_inflight - len(self._inflight)
        if free <= 0 or time.monotonic() < self._hold_until:
            return
        for pending in self.outbox.pending(after=self._handed_up_to, limit=free):
            info = self._client.publish(wire.topic_for(pending.kind, self.device_id), pending.envelope, qos=1)
            self._inflight[info.mid] = pending.seq
            self._handed_up_to = pending.seq
            self.stats.sent += 1

    def _flush_acks(self) -> None:
        if self._acked:
            self.outbox.remove(self._acked)
            self._acked = []

    def run(self, stop=None, duration: float | None = None, queue_first: bool = True) -> AgentStats:
        """Run until `stop` (a threading.Event) is set or `duration` seconds have passed."""
        deadline = time.monotonic() + duration if duration else None
        if queue_first and self.telemetry_interval:
            self.queue_telemetry()
        while not (stop is not None and stop.is_set()) and (deadline is None or time.monotonic() < deadline):
            self.step()
        return self.stats

    def drain(self, timeout: float) -> bool:
        """Keep the session going until the outbox is empty (True) or `timeout` passes."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._flush_acks()
            if self.outbox.count() == 0:
                return True
            self.step(0.02)
        return self.outbox.count() == 0

    def close(self) -> None:
        self._flush_acks()
        if self._connected or self._connecting:
            self._client.disconnect()
            self._client.loop(0.1)
        self.outbox.close()
