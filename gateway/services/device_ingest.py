"""Ingest of device messages: check every message, store the good ones in one transaction per batch.

A message is stored only if
  - its topic is devices/<id>/telemetry or devices/<id>/confirmations,
  - it is a COSE_Sign1 envelope whose key id, and whose payload's device, are that same <id>,
  - the device is known and active, and the signature verifies with the key registered for it,
  - its timestamp is inside the freshness window (not ahead of our clock by more than the skew,
    not older than the outbox retention), and
  - (device, seq) was never stored before: the unique constraint makes a QoS 1 redelivery or a
    replay land once, across batches and across ingest processes.
Anything else is a rejection with a reason: counted per device, recorded, logged; never raised.
"""
from __future__ import annotations

import json
import logging
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import NamedTuple, Protocol, runtime_checkable

from sqlalchemy import BigInteger, bindparam, case, func, insert, select, update
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from device_agents import wire
from gateway.adapters import signatures
from gateway.adapters.db.device_models import Device, DeviceMessage, DeviceRejection
from gateway.domain.devices import DeviceKind, DeviceState, FreshnessWindow, Rejection, validate_telemetry
from gateway.services.ports import StoragePorts, SettingsPort
from gateway.services.device_confirmations import answer_from, decide_answer
from gateway.services.devices import may_store_usage

log = logging.getLogger(__name__)


@runtime_checkable
class IngestPorts(StoragePorts, SettingsPort, Protocol):
    """Transactions, the clock, and the freshness window a device message must fall in."""


LATEST_TIMESTAMP_MS = 253_402_300_799_000  # 9999-12-31T23:59:59Z, the last instant datetime can hold


@dataclass(frozen=True)
class Incoming:
    topic: str
    payload: bytes


@dataclass
class BatchResult:
    stored: int = 0
    rejections: Counter = field(default_factory=Counter)  # reason -> count
    confirmations_decided: int = 0

    @property
    def rejected(self) -> int:
        return sum(self.rejections.values())


class DeviceFacts(NamedTuple):
    """What ingest needs to know of a device, read for a whole batch in one query of plain rows:
    building ORM objects cost more than the query itself."""

    id: str
    kind: str
    state: str
    owner_customer_id: str | None  # all that may_store_usage() reads
    signing_public_key: str


@dataclass
class _Accepted:
    device: DeviceFacts
    message: wire.Message
    sent_at: datetime


@dataclass
class _Rejected:
    device_id: str | None
    topic: str
    reason: Rejection
    seq: int | None = None


@dataclass
class Verified:
    """A batch after verify(): messages that passed every check that needs no write, and the
    rejections so far."""

    accepted: list[_Accepted]
    rejected: list[_Rejected]


class KeyCache:
    """Verifiers for registered public keys, by their PEM text. Parsing costs more than
    verifying, and a key's PEM never changes meaning; who may use it (device state) is read from
    the database every batch."""

    def __init__(self, size: int = 100_000) -> None:
        self._keys: dict[str, signatures.Verifier] = {}
        self._size = size

    def get(self, pem: str) -> signatures.Verifier:
        key = self._keys.get(pem)
        if key is None:
            if len(self._keys) >= self._size:
                self._keys.clear()
            key = self._keys[pem] = signatures.load_verifier(pem)
        return key


class Ingestor:
    def __init__(self, gw: IngestPorts) -> None:
        self.gw = gw
        self.keys = KeyCache()
        self.window = FreshnessWindow(timedelta(seconds=gw.settings.device_clock_skew_seconds),
                                      timedelta(seconds=gw.settings.device_max_message_age_seconds))

    def process(self, batch: list[Incoming]) -> BatchResult:
        """Check and store one batch. Raises only if the database fails (the caller then retries
        the batch and acknowledges nothing)."""
        return self.store(self.verify(batch))

    def verify(self, batch: list[Incoming]) -> Verified:
        """The CPU-heavy half: parse, and check each envelope against its device's registered key
        (read in one query), the device ids and the freshness window. Writes nothing, so ingest
        can verify the next batch while the previous one commits."""
        now = self.gw.clock()
        parsed, rejected = self._parse(batch)
        with self.gw.db.unit_of_work() as session:
            devices = self._devices(session, {device_id for device_id, _, _ in parsed})
        return Verified(self._check(parsed, devices, now, rejected), rejected)

    def store(self, verified: Verified) -> BatchResult:
        """The database half, one transaction: device states read again (a revocation that
        committed since verify() still wins), dedupe insert, confirmations, rejections, devices."""
        now = self.gw.clock()
        rejected = list(verified.rejected)
        with self.gw.db.unit_of_work() as session:
            accepted = self._still_active(session, verified.accepted, rejected)
            stored = self._store(session, accepted, now, rejected)
            refused = self._decide_confirmations(session, stored, now, rejected)
            stored = [item for item in stored if (item.device.id, item.message.seq) not in refused]
            self._record_rejections(session, rejected, now)
            self._update_devices(session, stored, rejected, now)
        result = BatchResult(stored=len(stored))
        result.confirmations_decided = sum(1 for item in stored if item.message.kind == wire.CONFIRMATION)
        for item in rejected:
            result.rejections[item.reason.value] += 1
            log.warning("rejected device message: reason=%s device=%s seq=%s topic=%.80s",
                        item.reason.value, item.device_id, item.seq, item.topic)
        return result

    @staticmethod
    def _still_active(session: Session, accepted: list[_Accepted], rejected: list[_Rejected]) -> list[_Accepted]:
        ids = {item.device.id for item in accepted}
        if not ids:
            return accepted
        active = set(session.scalars(select(Device.id).where(Device.id.in_(ids),
                                                             Device.state == DeviceState.ACTIVE.value)))
        for item in accepted:
            if item.device.id not in active:
                rejected.append(_Rejected(item.device.id, wire.topic_for(item.message.kind, item.device.id),
                                          Rejection.DEVICE_NOT_ACTIVE, item.message.seq))
        return [item for item in accepted if item.device.id in active]

    # ---- steps ----

    def _parse(self, batch: list[Incoming]) -> tuple[list[tuple[str, str, wire.Envelope]], list[_Rejected]]:
        """(device id, printable topic, envelope) per well-formed message."""
        parsed, rejected = [], []
        for incoming in batch:
            topic = _printable_topic(incoming.topic)
            where = wire.parse_topic(topic)
            if where is None or where[1] not in wire.MESSAGE_KIND_BY_TOPIC:
                rejected.append(_Rejected(None, topic[:200], Rejection.BAD_TOPIC))
                continue
            try:
                envelope = wire.open_envelope(incoming.payload)
            except wire.EnvelopeError:
                rejected.append(_Rejected(where[0], topic, Rejection.MALFORMED))
                continue
            parsed.append((where[0], topic, envelope))
        return parsed, rejected

    @staticmethod
    def _devices(session: Session, ids: set[str]) -> dict[str, DeviceFacts]:
        if not ids:
            return {}
        rows = session.execute(select(Device.id, Device.kind, Device.state, Device.owner_customer_id,
                                      Device.signing_public_key).where(Device.id.in_(ids)))
        return {row[0]: DeviceFacts(*row) for row in rows}

    def _check(self, parsed, devices: dict[str, DeviceFacts], now: datetime,
               rejected: list[_Rejected]) -> list[_Accepted]:
        accepted = []
        for device_id, topic, envelope in parsed:
            reason, message, sent_at = self._verdict(device_id, topic, envelope, devices.get(device_id), now)
            if reason is None:
                accepted.append(_Accepted(devices[device_id], message, sent_at))
            else:
                rejected.append(_Rejected(device_id, topic, reason, message.seq if message else None))
        return accepted

    def _verdict(self, device_id: str, topic: str, envelope: wire.Envelope, device: DeviceFacts | None,
                 now: datetime) -> tuple[Rejection | None, wire.Message | None, datetime | None]:
        """(reason or None, the message if it could be read, its signed timestamp if it passed)."""
        if device is None:
            return Rejection.UNKNOWN_DEVICE, None, None
        if envelope.key_id != device_id:
            return Rejection.DEVICE_MISMATCH, None, None
        if device.state != DeviceState.ACTIVE.value:
            return Rejection.DEVICE_NOT_ACTIVE, None, None
        try:
            key = self.keys.get(device.signing_public_key)
        except ValueError:
            return Rejection.BAD_SIGNATURE, None, None
        if not key.verify(envelope):
            return Rejection.BAD_SIGNATURE, None, None
        try:
            message = wire.read_payload(envelope)
        except wire.EnvelopeError:
            return Rejection.MALFORMED, None, None
        if message.device_id != device_id:
            return Rejection.DEVICE_MISMATCH, message, None
        if message.kind != wire.MESSAGE_KIND_BY_TOPIC[topic.rsplit("/", 1)[1]]:
            return Rejection.BAD_TOPIC, message, None
        if message.ts_ms > LATEST_TIMESTAMP_MS:
            return Rejection.TIMESTAMP_IN_FUTURE, message, None
        sent_at = _from_ms(message.ts_ms)
        return self.window.check(sent_at, now), message, sent_at

    def _store(self, session: Session, accepted: list[_Accepted], now: datetime,
               rejected: list[_Rejected]) -> list[_Accepted]:
        """Insert the accepted messages; those whose (device, seq) exists already are duplicates."""
        if not accepted:
            return []
        unique: dict[tuple[str, int], _Accepted] = {}
        for item in accepted:
            key = (item.device.id, item.message.seq)
            if key in unique:  # the same message twice in one batch
                rejected.append(_Rejected(item.device.id, wire.topic_for(item.message.kind, item.device.id),
                                          Rejection.DUPLICATE_SEQUENCE, item.message.seq))
            else:
                unique[key] = item
        devices = {item.device.id: item.device for item in unique.values()}
        consent = {device_id: may_store_usage(session, device) for device_id, device in devices.items()}
        rows = [{"device_id": item.device.id, "seq": item.message.seq, "kind": item.message.kind,
                 "sent_at": item.sent_at, "ts_ms": item.message.ts_ms, "received_at": now,
                 "body": self._body(item, consent[item.device.id])}
                for item in unique.values()]
        inserted = self._insert_new(session, rows)
        stored = []
        for key, item in unique.items():
            if key in inserted:
                stored.append(item)
            else:
                rejected.append(_Rejected(item.device.id, wire.topic_for(item.message.kind, item.device.id),
                                          Rejection.DUPLICATE_SEQUENCE, item.message.seq))
        return stored

    @staticmethod
    def _body(item: _Accepted, consented: bool) -> dict | None:
        if item.message.kind == wire.CONFIRMATION:
            return item.message.body  # the record of what the device answered, not usage data
        if not consented:
            return None
        return validate_telemetry(DeviceKind(item.device.kind), item.message.body)

    @staticmethod
    def _insert_new(session: Session, rows: list[dict]) -> set[tuple[str, int]]:
        """Insert what is new; the (device, seq) of the rows this call inserted (RETURNING lists
        exactly those, so whatever is missing was a duplicate)."""
        if session.get_bind().dialect.name == "postgresql":
            return _insert_new_postgres(session, rows)
        inserted: set[tuple[str, int]] = set()
        for start in range(0, len(rows), 500):
            chunk = [{key: value for key, value in row.items() if key != "ts_ms"} for row in rows[start:start + 500]]
            statement = (sqlite_insert(DeviceMessage).values(chunk)
                         .on_conflict_do_nothing(index_elements=["device_id", "seq"])
                         .returning(DeviceMessage.device_id, DeviceMessage.seq))
            inserted.update((device_id, seq) for device_id, seq in session.execute(statement))
        return inserted

    @staticmethod
    def _decide_confirmations(session: Session, stored: list[_Accepted], now: datetime,
                              rejected: list[_Rejected]) -> set[tuple[str, int]]:
        """Apply each new confirmation; the (device, seq) of those refused. A refused one keeps its
        message row: its sequence number is spent and the row records what the device said."""
        refused = set()
        for item in stored:
            if item.message.kind != wire.CONFIRMATION:
                continue
            answer = answer_from(item.device.id, item.message.body)
            reason = Rejection.MALFORMED if answer is None else decide_answer(session, answer, now)
            if reason is not None:
                refused.add((item.device.id, item.message.seq))
                rejected.append(_Rejected(item.device.id, wire.confirmations_topic(item.device.id), reason,
                                          item.message.seq))
        return refused

    @staticmethod
    def _record_rejections(session: Session, rejected: list[_Rejected], now: datetime) -> None:
        if rejected:
            session.execute(insert(DeviceRejection), [
                {"device_id": (r.device_id or "")[:64] or None, "topic": r.topic[:200], "reason": r.reason.value,
                 "seq": r.seq if r.seq is not None and r.seq < 2**63 else None, "received_at": now}
                for r in rejected])

    @staticmethod
    def _update_devices(session: Session, stored: list[_Accepted], rejected: list[_Rejected], now: datetime) -> None:
        """Per device: last seen, highest sequence, counters. Sorted by id, so two ingest
        processes lock device rows in the same order and cannot deadlock. A rejection naming an
        unknown device updates nothing."""
        stats: dict[str, dict] = defaultdict(lambda: {"b_stored": 0, "b_rejected": 0, "b_seq": -1})
        for item in stored:
            entry = stats[item.device.id]
            entry["b_stored"] += 1
            entry["b_seq"] = max(entry["b_seq"], item.message.seq)
        for r in rejected:
            if r.device_id:
                stats[r.device_id]["b_rejected"] += 1
        if not stats:
            return
        if session.get_bind().dialect.name == "postgresql":
            _update_devices_postgres(session, stats, now)
            return
        seq = bindparam("b_seq", type_=BigInteger)
        statement = update(Device).where(Device.id == bindparam("b_id")).values(
            messages_stored=Device.messages_stored + bindparam("b_stored", type_=BigInteger),
            messages_rejected=Device.messages_rejected + bindparam("b_rejected", type_=BigInteger),
            last_seen_at=now,
            last_seq=case((func.coalesce(Device.last_seq, -1) >= seq, Device.last_seq), else_=seq),
        )
        # Executemany of one statement: psycopg sends it as one pipeline per batch.
        session.connection().execute(statement, [{"b_id": device_id[:40], **entry} for device_id, entry in sorted(stats.items())])


# One statement whatever the batch size, its rows as one JSON parameter: nothing for SQLAlchemy
# to compile per batch, one round trip, and the encoding done by the json module's C code (binding
# per-column arrays cost more than the insert itself at thousands of messages a second).
_INSERT_MESSAGES_POSTGRES = """
INSERT INTO device_messages (device_id, seq, kind, sent_at, received_at, body)
SELECT device_id, seq, kind, to_timestamp(ts / 1000.0), %(received_at)s, body
FROM json_to_recordset(%(rows)s::json) AS batch(device_id text, seq bigint, kind text, ts bigint, body json)
ON CONFLICT (device_id, seq) DO NOTHING
RETURNING device_id, seq
"""


def _insert_new_postgres(session: Session, rows: list[dict]) -> set[tuple[str, int]]:
    encoded = json.dumps([{"device_id": row["device_id"], "seq": row["seq"], "kind": row["kind"],
                           "ts": row["ts_ms"], "body": row["body"]} for row in rows], separators=(",", ":"))
    result = session.connection().exec_driver_sql(
        _INSERT_MESSAGES_POSTGRES, {"received_at": rows[0]["received_at"], "rows": encoded})
    return {(device_id, seq) for device_id, seq in result}


# The same idea for the per-device counters: one statement for the batch instead of one per device
# (an executemany costs ~50 us a row in psycopg, and a batch from a large fleet names hundreds of
# devices). The MATERIALIZED CTE takes the row locks in id order before updating, so two ingest
# processes updating overlapping devices wait for each other instead of deadlocking. NO KEY UPDATE
# is the lock an UPDATE of these columns takes anyway; FOR UPDATE would also conflict with the KEY
# SHARE locks the other process's message inserts hold on the same devices (foreign key checks).
_UPDATE_DEVICES_POSTGRES = """
WITH batch AS (
    SELECT * FROM json_to_recordset(%(rows)s::json) AS b(id text, stored bigint, rejected bigint, seq bigint)
), locked AS MATERIALIZED (
    SELECT devices.id FROM devices JOIN batch ON devices.id = batch.id ORDER BY devices.id FOR NO KEY UPDATE OF devices
)
UPDATE devices AS d SET
    messages_stored = d.messages_stored + batch.stored,
    messages_rejected = d.messages_rejected + batch.rejected,
    last_seen_at = %(now)s,
    last_seq = CASE WHEN COALESCE(d.last_seq, -1) >= batch.seq THEN d.last_seq ELSE batch.seq END
FROM batch JOIN locked ON locked.id = batch.id
WHERE d.id = batch.id
"""


def _update_devices_postgres(session: Session, stats: dict[str, dict], now: datetime) -> None:
    encoded = json.dumps([{"id": device_id, "stored": entry["b_stored"], "rejected": entry["b_rejected"],
                           "seq": entry["b_seq"]} for device_id, entry in stats.items()], separators=(",", ":"))
    session.connection().exec_driver_sql(_UPDATE_DEVICES_POSTGRES, {"rows": encoded, "now": now})


def _printable_topic(topic) -> str:
    """The topic as text we can store and log (lone surrogates and the like replaced), bounded."""
    if not isinstance(topic, str):
        return ""
    return topic.encode("utf-8", "replace").decode("utf-8")[:200]


def _from_ms(ts_ms: int) -> datetime:
    return datetime.fromtimestamp(ts_ms / 1000, tz=timezone.utc)
