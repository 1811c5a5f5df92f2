"""Events: what happened to a merchant's objects, recorded in the same transaction as the change
(the outbox), so a change and its event are committed together or not at all. Recording an event
also queues one webhook delivery per endpoint of the merchant that listens for its type, in that
same transaction; the `webhooks` worker (gateway/workers/webhooks.py) delivers them."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import bindparam, exists, insert, select
from sqlalchemy.orm import Session

from gateway.adapters.db.models import Event, Payment, Refund
from gateway.adapters.db.webhook_models import WebhookDelivery, WebhookEndpoint
from gateway.adapters.db.lookup import owned
from gateway.domain.clock import as_utc
from gateway.domain.errors import Conflict, NotFound
from gateway.domain.ids import new_id
from gateway.domain.webhooks import DeliveryStatus, listens
from gateway.services.ports import StoragePorts
from gateway.observability.metrics import count_payment
from gateway.services.read_models import DeliveryView, EventDetail, EventView

# The payment states a merchant hears about, and the event each one raises.
PAYMENT_EVENTS = {
    "succeeded": "payment.succeeded",
    "failed": "payment.failed",
    "canceled": "payment.canceled",
    "requires_capture": "payment.requires_capture",
}
REFUND_EVENTS = {"succeeded": "refund.succeeded", "failed": "refund.failed"}
# Raised by installment plans (gateway/services/installment_plans.py).
INSTALLMENT_EVENTS = ("installment.paid", "installment.failed", "plan.delinquent", "plan.completed", "plan.canceled")
# Raised by the money-market fund (gateway/services/fund_orders.py, fund_accrual.py); income is
# one event per fund and day, not per holder.
FUND_EVENTS = ("fund.subscription.confirmed", "fund.redemption.paid", "fund.income.credited")
# Raised by the credit score (gateway/services/credit.py) when a customer's installment limit moves.
CREDIT_EVENTS = ("credit.limit_changed",)
# Raised by checkout sessions (gateway/services/checkout.py), once per session.
CHECKOUT_EVENTS = ("checkout.session.completed",)
EVENT_TYPES = sorted({*PAYMENT_EVENTS.values(), *REFUND_EVENTS.values(), *INSTALLMENT_EVENTS, *FUND_EVENTS, *CREDIT_EVENTS, *CHECKOUT_EVENTS})


# Built once: see gateway/services/merchants.py _KEY_LOOKUP.
_events = Event.__table__
_INSERT_EVENT = insert(_events)
_LISTENING_ENDPOINTS = select(WebhookEndpoint.id, WebhookEndpoint.enabled_events).where(
    WebhookEndpoint.merchant_id == bindparam("b_merchant"), WebhookEndpoint.status == "enabled")
# PostgreSQL: the event inserted and the endpoints listening read in one statement (one round
# trip on every payment's path), the INSERT as a data-modifying WITH.
_INSERT_EVENT_READ_ENDPOINTS = _LISTENING_ENDPOINTS.add_cte(insert(_events).values(
    id=bindparam("e_id"), merchant_id=bindparam("b_merchant"), type=bindparam("e_type"),
    data=bindparam("e_data", type_=_events.c.data.type), created_at=bindparam("e_created_at", type_=_events.c.created_at.type),
).cte("new_event"))


def record(session: Session, merchant_id: str, event_type: str, data: dict, now: datetime) -> Event:
    """Write the event and its pending webhook deliveries in the caller's transaction."""
    now = as_utc(now)  # SQLite keeps the wall time only: store UTC
    event = Event(id=new_id("evt"), merchant_id=merchant_id, type=event_type, data=data, created_at=now)
    _count(session, event_type, data)
    # Core statements: on a payment's path the ORM's flush cost more than the SQL.
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        endpoints = connection.execute(_INSERT_EVENT_READ_ENDPOINTS, {
            "e_id": event.id, "b_merchant": merchant_id, "e_type": event_type, "e_data": data, "e_created_at": now}).all()
    else:  # SQLite has no data-modifying WITH
        connection.execute(_INSERT_EVENT, {"id": event.id, "merchant_id": merchant_id, "type": event_type, "data": data, "created_at": now})
        endpoints = connection.execute(_LISTENING_ENDPOINTS, {"b_merchant": merchant_id}).all()
    for endpoint in endpoints:
        if listens(endpoint.enabled_events, event_type):
            session.add(new_delivery(event, endpoint, now))
    session.flush()
    return event


def record_many(session: Session, merchant_id: str, items: list[tuple[str, dict]], now: datetime) -> int:
    """`record` for a batch of events of one merchant: the same rows, written in bulk."""
    now = as_utc(now)
    rows = [{"id": new_id("evt"), "merchant_id": merchant_id, "type": event_type, "data": data, "created_at": now} for event_type, data in items]
    if not rows:
        return 0
    for event_type, data in items:
        _count(session, event_type, data)
    session.connection().execute(insert(Event.__table__), rows)
    endpoints = session.execute(
        select(WebhookEndpoint).where(WebhookEndpoint.merchant_id == merchant_id, WebhookEndpoint.status == "enabled")
    ).scalars().all()
    deliveries = [
        {"id": new_id("whd"), "event_id": row["id"], "endpoint_id": endpoint.id, "merchant_id": merchant_id,
         "status": DeliveryStatus.PENDING.value, "attempts": 0, "next_attempt_at": now, "created_at": now}
        for row in rows for endpoint in endpoints if listens(endpoint.enabled_events, row["type"])
    ]
    if deliveries:
        session.connection().execute(insert(WebhookDelivery.__table__), deliveries)
    return len(rows)


def _count(session: Session, event_type: str, data: dict) -> None:
    """paygate_payments_total: every payment state merchants hear about is an event."""
    kind, _, status = event_type.partition(".")
    if kind == "payment":
        count_payment(session, status, data.get("failure_code"))


def new_delivery(event: Event, endpoint, now: datetime) -> WebhookDelivery:
    """`endpoint`: a WebhookEndpoint or a row with its id."""
    return WebhookDelivery(
        id=new_id("whd"),
        event_id=event.id,
        endpoint_id=endpoint.id,
        merchant_id=event.merchant_id,
        status=DeliveryStatus.PENDING.value,
        attempts=0,
        next_attempt_at=now,
        created_at=now,
    )


def record_payment_change(session: Session, payment: Payment, now: datetime) -> Event | None:
    event_type = PAYMENT_EVENTS.get(payment.status)
    return record(session, payment.merchant_id, event_type, payment_snapshot(payment), now) if event_type else None


def record_refund_change(session: Session, refund: Refund, now: datetime) -> Event | None:
    event_type = REFUND_EVENTS.get(refund.status)
    return record(session, refund.merchant_id, event_type, refund_snapshot(refund), now) if event_type else None


def payment_snapshot(payment: Payment) -> dict:
    return {
        "object": "payment",
        "id": payment.id,
        "amount": payment.amount,
        "currency": payment.currency,
        "status": payment.status,
        "amount_received": payment.amount_received,
        "amount_refunded": payment.amount_refunded,
        "failure_code": payment.failure_code,
        "customer": payment.customer_id,
        "metadata": payment.metadata_ or {},
    }


def refund_snapshot(refund: Refund) -> dict:
    return {
        "object": "refund",
        "id": refund.id,
        "payment": refund.payment_id,
        "amount": refund.amount,
        "currency": refund.currency,
        "status": refund.status,
        "failure_code": refund.failure_code,
    }


# ---- reading events, and asking for a redelivery ------------------------------------------------

def list_events(
    gw: StoragePorts,
    merchant_id: str,
    limit: int,
    starting_after: str | None,
    event_type: str | None = None,
    delivery_status: str | None = None,
) -> tuple[list[EventView], bool]:
    """Newest first; `starting_after` is the id of the last event of the previous page. Filter by
    type, or by the status of a delivery (`failed`: events some endpoint never got)."""
    with gw.db.unit_of_work() as session:
        query = select(Event).where(Event.merchant_id == merchant_id)
        if starting_after:
            cursor = _owned(session, merchant_id, starting_after, param="starting_after")
            query = query.where(Event.seq < cursor.seq)
        if event_type:
            query = query.where(Event.type == event_type)
        if delivery_status:
            query = query.where(
                exists().where(WebhookDelivery.event_id == Event.id, WebhookDelivery.status == delivery_status)
            )
        rows = list(session.execute(query.order_by(Event.seq.desc()).limit(limit + 1)).scalars())
    return [EventView.from_row(row) for row in rows[:limit]], len(rows) > limit


def get_event(gw: StoragePorts, merchant_id: str, event_id: str) -> EventDetail:
    with gw.db.unit_of_work() as session:
        return _detail(session, _owned(session, merchant_id, event_id))


def redeliver(gw: StoragePorts, merchant_id: str, event_id: str, endpoint_id: str | None = None) -> EventDetail:
    """Send the event again, now, with the same id and body: to one endpoint, or to every enabled
    endpoint that got it before or listens for its type now. The retry schedule starts afresh."""
    now = as_utc(gw.clock())
    with gw.db.unit_of_work() as session:
        event = _owned(session, merchant_id, event_id)
        enabled = select(WebhookEndpoint).where(WebhookEndpoint.merchant_id == merchant_id, WebhookEndpoint.status == "enabled")
        if endpoint_id is not None:
            targets = list(session.execute(enabled.where(WebhookEndpoint.id == endpoint_id)).scalars())
            if not targets:
                raise NotFound("webhook endpoint", endpoint_id, "endpoint")
        else:
            existing = {row.endpoint_id for row in _deliveries(session, event.id)}
            targets = [
                endpoint
                for endpoint in session.execute(enabled).scalars()
                if endpoint.id in existing or listens(endpoint.enabled_events, event.type)
            ]
            if not targets:
                raise Conflict("no_webhook_endpoint", "No enabled webhook endpoint receives this event.")
        deliveries = {
            row.endpoint_id: row
            for row in session.execute(
                select(WebhookDelivery)
                .where(WebhookDelivery.event_id == event.id, WebhookDelivery.endpoint_id.in_([t.id for t in targets]))
                .with_for_update()
            ).scalars()
        }
        for endpoint in targets:
            delivery = deliveries.get(endpoint.id)
            if delivery is None:
                session.add(new_delivery(event, endpoint, now))
                continue
            delivery.status = DeliveryStatus.PENDING.value
            delivery.attempts = 0
            delivery.next_attempt_at = now
            delivery.lease_token = None
        session.flush()
        return _detail(session, event)


def _owned(session: Session, merchant_id: str, event_id: str, param: str | None = None) -> Event:
    return owned(session, Event, merchant_id, event_id, "event", param=param)


def _deliveries(session: Session, event_id: str) -> list[WebhookDelivery]:
    return list(session.execute(select(WebhookDelivery).where(WebhookDelivery.event_id == event_id).order_by(WebhookDelivery.seq)).scalars())


def _detail(session: Session, event: Event) -> EventDetail:
    rows = session.execute(
        select(WebhookDelivery, WebhookEndpoint.url)
        .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
        .where(WebhookDelivery.event_id == event.id)
        .order_by(WebhookDelivery.seq)
    ).all()
    return EventDetail.from_row(event, [DeliveryView.from_row(delivery, url) for delivery, url in rows])
