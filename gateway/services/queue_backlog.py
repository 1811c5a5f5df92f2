"""How far behind each worker queue is: the jobs due now and how long the oldest has waited
(paygate_queue_depth / paygate_queue_oldest_age_seconds). One aggregate query per queue, with
the same conditions the queue claims by; a queue without an entry here reports nothing."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import func, select

from gateway.adapters.db.device_models import DeviceConfirmation
from gateway.adapters.db.installment_models import Installment, InstallmentPlan
from gateway.adapters.db.models import IdempotencyKey, Payment
from gateway.adapters.db.webhook_models import WebhookDelivery
from gateway.services.ports import StoragePorts
from gateway.domain.clock import as_utc
from gateway.domain.devices import ConfirmationState
from gateway.domain.payments import PaymentStatus
from gateway.domain.webhooks import DeliveryStatus
from gateway.domain.idempotency import KEY_LIFETIME


@dataclass(frozen=True)
class Backlog:
    depth: int
    oldest_age_seconds: float


def _backlog(gw: StoragePorts, due_since, condition) -> Backlog:
    """Count the rows matching `condition`, and the age of the earliest `due_since`."""
    now = gw.clock()
    with gw.db.unit_of_work() as session:
        depth, oldest = session.execute(select(func.count(), func.min(due_since)).where(*condition)).one()
    if not depth or oldest is None:
        return Backlog(0, 0.0)
    return Backlog(depth, max(0.0, (as_utc(now) - as_utc(oldest)).total_seconds()))


def webhooks(gw: StoragePorts) -> Backlog:
    now = gw.clock()
    return _backlog(gw, WebhookDelivery.next_attempt_at,
                    (WebhookDelivery.status == DeliveryStatus.PENDING.value, WebhookDelivery.next_attempt_at <= now))


def reconciliation(gw: StoragePorts) -> Backlog:
    now = gw.clock()
    return _backlog(gw, Payment.next_reconcile_at,
                    (Payment.status == PaymentStatus.PROCESSING.value, Payment.next_reconcile_at <= now,
                     Payment.flagged_reason.is_(None)))


def installments(gw: StoragePorts) -> Backlog:
    now = gw.clock()
    plan_active = select(InstallmentPlan.id).where(InstallmentPlan.id == Installment.plan_id,
                                                   InstallmentPlan.state == "active").exists()
    return _backlog(gw, Installment.next_attempt_at,
                    (Installment.status == "scheduled", Installment.next_attempt_at <= now, plan_active))


def confirmations(gw: StoragePorts) -> Backlog:
    now = gw.clock()
    return _backlog(gw, DeviceConfirmation.expires_at,
                    (DeviceConfirmation.state == ConfirmationState.PENDING.value, DeviceConfirmation.expires_at < now))


def maintenance(gw: StoragePorts) -> Backlog:
    expired_before = gw.clock() - KEY_LIFETIME
    backlog = _backlog(gw, IdempotencyKey.created_at, (IdempotencyKey.created_at < expired_before,))
    # Due once its 24 hours are over, not since it was made.
    return Backlog(backlog.depth, max(0.0, backlog.oldest_age_seconds - KEY_LIFETIME.total_seconds()))


BACKLOGS: dict[str, Callable[[StoragePorts], Backlog]] = {
    "webhooks": webhooks,
    "reconciliation": reconciliation,
    "installments": installments,
    "confirmations": confirmations,
    "maintenance": maintenance,
}
