"""The nightly credit job and the telemetry retention.

Once per UTC day (the first worker to claim the day runs it; a run abandoned for an hour is taken
over): aggregate each device's telemetry into daily usage rows, compute every active customer's
features (device ones only with consent) and score them, record a training observation for each
plan that started, and mark the observations whose plan went 30+ days past due.
"""
from __future__ import annotations

import logging
from datetime import date, datetime, time, timedelta, timezone

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from gateway.adapters.db.credit_models import CreditJobRun, CreditObservation, DeviceUsageDay
from gateway.adapters.db.device_models import Device, DeviceMessage
from gateway.adapters.db.installment_models import Installment, InstallmentPlan
from gateway.adapters.db.models import Customer
from gateway.adapters.db.upsert import insert_if_absent
from gateway.domain.clock import as_utc, beijing_date
from gateway.domain.credit.features import DEVICE_FEATURES
from gateway.services import credit
from gateway.services.credit import CreditPorts

log = logging.getLogger(__name__)

STALE_RUN = timedelta(hours=1)
BATCH = 200
DEFAULT_DAYS = 30  # 30+ days past due: the label


def run_nightly(gw: CreditPorts) -> int:
    """Run today's job if no worker has; returns the number of customers scored (0 also when
    today's run is done, or no customer or no live model was there to score)."""
    today = as_utc(gw.clock()).date()
    if not _claim(gw, today):
        return 0
    devices = _aggregate_all(gw, today)
    scored = _score_all(gw)
    observed = _observe_new_plans(gw)
    defaulted = _mark_defaults(gw, today)
    with gw.db.unit_of_work() as session:
        session.execute(update(CreditJobRun).where(CreditJobRun.day == today).values(finished_at=gw.clock()))
    log.info("credit job %s: %s devices aggregated, %s customers scored, %s plans observed, %s defaults", today, devices, scored, observed, defaulted)
    return scored


def _claim(gw: CreditPorts, today: date) -> bool:
    now = gw.clock()
    with gw.db.unit_of_work() as session:
        if insert_if_absent(session, CreditJobRun, ["day"], day=today, started_at=now, finished_at=None):
            return True
        run = session.execute(select(CreditJobRun).where(CreditJobRun.day == today).with_for_update(skip_locked=True)).scalar_one_or_none()
        if run is None or run.finished_at is not None or as_utc(run.started_at) > now - STALE_RUN:
            return False
        run.started_at = now  # the worker that had it is gone: take it over
        return True


def _aggregate_all(gw: CreditPorts, today: date) -> int:
    with gw.db.unit_of_work() as session:
        device_ids = list(session.execute(select(Device.id).order_by(Device.id)).scalars())
    for start in range(0, len(device_ids), BATCH):
        with gw.db.unit_of_work() as session:
            credit.aggregate_usage(session, device_ids[start:start + BATCH], today)
    return len(device_ids)


def _score_all(gw: CreditPorts) -> int:
    """Each active customer in its own short transaction, under the customer's row lock (the
    same lock a plan request and a refresh take)."""
    scored, after = 0, 0
    while True:
        with gw.db.unit_of_work() as session:
            batch = list(session.execute(
                select(Customer.seq, Customer.id).where(Customer.state == "active", Customer.seq > after).order_by(Customer.seq).limit(BATCH)
            ).all())
        if not batch:
            return scored
        for seq, customer_id in batch:
            with gw.db.unit_of_work() as session:
                customer = session.execute(select(Customer).where(Customer.id == customer_id).with_for_update()).scalar_one()
                if customer.state != "active":
                    continue
                credit.compute_features(gw, session, customer_id)
                scored += credit.score_customer(gw, session, customer) is not None
        after = batch[-1][0]


def _observe_new_plans(gw: CreditPorts) -> int:
    """A training example per plan that started: the customer's features as just computed."""
    with gw.db.unit_of_work() as session:
        observed = select(CreditObservation.plan_id).where(CreditObservation.plan_id.is_not(None))
        plans = session.execute(
            select(InstallmentPlan.id, InstallmentPlan.customer_id, InstallmentPlan.start_date)
            .where(InstallmentPlan.state.in_(("active", "completed")), InstallmentPlan.id.not_in(observed))
        ).all()
        for plan in plans:
            features = credit.current_features(session, plan.customer_id)
            device = {name: value for name, value in features.items() if name in DEVICE_FEATURES}
            repayment = {name: value for name, value in features.items() if name not in DEVICE_FEATURES}
            session.add(CreditObservation(source="platform", subject=plan.customer_id, plan_id=plan.id, observed_on=plan.start_date,
                                          device_features=credit.encode(device) if device else None, repayment_features=credit.encode(repayment)))
    return len(plans)


def _mark_defaults(gw: CreditPorts, today: date) -> int:
    """The first day an installment of the plan was 30 days past due and still unpaid then."""
    marked = 0
    with gw.db.unit_of_work() as session:
        open_rows = session.execute(
            select(CreditObservation).where(CreditObservation.source == "platform", CreditObservation.defaulted_on.is_(None))
        ).scalars().all()
        for row in open_rows:
            defaulted_on = _first_default(session, row.plan_id, today)
            if defaulted_on is not None:
                row.defaulted_on = defaulted_on
                marked += 1
    return marked


def _first_default(session: Session, plan_id: str, today: date) -> date | None:
    days = []
    for due_date, status, paid_at in session.execute(
        select(Installment.due_date, Installment.status, Installment.paid_at).where(Installment.plan_id == plan_id, Installment.status != "canceled")
    ).all():
        limit = due_date + timedelta(days=DEFAULT_DAYS)
        settled = beijing_date(paid_at) if status == "paid" and paid_at else None
        if limit <= today and (settled is None or settled > limit):
            days.append(limit)
    return min(days) if days else None


# ---- retention --------------------------------------------------------------------------------

def purge_old_telemetry(gw: CreditPorts) -> int:
    """Once a day, after the day's credit job has aggregated usage: delete raw telemetry older
    than the retention setting whose day has been aggregated (or that holds no body: kept only
    as a dedupe record, long past the message age limit). Returns the rows deleted."""
    now = gw.clock()
    cutoff = now - timedelta(days=gw.settings.telemetry_retention_days)
    deleted = 0
    with gw.db.unit_of_work() as session:
        claimed = session.execute(update(CreditJobRun).where(
            CreditJobRun.day == as_utc(now).date(), CreditJobRun.finished_at.is_not(None), CreditJobRun.telemetry_purged_at.is_(None),
        ).values(telemetry_purged_at=now)).rowcount
        if not claimed:
            return 0
        aggregated = session.execute(select(DeviceUsageDay.device_id, func.max(DeviceUsageDay.day)).group_by(DeviceUsageDay.device_id)).all()
        for device_id, last_day in aggregated:
            kept_from = min(cutoff, datetime.combine(last_day + timedelta(days=1), time.min, tzinfo=timezone.utc))
            deleted += session.execute(delete(DeviceMessage).where(
                DeviceMessage.device_id == device_id, DeviceMessage.kind == "telemetry", DeviceMessage.sent_at < kept_from,
            )).rowcount
        deleted += session.execute(delete(DeviceMessage).where(
            DeviceMessage.kind == "telemetry", DeviceMessage.body.is_(None), DeviceMessage.sent_at < cutoff,
        )).rowcount
    log.info("telemetry retention: %s raw messages older than %s days deleted", deleted, gw.settings.telemetry_retention_days)
    return deleted
