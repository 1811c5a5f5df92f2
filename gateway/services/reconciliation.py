"""Reconciliation: no payment or refund is left with an unknown outcome.

Payments and refunds whose answer never came (a bank time-out, a lost callback or notify) are
due for a status query on a back-off schedule; the answer settles them exactly once (under the
row lock, by state). One the bank still cannot answer for after the schedule is flagged for an
operator and never retried as a new charge. Unpaid wallet orders past their expiry are closed.

Workers claim due items with FOR UPDATE SKIP LOCKED and push their next due time out by a lease
in the same short transaction, so several workers never ask about the same item at once."""
from __future__ import annotations

import logging

from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.adapters.connectors.base import Outcome
from gateway.adapters.db.models import Payment, Refund
from gateway.domain.payments import PaymentStatus
from gateway.domain.reconciliation import CLAIM_LEASE, next_reconcile_delay
from gateway.services.payments import PaymentPorts
from gateway.services.payments import apply_result, expire_wallet_order, locked_payment
from gateway.services.refunds import apply_refund_result

log = logging.getLogger(__name__)


def run_once(gw: PaymentPorts, batch: int = 50) -> int:
    """One pass: expired wallet orders, then payments, then refunds. Returns items handled."""
    return expire_wallet_orders(gw, batch) + reconcile_payments(gw, batch) + reconcile_refunds(gw, batch)


def expire_wallet_orders(gw: PaymentPorts, batch: int = 50) -> int:
    with gw.db.unit_of_work() as session:
        claimed = _claim(
            session,
            select(Payment).where(Payment.status == PaymentStatus.REQUIRES_ACTION.value, Payment.action_expires_at <= gw.clock()),
            batch,
        )
        for payment in claimed:
            payment.action_expires_at = gw.clock() + CLAIM_LEASE  # held by this worker for a while
    for payment in claimed:
        expire_wallet_order(gw, payment)
    return len(claimed)


def reconcile_payments(gw: PaymentPorts, batch: int = 50) -> int:
    with gw.db.unit_of_work() as session:
        claimed = _claim(
            session,
            select(Payment).where(
                Payment.status == PaymentStatus.PROCESSING.value,
                Payment.next_reconcile_at <= gw.clock(),
                Payment.flagged_reason.is_(None),
            ),
            batch,
        )
        _lease(gw, claimed)
    for payment in claimed:
        result = gw.connector(payment.connector).status(payment.id)
        with gw.db.unit_of_work() as session:
            payment = locked_payment(session, payment.merchant_id, payment.id)
            if payment.status != PaymentStatus.PROCESSING.value:
                continue  # settled meanwhile by a callback: nothing to do
            if result.outcome in (Outcome.APPROVED, Outcome.DECLINED):
                apply_result(gw, session, payment, result)
                log.info("reconciled payment %s: %s", payment.id, payment.status)
            else:
                _ask_again_later(gw, payment, "payment")
    return len(claimed)


def reconcile_refunds(gw: PaymentPorts, batch: int = 50) -> int:
    with gw.db.unit_of_work() as session:
        claimed = _claim(
            session,
            select(Refund).where(Refund.status == "pending", Refund.next_reconcile_at <= gw.clock(), Refund.flagged_reason.is_(None)),
            batch,
        )
        _lease(gw, claimed)
    for refund in claimed:
        with gw.db.unit_of_work() as session:
            connector = session.execute(select(Payment.connector).where(Payment.id == refund.payment_id)).scalar_one()
        result = gw.connector(connector).refund_status(refund.id)
        with gw.db.unit_of_work() as session:
            payment = locked_payment(session, refund.merchant_id, refund.payment_id)
            refund = session.get(Refund, refund.seq, with_for_update=True)
            if result.outcome in (Outcome.APPROVED, Outcome.DECLINED):
                apply_refund_result(gw, session, payment, refund, result)
            elif refund.status == "pending":
                _ask_again_later(gw, refund, "refund")
    return len(claimed)


def flagged_payments(gw: PaymentPorts) -> list[Payment]:
    with gw.db.unit_of_work() as session:
        return list(session.execute(select(Payment).where(Payment.flagged_reason.is_not(None)).order_by(Payment.seq)).scalars())


def flagged_refunds(gw: PaymentPorts) -> list[Refund]:
    with gw.db.unit_of_work() as session:
        return list(session.execute(select(Refund).where(Refund.flagged_reason.is_not(None)).order_by(Refund.seq)).scalars())


def _claim(session: Session, query, batch: int) -> list:
    return list(session.execute(query.limit(batch).with_for_update(skip_locked=True)).scalars())


def _lease(gw: PaymentPorts, items: list) -> None:
    for item in items:
        item.next_reconcile_at = gw.clock() + CLAIM_LEASE


def _ask_again_later(gw: PaymentPorts, item, what: str) -> None:
    item.reconcile_attempts += 1
    delay = next_reconcile_delay(item.reconcile_attempts)
    if delay is None:
        item.flagged_reason = f"outcome still unknown after {item.reconcile_attempts} status queries; an operator must check with the bank"
        item.next_reconcile_at = None
        log.error("%s %s flagged for an operator: %s", what, item.id, item.flagged_reason)
    else:
        item.next_reconcile_at = gw.clock() + delay
