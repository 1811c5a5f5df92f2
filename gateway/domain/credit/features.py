"""Credit features: what a customer's stored daily device usage and installment history say, as
of a day. Pure: inputs are plain records, outputs a mapping name -> value (int, Decimal or None
for "no data"); no floats, so the same inputs give the same features everywhere.

What never enters: location (the daily aggregates keep none), app names or contacts (telemetry
carries none), and age, sex or region (the feature list below has no place for them; a test
checks). Device features exist only for customers with `device_usage` consent; repayment
features for everyone.

>>> from datetime import date
>>> days = [UsageDay(date(2026, 1, 1), "phone", 3600, 10**6, 50), UsageDay(date(2026, 3, 1), "phone", 0, 0, 5)]
>>> device = device_features(days, date(2026, 3, 2))
>>> device["device_tenure_days"], device["active_day_share_30d"], device["low_battery_day_share_30d"]
(60, Decimal('0.00'), Decimal('1.00'))
>>> history = [InstallmentRecord(date(2026, 2, 1), date(2026, 2, 20), 0), InstallmentRecord(date(2026, 3, 1), None, 50_000)]
>>> repayment = repayment_features(history, date(2026, 3, 2))
>>> repayment["on_time_share"], repayment["worst_delinquency_days_6m"], repayment["outstanding_fen"]
(Decimal('0.00'), 19, 50000)
"""
from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

Value = int | Decimal | None
Features = Mapping[str, Value]

WINDOW_DAYS = 30  # "recent" device behaviour
HISTORY_DAYS = 182  # "the last 6 months" of repayment
LOW_BATTERY_PCT = 10
MIN_IOT_DAYS = 7  # fewer days of IoT use say nothing about its steadiness
HUNDREDTHS = Decimal("0.01")


class Group(str, enum.Enum):
    DEVICE = "device"  # needs device_usage consent
    REPAYMENT = "repayment"  # from the platform's own installment records, for everyone


class Direction(str, enum.Enum):
    """Which way the feature is expected to move the risk: training enforces it (monotonic
    bins), and so a better value never lowers a score."""

    HIGHER_IS_BETTER = "higher_is_better"
    LOWER_IS_BETTER = "lower_is_better"


class Unit(str, enum.Enum):
    DAYS = "days"
    SHARE = "share"  # 0..1, shown as a percentage
    RATIO = "ratio"  # -1..1, shown as a signed percentage
    FEN = "fen"


@dataclass(frozen=True)
class FeatureSpec:
    name: str
    group: Group
    direction: Direction
    unit: Unit
    description: str  # what the value is, for the customer's "data the score used"
    reason: str  # the reason text when the value costs points: "{range}" is the bin's range
    missing: str  # the reason text when there is no data for it


FEATURES: tuple[FeatureSpec, ...] = (
    FeatureSpec("device_tenure_days", Group.DEVICE, Direction.HIGHER_IS_BETTER, Unit.DAYS,
                "Days since the first usage data from your devices.",
                "Length of device history: {range}", "No device history"),
    FeatureSpec("active_day_share_30d", Group.DEVICE, Direction.HIGHER_IS_BETTER, Unit.SHARE,
                "Share of the last 30 days your devices were used.",
                "Devices used on {range} of the last 30 days", "No recent device use"),
    FeatureSpec("low_battery_day_share_30d", Group.DEVICE, Direction.LOWER_IS_BETTER, Unit.SHARE,
                "Share of the last 30 days your phone's battery fell under 10%.",
                "Phone battery under 10% on {range} of the last 30 days", "No phone battery data"),
    FeatureSpec("data_use_trend", Group.DEVICE, Direction.HIGHER_IS_BETTER, Unit.RATIO,
                "Change of mobile data use, last 15 days against the 15 before.",
                "Change in mobile data use: {range}", "No mobile data use recorded"),
    FeatureSpec("iot_usage_steadiness", Group.DEVICE, Direction.HIGHER_IS_BETTER, Unit.SHARE,
                "How steady the daily use of your IoT devices was over the last 30 days (1 = the same every day).",
                "Steadiness of IoT device use: {range}", "No IoT device in use"),
    FeatureSpec("on_time_share", Group.REPAYMENT, Direction.HIGHER_IS_BETTER, Unit.SHARE,
                "Share of your installments due so far that were paid by their due date.",
                "Installments paid on time: {range}", "No installment history yet"),
    FeatureSpec("worst_delinquency_days_6m", Group.REPAYMENT, Direction.LOWER_IS_BETTER, Unit.DAYS,
                "The most days an installment was late in the last 6 months.",
                "Longest installment delay in the last 6 months: {range}", "No installment due in the last 6 months"),
    FeatureSpec("outstanding_fen", Group.REPAYMENT, Direction.LOWER_IS_BETTER, Unit.FEN,
                "Installment principal you still owe.",
                "Installment balance outstanding: {range}", "No outstanding balance data"),
)
BY_NAME = {spec.name: spec for spec in FEATURES}
DEVICE_FEATURES = tuple(spec.name for spec in FEATURES if spec.group is Group.DEVICE)
REPAYMENT_FEATURES = tuple(spec.name for spec in FEATURES if spec.group is Group.REPAYMENT)


@dataclass(frozen=True)
class UsageDay:
    """One device's stored daily aggregate, reduced to what scoring may use."""

    day: date
    kind: str  # phone | iot
    active_seconds: int  # screen time (phone) or run time (IoT)
    data_bytes: int | None = None  # phone only
    battery_min_pct: int | None = None  # phone only: the day's lowest battery level

    @classmethod
    def from_aggregate(cls, day: date, kind: str, usage: Mapping) -> UsageDay:
        """From a stored daily aggregate (gateway.domain.devices.daily_usage's shape)."""
        if kind == "phone":
            return cls(day, kind, usage.get("screen_seconds") or 0, usage.get("data_bytes") or 0, usage.get("battery_pct_min"))
        return cls(day, kind, usage.get("run_seconds") or 0)


@dataclass(frozen=True)
class InstallmentRecord:
    due_date: date
    paid_on: date | None  # None: not (fully) paid yet
    outstanding_fen: int  # principal still owed on it


def device_features(days: Iterable[UsageDay], as_of: date) -> dict[str, Value]:
    """The device group from daily aggregates up to (not including) `as_of`."""
    days = [d for d in days if d.day < as_of]
    window = [d for d in days if d.day >= as_of - timedelta(days=WINDOW_DAYS)]
    phones = [d for d in window if d.kind == "phone"]
    return {
        "device_tenure_days": (as_of - min(d.day for d in days)).days if days else None,
        "active_day_share_30d": _share(len({d.day for d in window if d.active_seconds > 0}), WINDOW_DAYS) if days else None,
        "low_battery_day_share_30d": _low_battery_share(phones),
        "data_use_trend": _data_use_trend(phones, as_of),
        "iot_usage_steadiness": _steadiness([d.active_seconds for d in window if d.kind == "iot"]),
    }


def repayment_features(installments: Iterable[InstallmentRecord], as_of: date) -> dict[str, Value]:
    installments = list(installments)
    due = [i for i in installments if i.due_date < as_of]
    recent = [i for i in due if i.due_date >= as_of - timedelta(days=HISTORY_DAYS)]
    on_time = sum(1 for i in due if i.paid_on is not None and i.paid_on <= i.due_date)
    return {
        "on_time_share": _share(on_time, len(due)) if due else None,
        "worst_delinquency_days_6m": max(_days_late(i, as_of) for i in recent) if recent else None,
        "outstanding_fen": sum(i.outstanding_fen for i in installments),
    }


def _days_late(installment: InstallmentRecord, as_of: date) -> int:
    settled = installment.paid_on if installment.paid_on is not None else as_of
    return max(0, (settled - installment.due_date).days)


def _share(part: int, whole: int) -> Decimal:
    return (Decimal(part) / Decimal(whole)).quantize(HUNDREDTHS, ROUND_HALF_UP)


def _low_battery_share(phones: list[UsageDay]) -> Decimal | None:
    levels = [d.battery_min_pct for d in phones if d.battery_min_pct is not None]
    return _share(sum(1 for level in levels if level < LOW_BATTERY_PCT), len(levels)) if levels else None


def _data_use_trend(phones: list[UsageDay], as_of: date) -> Decimal | None:
    """(last 15 days - the 15 before) / the 15 before, clipped to [-1, 1]."""
    if not phones:
        return None
    half = as_of - timedelta(days=WINDOW_DAYS // 2)
    recent = sum(d.data_bytes or 0 for d in phones if d.day >= half)
    before = sum(d.data_bytes or 0 for d in phones if d.day < half)
    change = Decimal(recent - before) / Decimal(max(before, 1))
    return max(Decimal(-1), min(Decimal(1), change)).quantize(HUNDREDTHS, ROUND_HALF_UP)


def _steadiness(seconds: list[int]) -> Decimal | None:
    """1 - the coefficient of variation of daily use, clipped to [0, 1]."""
    if len(seconds) < MIN_IOT_DAYS or not any(seconds):
        return None
    count = Decimal(len(seconds))
    mean = Decimal(sum(seconds)) / count
    variance = sum((Decimal(s) - mean) ** 2 for s in seconds) / count
    return max(Decimal(0), Decimal(1) - variance.sqrt() / mean).quantize(HUNDREDTHS, ROUND_HALF_UP)
