"""Events: what happened to a merchant's objects, recorded in the same transaction as the change
(the outbox), so a change and its event are committed together or not at all."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from gateway.adapters.db.models import Event, Payment, Refund
from gateway.domain.ids import new_id

# The payment states a merchant hears about, and the event each one raises.
PAYMENT_EVENTS = {
    "succeeded": "payment.succeeded",
    "failed": "payment.failed",
    "canceled": "payment.canceled",
    "requires_capture": "payment.requires_capture",
}
REFUND_EVENTS = {"succeeded": "refund.succeeded", "failed": "refund.failed"}
EVENT_TYPES = sorted({*PAYMENT_EVENTS.values(), *REFUND_EVENTS.values()})


def record(session: Session, merchant_id: str, event_type: str, data: dict, now: datetime) -> Event:
    event = Event(id=new_id("evt"), merchant_id=merchant_id, type=event_type, data=data, created_at=now)
    session.add(event)
    session.flush()
    return event


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
