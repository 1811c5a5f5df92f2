"""What each kind of device reports, and how it answers payment confirmation requests.

Readings here are simulated (a real agent reads them from the OS or the device's controller), but
the shapes are the contract: integers only, and for phones a coarse region at most, never a
location. The gateway drops any field it does not know.
"""
from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from typing import Callable, Protocol


@dataclass(frozen=True)
class ConfirmationRequest:
    payment_id: str
    amount: int  # fen
    currency: str
    merchant: str
    nonce: str
    expires_ms: int

    @classmethod
    def from_command(cls, body: dict) -> ConfirmationRequest:
        return cls(str(body["payment"]), int(body["amount"]), str(body["currency"]), str(body["merchant"]),
                   str(body["nonce"]), int(body["expires"]))

    @property
    def expired(self) -> bool:
        return time.time() * 1000 > self.expires_ms

    def answer(self, approved: bool) -> dict:
        return {"payment": self.payment_id, "nonce": self.nonce, "amount": self.amount, "currency": self.currency,
                "decision": "approve" if approved else "decline"}


class Profile(Protocol):
    kind: str

    def reading(self, interval_s: float) -> dict: ...

    def decide(self, request: ConfirmationRequest) -> bool | None:
        """True approve, False decline, None: wait for the user (answered later)."""


@dataclass
class PhoneProfile:
    """Screen time, app sessions, battery and data use over the interval; ISO 3166-2 region only.

    A phone on an installment plan that falls behind is locked by its agent, but emergency calls
    always go through: the phone's OS asks `Agent.allows(action)` before each action, which
    delegates to the OpenPAYGO lock (device_agents.payg): while locked only
    `payg.EMERGENCY` ("emergency_call") is allowed, and the telemetry says `locked: true`."""

    region: str = "CN-SH"
    # Asks the user; returns True/False, or None while the prompt is still open (the agent is
    # then answered through Agent.answer()). The default never answers on its own.
    ask_user: Callable[[ConfirmationRequest], bool | None] = lambda request: None
    rng: random.Random = field(default_factory=random.Random)
    battery_pct: int = 100
    kind: str = "phone"

    def reading(self, interval_s: float) -> dict:
        screen = int(self.rng.uniform(0, 0.6) * interval_s)
        self.battery_pct = max(1, self.battery_pct - self.rng.randint(0, 1)) if self.battery_pct > 5 else 100
        return {"screen_seconds": screen, "app_sessions": self.rng.randint(0, 3),
                "data_bytes": self.rng.randint(0, 2_000_000), "battery_pct": self.battery_pct, "region": self.region}

    def decide(self, request: ConfirmationRequest) -> bool | None:
        return self.ask_user(request)


@dataclass
class IotProfile:
    """Cumulative counters (run time, energy, distance) and a health state. Confirms payments
    itself up to an auto-approve limit (a vending or charging unit has no user to ask)."""

    auto_approve_limit: int = 0  # fen; above it (or in another currency) the device declines
    currency: str = "CNY"
    rng: random.Random = field(default_factory=random.Random)
    run_seconds_total: int = 0
    energy_wh_total: int = 0
    distance_m_total: int = 0
    kind: str = "iot"

    def reading(self, interval_s: float) -> dict:
        self.run_seconds_total += int(interval_s)
        self.energy_wh_total += self.rng.randint(0, 50)
        self.distance_m_total += self.rng.randint(0, 500)
        health = "ok" if self.rng.random() > 0.01 else "degraded"
        return {"run_seconds_total": self.run_seconds_total, "energy_wh_total": self.energy_wh_total,
                "distance_m_total": self.distance_m_total, "health": health}

    def decide(self, request: ConfirmationRequest) -> bool | None:
        return request.currency == self.currency and request.amount <= self.auto_approve_limit


def approve_with_probability(probability: float, rng: random.Random) -> Callable[[ConfirmationRequest], bool]:
    """The simulator's stand-in for a user: approves this share of requests."""
    return lambda request: rng.random() < probability


def profile_for(kind: str, *, auto_approve_limit: int = 0, approve_probability: float | None = None,
                seed: int | None = None) -> Profile:
    rng = random.Random(seed)
    if kind == "phone":
        if approve_probability is None:
            return PhoneProfile(rng=rng)
        return PhoneProfile(rng=rng, ask_user=approve_with_probability(approve_probability, rng))
    if kind == "iot":
        return IotProfile(auto_approve_limit=auto_approve_limit, rng=rng)
    raise ValueError("kind is phone or iot")
