"""What the dashboard shows, read in SQL (aggregated and paginated there, so pages stay fast with
many payments) and returned as plain dataclasses and dicts.

Every function takes a `scope`: the merchant whose objects may be seen, or None for an operator
(every merchant). An object of another merchant is reported missing, as in the API.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from typing import Protocol, runtime_checkable

from sqlalchemy import Date, and_, case, cast, func, literal, or_, select
from sqlalchemy.orm import Session

from gateway.adapters.db.device_models import Device, DeviceMessage, DeviceRejection
from gateway.adapters.db.installment_models import DevicePaygCredential, Installment, InstallmentPlan
from gateway.adapters.db.models import (
    Event, LedgerAccount, LedgerPosting, LedgerTransaction, Merchant, Payment, Refund, SandboxBankTransaction,
    SandboxWalletOrder, WalletNotification,
)
from gateway.adapters.db.webhook_models import WebhookDelivery, WebhookEndpoint
from gateway.domain.clock import BEIJING, as_utc, beijing_date
from gateway.domain.errors import NotFound
from gateway.domain.money import format_cny
from gateway.services import idempotency
from gateway.services.ports import BankPorts, SettingsPort
from gateway.services.refunds import create_refund


@runtime_checkable
class DashboardPorts(BankPorts, SettingsPort, Protocol):
    """Transactions and the clock to read; the banks (a refund), and the idempotency settings
    (a refund made once per confirmation form)."""


PAGE_SIZE = 25
CHART_DAYS = 30


# ---- home ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Day:
    day: date
    payments: int
    succeeded: int
    failed: int
    volume: int  # fen received, CNY


@dataclass(frozen=True)
class Home:
    today: Day
    failure_reasons: list[tuple[str, int]]  # today's, most frequent first
    days: list[Day]  # the last 30 Beijing days, oldest first, today last
    refunds_today: int
    refunded_today: int
    open_plans: int
    late_plans: int


def home(gw: DashboardPorts, scope: str | None) -> Home:
    today = beijing_date(gw.clock())
    first = today - timedelta(days=CHART_DAYS - 1)
    since, today_start = _start_of(first), _start_of(today)
    with gw.db.unit_of_work() as session:
        day = _beijing_day(session, Payment.created_at)
        rows = session.execute(
            scoped(select(
                day.label("day"), func.count().label("payments"),
                func.sum(case((Payment.status == "succeeded", 1), else_=0)).label("succeeded"),
                func.sum(case((Payment.status == "failed", 1), else_=0)).label("failed"),
                func.sum(case((Payment.currency == "CNY", Payment.amount_received), else_=0)).label("volume"),
            ).where(Payment.created_at >= since), Payment, scope).group_by(day)
        ).all()
        reasons = session.execute(
            scoped(select(Payment.failure_code, func.count().label("n"))
                    .where(Payment.created_at >= today_start, Payment.status == "failed"), Payment, scope)
            .group_by(Payment.failure_code).order_by(func.count().desc())
        ).all()
        refunds = session.execute(
            scoped(select(func.count(), func.coalesce(func.sum(Refund.amount), 0))
                    .where(Refund.created_at >= today_start, Refund.status == "succeeded"), Refund, scope)
        ).one()
        plans = session.execute(
            scoped(select(func.count(), func.sum(case((InstallmentPlan.delinquency != "current", 1), else_=0)))
                    .where(InstallmentPlan.state == "active"), InstallmentPlan, scope)
        ).one()
    # PostgreSQL sums to NUMERIC: back to whole numbers (fen, counts).
    by_day = {as_date(row.day): Day(as_date(row.day), row.payments, int(row.succeeded or 0), int(row.failed or 0), int(row.volume or 0)) for row in rows}
    days = [by_day.get(first + timedelta(days=n), Day(first + timedelta(days=n), 0, 0, 0, 0)) for n in range(CHART_DAYS)]
    return Home(days[-1], [(code or "unknown", n) for code, n in reasons], days, refunds[0], int(refunds[1]), plans[0], int(plans[1] or 0))


# ---- payments -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class PaymentRow:
    id: str
    merchant_id: str
    merchant_name: str
    amount: int
    currency: str
    status: str
    method: str
    description: str | None
    failure_code: str | None
    amount_refunded: int
    created_at: datetime


@dataclass(frozen=True)
class Page:
    rows: list
    older: int | None  # cursor (seq) for the next page of older rows
    newer: int | None  # cursor (seq) for the page of newer rows


PAYMENT_STATUSES = ("succeeded", "failed", "processing", "requires_action", "requires_capture", "requires_confirmation", "canceled")


def payments_page(gw: DashboardPorts, scope: str | None, search: str = "", status: str = "", before: int | None = None, after: int | None = None) -> Page:
    """Newest first, PAGE_SIZE at a time; `before`/`after` are the cursors of the page links.
    The search matches a payment, customer or plan id exactly, a card's last four digits, or
    words of the description."""
    query = scoped(select(Payment, Merchant.name).join(Merchant, Merchant.id == Payment.merchant_id), Payment, scope)
    search = search.strip()
    if search:
        query = query.where(or_(
            Payment.id == search, Payment.customer_id == search, Payment.installment_plan_id == search,
            Payment.card_last4 == search, Payment.description.ilike(f"%{_escaped(search)}%", escape="\\"),
        ))
    if status in PAYMENT_STATUSES:
        query = query.where(Payment.status == status)
    with gw.db.unit_of_work() as session:
        rows, older, newer = _keyset(session, query, Payment.seq, before, after)
    return Page([_payment_row(payment, name) for payment, name in rows], older, newer)


def _payment_row(payment: Payment, merchant_name: str) -> PaymentRow:
    return PaymentRow(payment.id, payment.merchant_id, merchant_name, payment.amount, payment.currency, payment.status,
                      _method(payment), payment.description, payment.failure_code, payment.amount_refunded, as_utc(payment.created_at))


def _method(payment: Payment) -> str:
    if payment.wallet_provider:
        return f"wallet ({payment.wallet_provider})"
    if payment.card_last4:
        return f"UnionPay card ending {payment.card_last4}" + (f", bank {payment.card_bank}" if payment.card_bank else "")
    return payment.connector


@dataclass(frozen=True)
class TimelineEntry:
    at: datetime
    kind: str  # created | event | bank | wallet | webhook | ledger
    title: str
    detail: str = ""


@dataclass(frozen=True)
class Posting:
    account: str
    debit: int
    credit: int


@dataclass(frozen=True)
class LedgerEntry:
    id: int
    kind: str
    reference: str
    at: datetime
    postings: list[Posting]


@dataclass(frozen=True)
class PaymentDetail:
    payment: PaymentRow
    capture_method: str
    amount_received: int
    refundable: int
    connector: str
    connector_reference: str | None
    failure_message: str | None
    customer_id: str | None
    installment_plan_id: str | None
    purpose: str
    refunds: list[dict]
    timeline: list[TimelineEntry]
    ledger: list[LedgerEntry]


def payment_detail(gw: DashboardPorts, scope: str | None, payment_id: str) -> PaymentDetail:
    with gw.db.unit_of_work() as session:
        found = session.execute(
            scoped(select(Payment, Merchant.name).join(Merchant, Merchant.id == Payment.merchant_id).where(Payment.id == payment_id), Payment, scope)
        ).first()
        if found is None:
            raise NotFound("payment", payment_id)
        payment, merchant_name = found
        refunds = list(session.execute(select(Refund).where(Refund.payment_id == payment.id).order_by(Refund.seq)).scalars())
        timeline, ledger_entries = _timeline(session, payment, refunds)
    refundable = payment.amount_received - payment.amount_refunded if payment.status == "succeeded" and payment.purpose != "installment" else 0
    return PaymentDetail(
        payment=_payment_row(payment, merchant_name), capture_method=payment.capture_method, amount_received=payment.amount_received,
        refundable=refundable, connector=payment.connector, connector_reference=payment.connector_reference,
        failure_message=payment.failure_message, customer_id=payment.customer_id, installment_plan_id=payment.installment_plan_id,
        purpose=payment.purpose,
        refunds=[{"id": r.id, "amount": r.amount, "status": r.status, "failure_code": r.failure_code, "created_at": as_utc(r.created_at)} for r in refunds],
        timeline=timeline, ledger=ledger_entries,
    )


def _timeline(session: Session, payment: Payment, refunds: list[Refund]) -> tuple[list[TimelineEntry], list[LedgerEntry]]:
    """Events, the bank's and wallet's answers, webhook deliveries and ledger postings of a
    payment and its refunds, oldest first."""
    ids = [payment.id, *(refund.id for refund in refunds)]
    entries = [TimelineEntry(as_utc(payment.created_at), "created", "Payment created", f"{format_cny(payment.amount)} via {payment.connector}")]
    events = list(session.execute(
        select(Event).where(Event.merchant_id == payment.merchant_id, Event.data["id"].as_string().in_(ids)).order_by(Event.seq)
    ).scalars())
    entries += [TimelineEntry(as_utc(e.created_at), "event", e.type, f"event {e.id}") for e in events]
    for row in session.execute(select(SandboxBankTransaction).where(SandboxBankTransaction.payment_id == payment.id)).scalars():
        answer = row.outcome + (f" ({row.decline_code})" if row.decline_code else "")
        entries.append(TimelineEntry(as_utc(row.created_at), "bank", f"Bank answered the {row.kind}: {answer}", f"{row.connector}, reference {row.reference}"))
    for row in session.execute(select(WalletNotification).where(WalletNotification.payment_id == payment.id)).scalars():
        entries.append(TimelineEntry(as_utc(row.received_at), "wallet", "Signed wallet notification received", f"{row.provider}, notify {row.notify_id}"))
    order = session.execute(select(SandboxWalletOrder).where(SandboxWalletOrder.payment_id == payment.id)).scalars().first()
    if order is not None:
        entries.append(TimelineEntry(as_utc(payment.created_at), "wallet", f"Wallet order {order.status}", f"{order.provider}, trade {order.trade_no}"))
    if events:
        deliveries = session.execute(
            select(WebhookDelivery, WebhookEndpoint.url, Event.type).join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
            .join(Event, Event.id == WebhookDelivery.event_id).where(WebhookDelivery.event_id.in_([e.id for e in events]))
        ).all()
        for delivery, url, event_type in deliveries:
            outcome = delivery.status + (f", HTTP {delivery.last_status_code}" if delivery.last_status_code else "")
            entries.append(TimelineEntry(as_utc(delivery.last_attempt_at or delivery.created_at), "webhook",
                                         f"Webhook {event_type} to {url}: {outcome}", f"{delivery.attempts} attempt(s)"))
    ledger_entries = _ledger(session, ids)
    entries += [TimelineEntry(entry.at, "ledger", f"Ledger: {entry.kind}", f"transaction {entry.id}, {len(entry.postings)} postings") for entry in ledger_entries]
    return sorted(entries, key=lambda e: e.at), ledger_entries


def _ledger(session: Session, references: list[str]) -> list[LedgerEntry]:
    rows = session.execute(
        select(LedgerTransaction, LedgerAccount.code, LedgerPosting.amount)
        .join(LedgerPosting, LedgerPosting.transaction_id == LedgerTransaction.id)
        .join(LedgerAccount, LedgerAccount.id == LedgerPosting.account_id)
        .where(LedgerTransaction.reference.in_(references)).order_by(LedgerTransaction.id, LedgerPosting.id)
    ).all()
    entries: dict[int, LedgerEntry] = {}
    for txn, code, amount in rows:
        entry = entries.setdefault(txn.id, LedgerEntry(txn.id, txn.kind, txn.reference, as_utc(txn.created_at), []))
        entry.postings.append(Posting(code, max(amount, 0), max(-amount, 0)))
    return list(entries.values())


def refund(gw: DashboardPorts, scope: str | None, payment_id: str, amount: int, request_key: str) -> dict:
    """Refund part or all of a payment from the dashboard, once per confirmation form shown
    (`request_key`): a double click or a resubmitted form replays the first answer."""
    with gw.db.unit_of_work() as session:
        merchant_id = session.execute(scoped(select(Payment.merchant_id).where(Payment.id == payment_id), Payment, scope)).scalar_one_or_none()
    if merchant_id is None:
        raise NotFound("payment", payment_id)
    key = f"dashboard-refund:{request_key}"
    fingerprint = hashlib.sha256(f"{payment_id}:{amount}".encode()).hexdigest()
    stored = idempotency.claim(gw, merchant_id, key, fingerprint)
    if stored is not None:
        return json.loads(stored.body)
    try:
        made = create_refund(gw, merchant_id, payment_id, amount)
    except Exception as exc:
        code = getattr(exc, "code", "refund_failed")
        answer = {"error": code, "message": getattr(exc, "message", "The refund failed.")}
        idempotency.complete(gw, merchant_id, key, idempotency.StoredResponse(getattr(exc, "status", 500), json.dumps(answer)))
        raise
    answer = {"id": made.id, "amount": made.amount, "status": made.status}
    idempotency.complete(gw, merchant_id, key, idempotency.StoredResponse(200, json.dumps(answer)))
    return answer


# ---- installment plans ----------------------------------------------------------------------------

DELINQUENCY_STATES = ("current", "grace", "1-30", "31-60", "61-90", "default")


@dataclass(frozen=True)
class PlanRow:
    id: str
    merchant_name: str
    customer_id: str
    amount: int
    financed: int
    term_months: int
    state: str
    delinquency: str
    created_at: datetime


@dataclass(frozen=True)
class PlansPage:
    page: Page
    by_delinquency: dict[str, int]  # active plans


def plans_page(gw: DashboardPorts, scope: str | None, delinquency: str = "", before: int | None = None, after: int | None = None) -> PlansPage:
    query = scoped(select(InstallmentPlan, Merchant.name).join(Merchant, Merchant.id == InstallmentPlan.merchant_id), InstallmentPlan, scope)
    if delinquency in DELINQUENCY_STATES:
        query = query.where(InstallmentPlan.delinquency == delinquency, InstallmentPlan.state == "active")
    with gw.db.unit_of_work() as session:
        rows, older, newer = _keyset(session, query, InstallmentPlan.seq, before, after)
        counts = dict(session.execute(
            scoped(select(InstallmentPlan.delinquency, func.count()).where(InstallmentPlan.state == "active"), InstallmentPlan, scope)
            .group_by(InstallmentPlan.delinquency)
        ).all())
    plans = [PlanRow(p.id, name, p.customer_id, p.amount, p.financed, p.term_months, p.state, p.delinquency, as_utc(p.created_at)) for p, name in rows]
    return PlansPage(Page(plans, older, newer), {state: counts.get(state, 0) for state in DELINQUENCY_STATES})


@dataclass(frozen=True)
class PlanDetail:
    plan: PlanRow
    down_payment: int
    apr: str
    method: str
    device_id: str | None
    late_fees_charged: int
    installments: list[dict]
    paid: int
    overdue: int
    outstanding: int
    payments: list[PaymentRow]


def plan_detail(gw: DashboardPorts, scope: str | None, plan_id: str) -> PlanDetail:
    today = beijing_date(gw.clock())
    with gw.db.unit_of_work() as session:
        found = session.execute(
            scoped(select(InstallmentPlan, Merchant.name).join(Merchant, Merchant.id == InstallmentPlan.merchant_id)
                    .where(InstallmentPlan.id == plan_id), InstallmentPlan, scope)
        ).first()
        if found is None:
            raise NotFound("installment plan", plan_id)
        plan, merchant_name = found
        items = list(session.execute(select(Installment).where(Installment.plan_id == plan.id).order_by(Installment.number)).scalars())
        payments = session.execute(
            select(Payment, literal(merchant_name)).where(Payment.installment_plan_id == plan.id).order_by(Payment.seq.desc()).limit(50)
        ).all()
    schedule = []
    for item in items:
        owed = (item.principal - item.paid_principal) + (item.interest - item.paid_interest - item.waived_interest) + (item.late_fee - item.paid_late_fee)
        schedule.append({
            "number": item.number, "due_date": item.due_date, "principal": item.principal, "interest": item.interest,
            "late_fee": item.late_fee, "paid": item.paid_principal + item.paid_interest + item.paid_late_fee, "owed": owed,
            "status": item.status, "late": item.status not in ("paid", "canceled") and item.due_date < today,
        })
    live = [row for row in schedule if row["status"] != "canceled"]
    return PlanDetail(
        plan=PlanRow(plan.id, merchant_name, plan.customer_id, plan.amount, plan.financed, plan.term_months, plan.state, plan.delinquency, as_utc(plan.created_at)),
        down_payment=plan.down_payment, apr=str(plan.apr), method=plan.method, device_id=plan.device_id, late_fees_charged=plan.late_fees_charged,
        installments=schedule, paid=sum(row["paid"] for row in schedule), overdue=sum(row["owed"] for row in live if row["late"]),
        outstanding=sum(row["owed"] for row in live), payments=[_payment_row(p, name) for p, name in payments],
    )


# ---- devices ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class DeviceRow:
    id: str
    merchant_name: str
    kind: str
    model: str
    state: str
    last_seen_at: datetime | None
    locked: bool | None  # None: not sold on a plan (no pay-as-you-go lock)
    paid_until: date | None
    messages_stored: int
    messages_rejected: int


@dataclass(frozen=True)
class Fleet:
    page: Page
    by_state: dict[str, int]
    locked: int
    rejections: list[tuple[str, int]]  # reason, count; most frequent first


def fleet(gw: DashboardPorts, scope: str | None, page: int = 0) -> Fleet:
    """The devices, newest enrolled first; `Page.older`/`newer` are page numbers here."""
    today = beijing_date(gw.clock())
    query = scoped(
        select(Device, Merchant.name, DevicePaygCredential).join(Merchant, Merchant.id == Device.merchant_id)
        .outerjoin(DevicePaygCredential, DevicePaygCredential.device_id == Device.id), Device, scope)
    locked_now = and_(DevicePaygCredential.unlocked_for_good.is_(False),
                      or_(DevicePaygCredential.paid_until.is_(None), DevicePaygCredential.paid_until < today))
    with gw.db.unit_of_work() as session:
        rows, older, newer = _offset_page(session, query, (Device.created_at.desc(), Device.id.desc()), max(page, 0))
        by_state = dict(session.execute(scoped(select(Device.state, func.count()), Device, scope).group_by(Device.state)).all())
        locked = session.execute(
            scoped(select(func.count()).select_from(Device).join(DevicePaygCredential, DevicePaygCredential.device_id == Device.id)
                    .where(locked_now, Device.state == "active"), Device, scope)
        ).scalar_one()
        rejections = _rejections(session, scope, None)
    devices = [_device_row(device, name, credential, today) for device, name, credential in rows]
    return Fleet(Page(devices, older, newer), by_state, locked, rejections)


def _device_row(device: Device, merchant_name: str, credential: DevicePaygCredential | None, today: date) -> DeviceRow:
    locked = None
    if credential is not None:
        locked = not credential.unlocked_for_good and (credential.paid_until is None or credential.paid_until < today)
    return DeviceRow(device.id, merchant_name, device.kind, device.model, device.state,
                     as_utc(device.last_seen_at) if device.last_seen_at else None, locked,
                     credential.paid_until if credential is not None else None, device.messages_stored, device.messages_rejected)


def _rejections(session: Session, scope: str | None, device_id: str | None) -> list[tuple[str, int]]:
    query = select(DeviceRejection.reason, func.count())
    if device_id is not None:
        query = query.where(DeviceRejection.device_id == device_id)
    if scope is not None:  # rejections name the device the topic claimed: only the merchant's own count
        query = query.join(Device, Device.id == DeviceRejection.device_id).where(Device.merchant_id == scope)
    return [(reason, n) for reason, n in session.execute(query.group_by(DeviceRejection.reason).order_by(func.count().desc())).all()]


@dataclass(frozen=True)
class DeviceDetail:
    device: DeviceRow
    days: list[dict]  # the last 30 Beijing days: {"day", "telemetry", "confirmations"}
    rejections: list[tuple[str, int]]
    plans: list[str] = field(default_factory=list)


def device_detail(gw: DashboardPorts, scope: str | None, device_id: str) -> DeviceDetail:
    today = beijing_date(gw.clock())
    first = today - timedelta(days=CHART_DAYS - 1)
    with gw.db.unit_of_work() as session:
        found = session.execute(
            scoped(select(Device, Merchant.name, DevicePaygCredential).join(Merchant, Merchant.id == Device.merchant_id)
                    .outerjoin(DevicePaygCredential, DevicePaygCredential.device_id == Device.id).where(Device.id == device_id), Device, scope)
        ).first()
        if found is None:
            raise NotFound("device", device_id)
        device, merchant_name, credential = found
        # By the device's signed time: (device_id, sent_at) is indexed.
        day = _beijing_day(session, DeviceMessage.sent_at)
        counts = session.execute(
            select(day, DeviceMessage.kind, func.count()).where(DeviceMessage.device_id == device.id, DeviceMessage.sent_at >= _start_of(first))
            .group_by(day, DeviceMessage.kind)
        ).all()
        rejections = _rejections(session, scope, device.id)
        plans = list(session.execute(select(InstallmentPlan.id).where(InstallmentPlan.device_id == device.id).order_by(InstallmentPlan.seq)).scalars())
    per_day: dict[date, dict] = {}
    for raw_day, kind, n in counts:
        per_day.setdefault(as_date(raw_day), {})[kind] = n
    days = [{"day": first + timedelta(days=k), "telemetry": per_day.get(first + timedelta(days=k), {}).get("telemetry", 0),
             "confirmations": per_day.get(first + timedelta(days=k), {}).get("confirmation", 0)} for k in range(CHART_DAYS)]
    return DeviceDetail(_device_row(device, merchant_name, credential, today), days, rejections, plans)


# ---- SQL helpers ----------------------------------------------------------------------------------

def scoped(query, model, scope: str | None):
    """`query` limited to the scope's merchant (an operator's scope, None, sees every one)."""
    return query if scope is None else query.where(model.merchant_id == scope)


def _keyset(session: Session, query, seq, before: int | None, after: int | None) -> tuple[list, int | None, int | None]:
    """One page, newest first, by a serial column: rows older than `before`, or the page just
    newer than `after`; with the cursors of the neighbouring pages (None at either end)."""
    if after is not None:
        rows = session.execute(query.add_columns(seq).where(seq > after).order_by(seq.asc()).limit(PAGE_SIZE + 1)).all()
        more_newer = len(rows) > PAGE_SIZE
        rows = list(reversed(rows[:PAGE_SIZE]))
        older = rows[-1][-1] if rows else None
        return [row[:-1] for row in rows], older, (rows[0][-1] if rows and more_newer else None)
    page_query = query.add_columns(seq)
    if before is not None:
        page_query = page_query.where(seq < before)
    rows = session.execute(page_query.order_by(seq.desc()).limit(PAGE_SIZE + 1)).all()
    more_older = len(rows) > PAGE_SIZE
    rows = rows[:PAGE_SIZE]
    return [row[:-1] for row in rows], (rows[-1][-1] if rows and more_older else None), (rows[0][-1] if rows and before is not None else None)


def _offset_page(session: Session, query, order, page: int) -> tuple[list, int | None, int | None]:
    """Page number `page` (0 = newest); for tables without a serial column (devices)."""
    rows = session.execute(query.order_by(*order).offset(page * PAGE_SIZE).limit(PAGE_SIZE + 1)).all()
    return rows[:PAGE_SIZE], (page + 1 if len(rows) > PAGE_SIZE else None), (page - 1 if page > 0 else None)


def _beijing_day(session: Session, column):
    """The Beijing calendar day of a stored UTC time, computed by the database."""
    if session.get_bind().dialect.name == "postgresql":
        return cast(func.timezone("Asia/Shanghai", column), Date)
    return func.date(column, "+8 hours")


def as_date(value) -> date:
    """A date column's value: SQLite hands dates back as text."""
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def _start_of(day: date) -> datetime:
    """Midnight in Beijing starting `day`, in UTC (SQLite compares the stored UTC wall time)."""
    return datetime.combine(day, time.min, BEIJING).astimezone(timezone.utc)


def _escaped(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
