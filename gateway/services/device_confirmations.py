"""Payment confirmations by the buyer's device, on the device side of the gateway.

    request_confirmation(gw, payment_id, device_id, amount, currency, merchant_name) -> nonce
        records a pending confirmation and queues a signed-for request to the device's commands
        topic (the command relay in `paygate ingest` publishes it).
    ingest (gateway/services/device_ingest.py) checks each signed answer with `decide_answer`.
    expire_due(gw) expires unanswered requests; deliver_outcomes(gw) tells the payment side
    through `gw.confirmation_decided(payment_id, approved, reason)`, which the composition root
    wires to gateway.services.payments.device_answered (payments build on this module, so this
    module does not call them by name).

Outcomes reach the hook at least once, after the decision is committed (a crash in between is
caught up by the next deliver_outcomes), so the payment side must treat a repeat as a no-op.
"""
from __future__ import annotations

import logging
import secrets
from datetime import datetime, timedelta
from typing import Protocol, runtime_checkable

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from device_agents import wire
from gateway.adapters.db.device_models import Device, DeviceCommand, DeviceConfirmation
from gateway.domain.clock import as_utc
from gateway.domain.devices import (
    ConfirmationAnswer,
    ConfirmationRequest,
    ConfirmationState,
    DeviceState,
    Rejection,
    judge_confirmation,
)
from gateway.domain.errors import Conflict, NotFound
from gateway.services.ports import ConfirmationDecided, SettingsPort, StoragePorts, TransactionsPort

log = logging.getLogger(__name__)


@runtime_checkable
class RequestPorts(StoragePorts, SettingsPort, Protocol):
    """Asking a device: transactions, the clock and the confirmation time-out."""


@runtime_checkable
class ConfirmationPorts(RequestPorts, Protocol):
    """Delivering outcomes also takes who hears a decided confirmation (the payment goes on to its
    bank, or fails; it must treat a repeat as a no-op)."""

    confirmation_decided: ConfirmationDecided


def request_confirmation(gw: RequestPorts, payment_id: str, device_id: str, amount: int, currency: str,
                         merchant_name: str, *, session: Session | None = None,
                         ttl_seconds: int | None = None) -> str:
    """Ask `device_id` to confirm a payment; returns the nonce it must sign back.

    Pass `session` to write in the caller's transaction (so the payment's move to
    requires_action and the request commit together); otherwise this opens its own."""
    if session is None:
        with gw.db.unit_of_work() as own:
            return request_confirmation(gw, payment_id, device_id, amount, currency, merchant_name,
                                        session=own, ttl_seconds=ttl_seconds)
    device = session.get(Device, device_id)
    if device is None:
        raise NotFound("device", device_id, "confirmation.device")
    if device.state != DeviceState.ACTIVE.value:
        raise Conflict("device_not_active", f"Device {device_id} is {device.state} and cannot confirm payments.",
                       "confirmation.device")
    now = gw.clock()
    expires_at = now + timedelta(seconds=ttl_seconds or gw.settings.confirmation_ttl_seconds)
    nonce = secrets.token_urlsafe(32)
    session.add(DeviceConfirmation(
        nonce=nonce, payment_id=payment_id, device_id=device_id, amount=amount, currency=currency,
        merchant_name=merchant_name, state=ConfirmationState.PENDING.value, expires_at=expires_at, created_at=now))
    session.add(DeviceCommand(device_id=device_id, attempts=0, created_at=now, payload=wire.encode_command(
        wire.CONFIRMATION_REQUEST,
        {"payment": payment_id, "amount": amount, "currency": currency, "merchant": merchant_name,
         "nonce": nonce, "expires": int(expires_at.timestamp() * 1000)})))
    return nonce


def answer_from(device_id: str, body: dict) -> ConfirmationAnswer | None:
    """The device's signed answer, or None if the body does not have the expected shape."""
    decision = body.get("decision")
    fields = (body.get("nonce"), body.get("payment"), body.get("amount"), body.get("currency"))
    if decision not in ("approve", "decline") or not all(isinstance(v, str) for v in (fields[0], fields[1], fields[3])):
        return None
    if not isinstance(fields[2], int) or isinstance(fields[2], bool):
        return None
    return ConfirmationAnswer(fields[0], fields[1], device_id, fields[2], fields[3], decision == "approve")


def decide_answer(session: Session, answer: ConfirmationAnswer, now: datetime) -> Rejection | None:
    """Apply a verified answer inside ingest's transaction; None if it decided the confirmation."""
    row = session.scalars(select(DeviceConfirmation).where(DeviceConfirmation.nonce == answer.nonce)
                          .with_for_update()).first()
    if row is None:
        return Rejection.CONFIRMATION_UNKNOWN
    request = ConfirmationRequest(row.nonce, row.payment_id, row.device_id, row.amount, row.currency,
                                  as_utc(row.expires_at), ConfirmationState(row.state))
    rejection = judge_confirmation(request, answer, now)
    if rejection is None:
        row.state = (ConfirmationState.APPROVED if answer.approved else ConfirmationState.DECLINED).value
        row.decided_at = now
    return rejection


def expire_due(gw: StoragePorts) -> int:
    """Expire pending confirmations past their deadline; how many."""
    now = gw.clock()
    with gw.db.unit_of_work() as session:
        rows = session.scalars(
            select(DeviceConfirmation)
            .where(DeviceConfirmation.state == ConfirmationState.PENDING.value, DeviceConfirmation.expires_at < now)
            .limit(500).with_for_update(skip_locked=True)
        ).all()
        for row in rows:
            row.state, row.decided_at = ConfirmationState.EXPIRED.value, now
    return len(rows)


OUTCOME_REASON = {ConfirmationState.APPROVED.value: "approved", ConfirmationState.DECLINED.value: "declined",
                  ConfirmationState.EXPIRED.value: "expired"}


def deliver_outcomes(gw: ConfirmationPorts, limit: int = 100) -> int:
    """Tell the payment side about every decided confirmation it has not heard of; how many.

    The hook runs outside our transaction (it opens the payment's own unit of work, and SQLite
    has one writer at a time), then the outcome is marked delivered. A crash in between means the
    hook runs again later: at least once, never lost."""
    with gw.db.unit_of_work() as session:
        decided = session.execute(
            select(DeviceConfirmation.nonce, DeviceConfirmation.payment_id, DeviceConfirmation.state)
            .where(DeviceConfirmation.decided_at.is_not(None), DeviceConfirmation.outcome_delivered_at.is_(None))
            .order_by(DeviceConfirmation.decided_at).limit(limit)
        ).all()
    delivered = 0
    for nonce, payment_id, state in decided:
        try:
            gw.confirmation_decided(payment_id, state == ConfirmationState.APPROVED.value, OUTCOME_REASON[state])
        except Exception:
            log.exception("confirmation outcome for payment %s not delivered; will retry", payment_id)
            continue
        with gw.db.unit_of_work() as session:
            session.execute(update(DeviceConfirmation)
                            .where(DeviceConfirmation.nonce == nonce, DeviceConfirmation.outcome_delivered_at.is_(None))
                            .values(outcome_delivered_at=gw.clock()))
        delivered += 1
    return delivered


def get_pending(session: Session, nonce: str) -> DeviceConfirmation:
    return session.get(DeviceConfirmation, nonce)


def get_confirmation(gw: TransactionsPort, nonce: str) -> DeviceConfirmation | None:
    with gw.db.unit_of_work() as session:
        return session.get(DeviceConfirmation, nonce)
