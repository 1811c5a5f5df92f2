"""A synthetic population for a new platform: daily device aggregates, installment histories and
repayment outcomes from a documented generative model, so a fresh install can train a model and
the tests know the truth (docs/credit.md repeats this).

Each applicant has a hidden risk z ~ N(0, 1) (higher: riskier) and starts a plan on a day in the
540 days before `today`. Then:

- device tenure (days since the first telemetry) = exp(N(5.6 - 0.5 z, 0.7)), 1..2000  (signal)
- each of the last 30 days is active with p = sigmoid(1.8 - 0.9 z + N(0, 0.5))       (signal)
- each phone day's battery falls under 10% with p = sigmoid(-2.2 + 0.8 z + N(0, 0.5)) (signal)
- daily mobile data (background sync too, so also on idle days), the last 15 days
  scaled by exp(N(0, 0.4)): independent of z                                         (noise)
- a third own an IoT device, its daily run time varying by a factor drawn
  independently of z                                                                 (noise)
- 60% have an installment history: 3..18 past installments, each late with
  p = sigmoid(-2.8 + 1.2 z), by 1 + Exp(mean 4 + 8 sigmoid(z)) days                  (signal)
- outstanding principal ~ N(6,000 + 2,500 z, 4,000) CNY, at least 0, for those        (weak signal)
- outcome: 30+ days past due within 12 months with p = sigmoid(-2.0 + 1.4 z), on a day
  60..365 days after the plan's start (uniform); only days up to `today` are known.
- 70% consented to device usage data: the others' device features are not kept.

Features are computed from the generated records by gateway.domain.credit.features, the same
code that serves real customers.
"""
from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import date, timedelta

from gateway.domain.credit.features import (
    InstallmentRecord,
    UsageDay,
    Value,
    device_features,
    repayment_features,
)

SIGNAL_FEATURES = ("device_tenure_days", "active_day_share_30d", "low_battery_day_share_30d", "on_time_share", "worst_delinquency_days_6m")
WEAK_FEATURES = ("outstanding_fen",)
NOISE_FEATURES = ("data_use_trend", "iot_usage_steadiness")
HORIZON_DAYS = 540
CONSENT_SHARE = 0.7


@dataclass(frozen=True)
class Applicant:
    key: str  # pseudonymous: "sim-000042"
    observed_on: date  # the plan's start: features are as of this day
    device_consent: bool
    features: dict[str, Value]  # device features only with consent
    defaulted_on: date | None  # first day 30+ days past due, if known by `today`
    risk: float  # the hidden z, for tests


def sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-x))


def simulate(count: int, today: date, seed: int = 11) -> list[Applicant]:
    rng = random.Random(seed)
    return [_applicant(rng, index, today) for index in range(count)]


def _applicant(rng: random.Random, index: int, today: date) -> Applicant:
    z = rng.gauss(0, 1)
    observed_on = today - timedelta(days=_between(rng, 0, HORIZON_DAYS - 1))
    consent = rng.random() < CONSENT_SHARE
    features = repayment_features(_installments(rng, z, observed_on), observed_on)
    if consent:  # without it, no device data is kept: none is made either
        features |= device_features(_usage_days(rng, z, observed_on), observed_on)
    defaulted_on = None
    if rng.random() < sigmoid(-2.0 + 1.4 * z):
        day = observed_on + timedelta(days=_between(rng, 60, 365))
        defaulted_on = day if day <= today else None
    return Applicant(f"sim-{index:06d}", observed_on, consent, features, defaulted_on, z)


def _between(rng: random.Random, low: int, high: int) -> int:
    """An integer in [low, high]: randint's result, at a fifth of its cost."""
    return low + int(rng.random() * (high - low + 1))


def _usage_days(rng: random.Random, z: float, as_of: date) -> list[UsageDay]:
    tenure = min(2000, max(1, int(math.exp(rng.gauss(5.6 - 0.5 * z, 0.7)))))
    active = sigmoid(1.8 - 0.9 * z + rng.gauss(0, 0.5))
    low_battery = sigmoid(-2.2 + 0.8 * z + rng.gauss(0, 0.5))
    data_level = math.exp(rng.gauss(19, 1))  # bytes a day, ~180 MB
    data_change = math.exp(rng.gauss(0, 0.4))
    days = [UsageDay(as_of - timedelta(days=tenure), "phone", 1800, int(data_level), 60)]
    for back in range(1, 31):
        day = as_of - timedelta(days=back)
        if day <= days[0].day:
            continue
        used = rng.random() < active
        level = data_level * (data_change if back <= 15 else 1) * rng.uniform(0.7, 1.3)
        days.append(UsageDay(day, "phone", _between(rng, 600, 20_000) if used else 0, int(level),
                             _between(rng, 1, 9) if rng.random() < low_battery else _between(rng, 10, 90)))
    if rng.random() < 1 / 3:
        spread = rng.uniform(0.05, 0.8)
        run = _between(rng, 3_600, 30_000)
        days += [UsageDay(as_of - timedelta(days=back), "iot", int(run * math.exp(rng.gauss(0, spread)))) for back in range(1, 31)]
    return days


def _installments(rng: random.Random, z: float, as_of: date) -> list[InstallmentRecord]:
    if rng.random() >= 0.6:
        return []
    late = sigmoid(-2.8 + 1.2 * z)
    mean_days_late = 4 + 8 * sigmoid(z)
    count = _between(rng, 3, 18)
    records = []
    for back in range(count, 0, -1):
        due = as_of - timedelta(days=30 * back - 15)
        days_late = 1 + int(rng.expovariate(1 / mean_days_late)) if rng.random() < late else 0
        paid = due + timedelta(days=days_late)
        records.append(InstallmentRecord(due, paid if paid < as_of else None, 0))
    outstanding = max(0, int(rng.gauss(6_000 + 2_500 * z, 4_000))) * 100
    records.append(InstallmentRecord(as_of + timedelta(days=30), None, outstanding))  # still running
    return records

