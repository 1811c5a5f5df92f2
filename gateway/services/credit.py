"""The credit score as a customer and their merchant meet it: features, scoring with the live
model version, the installment limit it sets, explanations, contests, and forgetting device data.

Which model: `device+repayment` for a customer with `device_usage` consent and device features,
else `repayment_only` (no consent never means no limit: PIPL art. 16). A customer never scored
keeps the single fallback setting `installment_credit_limit`.
"""
from __future__ import annotations

import json
import logging
import random
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from typing import Protocol, runtime_checkable

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from gateway.adapters.db.credit_models import (
    CreditContest,
    CreditFeatureRow,
    CreditModelVersion,
    CreditObservation,
    CreditScore,
    DeviceUsageDay,
)
from gateway.adapters.db.device_models import Device, DeviceMessage
from gateway.adapters.db.installment_models import Installment, InstallmentPlan
from gateway.adapters.db.lookup import owned
from gateway.adapters.db.models import Customer
from gateway.domain import devices as device_rules
from gateway.domain.clock import as_utc, beijing_date
from gateway.domain.consent import ConsentKind
from gateway.domain.credit.features import (
    BY_NAME,
    Group,
    InstallmentRecord,
    UsageDay,
    Value,
    device_features,
    repayment_features,
)
from gateway.domain.credit.limits import LimitPolicy
from gateway.domain.credit.scorecard import Scorecard
from gateway.domain.errors import Conflict, InvalidRequest, NotFound
from gateway.domain.ids import new_id
from gateway.observability.metrics import count_credit_score
from gateway.services import events
from gateway.services.customers import has_consent, owned_customer, require_consent
from gateway.services.ports import SettingsPort, StoragePorts
from gateway.services.read_models import ContestView, CreditProfile, FeatureView, ReasonView

log = logging.getLogger(__name__)

DEVICE_MODEL, REPAYMENT_MODEL = "device+repayment", "repayment_only"
LIMIT_CHANGED = "credit.limit_changed"
# Late telemetry (agents buffer up to the max message age) can still land in these recent days,
# so each aggregation redoes them.
REAGGREGATE_DAYS = 8


@runtime_checkable
class CreditPorts(StoragePorts, SettingsPort, Protocol):
    """What the credit use cases take: transactions, the clock, and the settings (the limit
    policy, the fallback limit, the telemetry retention)."""


# ---- profiles ---------------------------------------------------------------------------------

def get_profile(gw: CreditPorts, merchant_id: str, customer_id: str) -> CreditProfile:
    with gw.db.unit_of_work() as session:
        owned_customer(session, merchant_id, customer_id)
        return _profile(gw, session, customer_id)


def refresh_profile(gw: CreditPorts, merchant_id: str, customer_id: str) -> CreditProfile:
    """Features from the data stored up to now, scored with the live model version."""
    with gw.db.unit_of_work() as session:
        customer = owned_customer(session, merchant_id, customer_id, active=True, lock=True)
        aggregate_usage(session, _device_ids(session, customer_id), _today(gw))
        compute_features(gw, session, customer_id)
        score_customer(gw, session, customer)
        return _profile(gw, session, customer_id)


def _profile(gw: CreditPorts, session: Session, customer_id: str) -> CreditProfile:
    latest = _latest_score(session, customer_id)
    if latest is None:
        stored = current_features(session, customer_id)
        features = tuple(FeatureView(name, _text(value), None, BY_NAME[name].description) for name, value in sorted(stored.items()))
        return CreditProfile(customer_id, None, None, gw.settings.installment_credit_limit, None, None, None, (), features)
    assessment = json.loads(latest.assessment)
    return CreditProfile(
        customer_id, latest.score, latest.band, latest.installment_limit, latest.model_version, latest.model, as_utc(latest.computed_at),
        tuple(ReasonView(r["code"], r["text"], r["value"]) for r in assessment["reasons"]),
        tuple(FeatureView(f["name"], f["value"], f["points"], BY_NAME[f["name"]].description) for f in assessment["features"]),
    )


def _latest_score(session: Session, customer_id: str) -> CreditScore | None:
    return session.execute(
        select(CreditScore).where(CreditScore.customer_id == customer_id).order_by(CreditScore.id.desc()).limit(1)
    ).scalar_one_or_none()


def installment_limit(gw: CreditPorts, session: Session, customer_id: str) -> int:
    """The customer's installment credit limit: from their latest score, else the fallback."""
    latest = _latest_score(session, customer_id)
    return latest.installment_limit if latest is not None else gw.settings.installment_credit_limit


# ---- scoring ----------------------------------------------------------------------------------

def score_customer(gw: CreditPorts, session: Session, customer: Customer, previous: int | None = None) -> CreditScore | None:
    """Score with the live version of the model the customer's data allows; records the score
    and, when the limit moves from `previous` (default: the limit in force), a
    `credit.limit_changed` event. None if no model is live."""
    features = current_features(session, customer.id)
    # The device model only for a customer whose devices have sent usage data (tenure is known
    # from the first day of it): consent alone, with nothing behind it, says nothing.
    with_device = has_consent(session, customer.id, ConsentKind.DEVICE_USAGE) and features.get("device_tenure_days") is not None
    card = live_scorecard(session, DEVICE_MODEL) if with_device else None
    card = card or live_scorecard(session, REPAYMENT_MODEL)
    if card is None:
        return None
    assessment = card.assess(features)
    band = limit_policy(gw).band_for(assessment.score)
    if previous is None:
        previous = installment_limit(gw, session, customer.id)
    now = gw.clock()
    score = CreditScore(customer_id=customer.id, model_version=card.version, model=card.model, score=assessment.score, band=band.name,
                        installment_limit=band.limit, assessment=assessment.to_json(), computed_at=now)
    session.add(score)
    session.flush()
    count_credit_score(session, card.model, band.name)
    if band.limit != previous:
        events.record(session, customer.merchant_id, LIMIT_CHANGED, {
            "object": "credit_profile", "customer": customer.id, "previous_limit": previous, "installment_limit": band.limit,
            "band": band.name, "score": assessment.score, "model_version": card.version,
        }, now)
    return score


def limit_policy(gw: CreditPorts) -> LimitPolicy:
    return LimitPolicy.parse(gw.settings.credit_limit_policy)


# Model versions never change once written, so a parsed table can be kept by version; which
# version is live is read from the database every time (every process sees a promotion at once).
_parsed: dict[str, Scorecard] = {}


def live_scorecard(session: Session, model: str) -> Scorecard | None:
    live = session.execute(
        select(CreditModelVersion.version, CreditModelVersion.points_table).where(CreditModelVersion.model == model, CreditModelVersion.state == "live")
    ).first()
    if live is None:
        return None
    if live.version not in _parsed:
        _parsed[live.version] = Scorecard.from_json(live.points_table)
    return _parsed[live.version]


# ---- features ---------------------------------------------------------------------------------

def compute_features(gw: CreditPorts, session: Session, customer_id: str) -> dict[str, Value]:
    """Write the customer's current feature rows: repayment always, device only with consent."""
    today = _today(gw)
    now = gw.clock()
    values = repayment_features(_installment_records(session, customer_id), today)
    _store(session, customer_id, Group.REPAYMENT, values, now)
    if has_consent(session, customer_id, ConsentKind.DEVICE_USAGE):
        device = device_features(_usage_days(session, customer_id), today)
        _store(session, customer_id, Group.DEVICE, device, now)
        values |= device
    else:
        session.execute(delete(CreditFeatureRow).where(CreditFeatureRow.customer_id == customer_id, CreditFeatureRow.feature_group == Group.DEVICE.value))
    return values


def current_features(session: Session, customer_id: str) -> dict[str, Value]:
    rows = session.execute(select(CreditFeatureRow.feature_values).where(CreditFeatureRow.customer_id == customer_id)).scalars()
    return {name: value for row in rows for name, value in decode(row).items()}


def encode(values: dict[str, Value]) -> dict:
    """Feature values as stored in JSON: Decimals as text, so nothing passes through a float."""
    return {name: str(value) if isinstance(value, Decimal) else value for name, value in sorted(values.items())}


def decode(stored: dict) -> dict[str, Value]:
    return {name: Decimal(value) if isinstance(value, str) else value for name, value in stored.items()}


def _store(session: Session, customer_id: str, group: Group, values: dict[str, Value], now: datetime) -> None:
    session.merge(CreditFeatureRow(customer_id=customer_id, feature_group=group.value, feature_values=encode(values), computed_at=now))


def _installment_records(session: Session, customer_id: str) -> list[InstallmentRecord]:
    rows = session.execute(
        select(Installment.due_date, Installment.status, Installment.paid_at, Installment.principal, Installment.paid_principal)
        .join(InstallmentPlan, InstallmentPlan.id == Installment.plan_id)
        .where(InstallmentPlan.customer_id == customer_id, InstallmentPlan.state.in_(("active", "completed")), Installment.status != "canceled")
    ).all()
    return [InstallmentRecord(row.due_date, beijing_date(row.paid_at) if row.status == "paid" and row.paid_at else None,
                              0 if row.status == "paid" else row.principal - row.paid_principal) for row in rows]


def _device_ids(session: Session, customer_id: str) -> list[str]:
    return list(session.execute(select(Device.id).where(Device.owner_customer_id == customer_id).order_by(Device.id)).scalars())


def _usage_days(session: Session, customer_id: str) -> list[UsageDay]:
    rows = session.execute(
        select(DeviceUsageDay).join(Device, Device.id == DeviceUsageDay.device_id).where(Device.owner_customer_id == customer_id)
    ).scalars()
    return [UsageDay.from_aggregate(row.day, row.kind, row.usage) for row in rows]


def aggregate_usage(session: Session, device_ids: list[str], before: date) -> int:
    """Daily aggregates of the devices' stored telemetry for days before `before` (UTC), the
    recent ones redone; returns how many days were written. Regions are not kept."""
    written = 0
    for device_id in device_ids:
        device = session.get(Device, device_id)
        last = session.execute(select(func.max(DeviceUsageDay.day)).where(DeviceUsageDay.device_id == device_id)).scalar()
        start = (last - timedelta(days=REAGGREGATE_DAYS)) if last else date.min
        since = datetime.combine(max(start, date(1970, 1, 2)), time.min, tzinfo=timezone.utc)
        until = datetime.combine(before, time.min, tzinfo=timezone.utc)
        readings = session.execute(
            select(DeviceMessage.sent_at, DeviceMessage.body).where(
                DeviceMessage.device_id == device_id, DeviceMessage.kind == "telemetry", DeviceMessage.sent_at >= since,
                DeviceMessage.sent_at < until, DeviceMessage.body.is_not(None))
        ).all()
        days = device_rules.daily_usage(device_rules.DeviceKind(device.kind), (device_rules.Reading(as_utc(r.sent_at), r.body) for r in readings))
        if not days:
            continue
        session.execute(delete(DeviceUsageDay).where(DeviceUsageDay.device_id == device_id, DeviceUsageDay.day >= days[0]["date"]))
        for day in days:
            usage = {key: value for key, value in day.items() if key not in ("date", "regions")}
            session.add(DeviceUsageDay(device_id=device_id, day=day["date"], kind=device.kind, usage=usage))
        written += len(days)
    session.flush()
    return written


# ---- privacy ----------------------------------------------------------------------------------

def forget_device_data(session: Session, customer_id: str) -> None:
    """At the withdrawal of `device_usage` consent or at erasure: the device features, every
    score (all were made while device data could be used), the daily usage aggregates and kept
    telemetry of the customer's devices, and the device part of their training observations."""
    owned_devices = select(Device.id).where(Device.owner_customer_id == customer_id)
    session.execute(delete(CreditFeatureRow).where(CreditFeatureRow.customer_id == customer_id, CreditFeatureRow.feature_group == Group.DEVICE.value))
    session.execute(delete(CreditScore).where(CreditScore.customer_id == customer_id))
    session.execute(delete(DeviceUsageDay).where(DeviceUsageDay.device_id.in_(owned_devices)))
    session.execute(update(DeviceMessage).where(DeviceMessage.device_id.in_(owned_devices)).values(body=None))
    session.execute(update(CreditObservation).where(CreditObservation.subject == customer_id).values(device_features=None))


def forget_customer(session: Session, customer_id: str) -> None:
    """At erasure: the device data as above, and every credit record of the customer."""
    forget_device_data(session, customer_id)
    session.execute(delete(CreditFeatureRow).where(CreditFeatureRow.customer_id == customer_id))
    session.execute(delete(CreditObservation).where(CreditObservation.subject == customer_id))


def device_consent_withdrawn(gw: CreditPorts, session: Session, customer: Customer) -> None:
    """Forget the device data and score again at once with the repayment-only model, so the
    limit follows the repayment history rather than falling back to the default."""
    previous = installment_limit(gw, session, customer.id)
    forget_device_data(session, customer.id)
    compute_features(gw, session, customer.id)
    score_customer(gw, session, customer, previous)


# ---- sandbox -----------------------------------------------------------------------------------

# Share of days used, share of phone days with the battery under 10% (a steady user never lets it
# run flat, so every steady history shows the same battery habit whatever its device id).
SANDBOX_PROFILES = {"steady": (0.95, 0.0), "irregular": (0.45, 0.35)}


def load_sandbox_usage(gw: CreditPorts, merchant_id: str, device_id: str, days: int, profile: str) -> int:
    """Test mode: daily usage aggregates for the `days` before today, as if the device had sent
    telemetry all along, so a demo or an integration can see the device model at work. The same
    rule as real data: only for a device whose owner gave `device_usage` consent."""
    active, low_battery = SANDBOX_PROFILES[profile]
    rng = random.Random(f"{device_id}:{profile}")  # the same history every time for this device
    today = _today(gw)
    with gw.db.unit_of_work() as session:
        device = owned(session, Device, merchant_id, device_id, "device")
        if device.owner_customer_id is None:
            raise Conflict("device_not_owned", f"Device {device_id} belongs to no customer yet: sell it on a plan first.", "device")
        require_consent(session, device.owner_customer_id, ConsentKind.DEVICE_USAGE)
        first = today - timedelta(days=days)
        session.execute(delete(DeviceUsageDay).where(DeviceUsageDay.device_id == device_id, DeviceUsageDay.day >= first))
        for back in range(days, 0, -1):
            used = rng.random() < active
            usage = ({"messages": 24, "screen_seconds": rng.randint(1_800, 14_400) if used else 0, "app_sessions": rng.randint(5, 60) if used else 0,
                      "data_bytes": rng.randint(50, 400) * 1_000_000, "battery_pct_min": rng.randint(1, 9) if rng.random() < low_battery else rng.randint(10, 80)}
                     if device.kind == "phone" else
                     {"messages": 24, "run_seconds": rng.randint(10_000, 14_000) if used else 0, "energy_wh": 400, "distance_m": 0, "health_last": "ok",
                      "health_faults": 0})
            session.add(DeviceUsageDay(device_id=device_id, day=today - timedelta(days=back), kind=device.kind, usage=usage))
    return days


# ---- contests ---------------------------------------------------------------------------------

def open_contest(gw: CreditPorts, merchant_id: str, customer_id: str, reason: str) -> ContestView:
    """The customer contests the automated decision: an operator reviews it."""
    reason = reason.strip()
    if not reason:
        raise InvalidRequest("parameter_invalid", "Say what the customer contests.", "reason")
    with gw.db.unit_of_work() as session:
        owned_customer(session, merchant_id, customer_id)
        latest = _latest_score(session, customer_id)
        contest = CreditContest(
            id=new_id("ccn"), merchant_id=merchant_id, customer_id=customer_id, model_version=latest.model_version if latest else None,
            score=latest.score if latest else None, reason=reason, state="open", created_at=gw.clock(),
        )
        session.add(contest)
    log.info("credit contest %s opened for customer %s", contest.id, customer_id)
    return _contest_view(contest)


def list_contests(gw: CreditPorts, state: str | None = "open") -> list[ContestView]:
    query = select(CreditContest).order_by(CreditContest.created_at, CreditContest.id)
    if state:
        query = query.where(CreditContest.state == state)
    with gw.db.unit_of_work() as session:
        return [_contest_view(contest) for contest in session.execute(query).scalars()]


RESOLUTIONS = ("upheld", "corrected")


def resolve_contest(gw: CreditPorts, contest_id: str, decision: str, note: str) -> ContestView:
    """An operator's decision: `upheld` (the score stands) or `corrected` (the data was wrong and
    has been put right; the customer is scored again now)."""
    if decision not in RESOLUTIONS:
        raise InvalidRequest("parameter_invalid", f"decision must be one of {', '.join(RESOLUTIONS)}.", "decision")
    with gw.db.unit_of_work() as session:
        contest = session.execute(select(CreditContest).where(CreditContest.id == contest_id).with_for_update()).scalar_one_or_none()
        if contest is None:
            raise NotFound("credit_contest", contest_id)
        if contest.state != "open":
            raise Conflict("contest_resolved", f"Contest {contest_id} is already {contest.state}.")
        contest.state, contest.note, contest.resolved_at = decision, note, gw.clock()
        if decision == "corrected":
            customer = owned_customer(session, contest.merchant_id, contest.customer_id, lock=True)
            if customer.state == "active":
                compute_features(gw, session, customer.id)
                score_customer(gw, session, customer)
    return _contest_view(contest)


def _contest_view(contest: CreditContest) -> ContestView:
    return ContestView(contest.id, contest.customer_id, contest.merchant_id, contest.state, contest.reason, contest.model_version,
                       contest.score, contest.note, as_utc(contest.created_at), as_utc(contest.resolved_at) if contest.resolved_at else None)


def _today(gw: CreditPorts) -> date:
    return as_utc(gw.clock()).date()


def _text(value: Value) -> str | None:
    return None if value is None else str(value)
