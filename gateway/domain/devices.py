"""Device rules: states, kinds, which messages ingest accepts, and daily usage from telemetry.

Pure: no Flask, SQLAlchemy or MQTT. Times are aware UTC datetimes; usage figures are integers
(seconds, bytes, watt-hours, metres) so nothing near money or usage limits is a float.
"""
from __future__ import annotations

import enum
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from gateway.domain.errors import Conflict, InvalidRequest

DEVICE_ID = re.compile(r"^dev_[A-Za-z0-9]{24}$")
# The gateway's own client certificate. Not a valid device id, so no device can ever be issued it.
GATEWAY_IDENTITY = "paygate-gateway"


class DeviceKind(str, enum.Enum):
    PHONE = "phone"
    IOT = "iot"


class DeviceState(str, enum.Enum):
    ACTIVE = "active"
    SUSPENDED = "suspended"
    REVOKED = "revoked"


def is_device_id(value: str) -> bool:
    return bool(DEVICE_ID.match(value))


def ensure_can_revoke(state: DeviceState) -> None:
    if state is DeviceState.REVOKED:
        raise Conflict("device_revoked", "The device is already revoked.")


class Rejection(str, enum.Enum):
    """Why ingest refused a message. Each is counted and logged; none stops ingest."""

    MALFORMED = "malformed"  # not a COSE_Sign1 envelope, or its payload is not what we expect
    BAD_TOPIC = "bad_topic"  # the topic is not devices/<id>/<telemetry|confirmations>
    UNKNOWN_DEVICE = "unknown_device"
    DEVICE_NOT_ACTIVE = "device_not_active"  # suspended or revoked
    DEVICE_MISMATCH = "device_mismatch"  # topic, envelope key id and payload name different devices
    BAD_SIGNATURE = "bad_signature"
    DUPLICATE_SEQUENCE = "duplicate_sequence"  # a (device, seq) already stored: replay or redelivery
    TIMESTAMP_IN_FUTURE = "timestamp_in_future"
    STALE_TIMESTAMP = "stale_timestamp"
    # confirmations
    CONFIRMATION_UNKNOWN = "confirmation_unknown"
    CONFIRMATION_MISMATCH = "confirmation_mismatch"  # payment, amount, currency or device differ
    CONFIRMATION_EXPIRED = "confirmation_expired"
    CONFIRMATION_DECIDED = "confirmation_already_decided"


@dataclass(frozen=True)
class FreshnessWindow:
    """How far ahead a device clock may run (skew), and how old a buffered message may be.

    Agents keep messages in an outbox across outages, so an honest message can be hours old when it
    arrives; replays inside the window are caught by the (device, seq) dedupe records, which must be
    kept at least `max_age`, and replays outside it by this check.
    """

    skew: timedelta
    max_age: timedelta

    def check(self, sent_at: datetime, now: datetime) -> Rejection | None:
        if sent_at > now + self.skew:
            return Rejection.TIMESTAMP_IN_FUTURE
        if sent_at < now - self.max_age:
            return Rejection.STALE_TIMESTAMP
        return None


# ---- confirmations ----------------------------------------------------------------------------

class ConfirmationState(str, enum.Enum):
    PENDING = "pending"
    APPROVED = "approved"
    DECLINED = "declined"
    EXPIRED = "expired"


@dataclass(frozen=True)
class ConfirmationRequest:
    nonce: str
    payment_id: str
    device_id: str
    amount: int
    currency: str
    expires_at: datetime
    state: ConfirmationState


@dataclass(frozen=True)
class ConfirmationAnswer:
    """What a device signed: the request it answers and its decision."""

    nonce: str
    payment_id: str
    device_id: str
    amount: int
    currency: str
    approved: bool


def judge_confirmation(request: ConfirmationRequest, answer: ConfirmationAnswer, now: datetime) -> Rejection | None:
    """None if `answer` may decide `request` now; otherwise why not. A mismatch never decides:
    a confirmation only counts for the exact payment, amount and device it was asked of."""
    if request.state is not ConfirmationState.PENDING:
        return Rejection.CONFIRMATION_DECIDED
    if (answer.payment_id, answer.device_id, answer.amount, answer.currency) != (
        request.payment_id, request.device_id, request.amount, request.currency
    ):
        return Rejection.CONFIRMATION_MISMATCH
    if now > request.expires_at:
        return Rejection.CONFIRMATION_EXPIRED
    return None


# ---- telemetry and usage ----------------------------------------------------------------------

# Phone telemetry is interval deltas (summed per day) plus the battery level (a gauge). Only a
# coarse region is accepted; the schema has no place for coordinates.
PHONE_SUMMED = ("screen_seconds", "app_sessions", "data_bytes")
PHONE_GAUGES = ("battery_pct",)
# IoT telemetry is cumulative counters (a day's usage is how far they moved) plus a health state.
IOT_COUNTERS = ("run_seconds_total", "energy_wh_total", "distance_m_total")
COARSE_REGION = re.compile(r"^[A-Z]{2}(-[A-Z0-9]{1,3})?$")  # ISO 3166-2 subdivision at most


def validate_telemetry(kind: DeviceKind, body: dict) -> dict:
    """The telemetry body kept for `kind`: known integer fields only (and whether the device's
    installment lock is on), anything else dropped, so a misbehaving agent cannot make us store
    precise location or other data we never asked for."""
    if not isinstance(body, dict):
        raise InvalidRequest("telemetry_invalid", "telemetry body must be a map")
    if kind is DeviceKind.PHONE:
        kept = _integers(body, PHONE_SUMMED + PHONE_GAUGES)
        region = body.get("region")
        if isinstance(region, str) and COARSE_REGION.match(region):
            kept["region"] = region
    else:
        kept = _integers(body, IOT_COUNTERS)
        if body.get("health") in ("ok", "degraded", "fault"):
            kept["health"] = body["health"]
    if isinstance(body.get("locked"), bool):
        kept["locked"] = body["locked"]
    return kept


def _integers(body: dict, names: Iterable[str]) -> dict:
    return {name: body[name] for name in names
            if isinstance(body.get(name), int) and not isinstance(body[name], bool) and 0 <= body[name] < 2**53}


@dataclass(frozen=True)
class Reading:
    sent_at: datetime
    body: dict


def daily_usage(kind: DeviceKind, readings: Iterable[Reading]) -> list[dict]:
    """Per UTC day: message count and the day's usage, oldest day first."""
    by_day: dict[date, list[Reading]] = defaultdict(list)
    for reading in readings:
        by_day[reading.sent_at.date()].append(reading)
    summarise = _phone_day if kind is DeviceKind.PHONE else _iot_day
    return [{"date": day, "messages": len(day_readings), **summarise(sorted(day_readings, key=lambda r: r.sent_at))}
            for day, day_readings in sorted(by_day.items())]


def _phone_day(readings: list[Reading]) -> dict:
    usage = {name: sum(r.body.get(name, 0) for r in readings) for name in PHONE_SUMMED}
    levels = [r.body["battery_pct"] for r in readings if "battery_pct" in r.body]
    usage["battery_pct_min"] = min(levels) if levels else None
    regions = sorted({r.body["region"] for r in readings if "region" in r.body})
    usage["regions"] = regions
    return usage


def _iot_day(readings: list[Reading]) -> dict:
    usage: dict = {}
    for name in IOT_COUNTERS:
        values = [r.body[name] for r in readings if name in r.body]
        # A counter that went backwards was reset (replaced part, firmware update): count the
        # increases only, never a negative usage.
        usage[name.removesuffix("_total")] = sum(max(0, b - a) for a, b in zip(values, values[1:]))
    health = [r.body["health"] for r in readings if "health" in r.body]
    usage["health_last"] = health[-1] if health else None
    usage["health_faults"] = sum(1 for h in health if h == "fault")
    return usage
