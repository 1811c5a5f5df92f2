"""Refunds. The refunded amount is reserved on the payment row under its lock before the bank is
called, so concurrent refunds can never together exceed what was captured."""
from __future__ import annotations

import logging

from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.adapters.connectors.base import ConnectorResult, Outcome
from gateway.adapters.db import ledger_repository as ledger
from gateway.adapters.db.models import Payment, Refund
from gateway.domain.errors import CardDeclined, Conflict, NotFound
from gateway.domain.ids import new_id
from gateway.domain.ledger import refund_entry
from gateway.domain.payments import refund_amount
from gateway.domain.reconciliation import next_reconcile_delay
from gateway.services import events
from gateway.services.ports import BankPorts
from gateway.services.payments import locked_payment
from gateway.services.read_models import RefundView

log = logging.getLogger(__name__)


def create_refund(gw: BankPorts, merchant_id: str, payment_id: str, amount: int | None) -> RefundView:
    with gw.db.unit_of_work() as session:
        payment = locked_payment(session, merchant_id, payment_id)
        if payment.purpose == "installment":
            raise Conflict("payment_not_refundable", "Installment collections are settled on their plan, not refunded.", "payment")
        amount = refund_amount(amount, payment.amount_received, payment.amount_refunded, payment.status)
        payment.amount_refunded += amount
        refund = Refund(
            id=new_id("re"),
            merchant_id=merchant_id,
            payment_id=payment.id,
            amount=amount,
            currency=payment.currency,
            status="pending",
            reconcile_attempts=0,
            # Should the bank's answer never be recorded, reconciliation asks the bank from then on.
            next_reconcile_at=gw.clock() + next_reconcile_delay(0),
            created_at=gw.clock(),
        )
        session.add(refund)
    try:
        result = gw.connector(payment.connector).refund(payment.connector_reference, refund.id, amount, payment.currency)
    except Exception:  # unknown outcome: the amount stays reserved until reconciliation learns it
        log.exception("refund %s: %s failed; outcome unknown, left for reconciliation", refund.id, payment.connector)
        result = ConnectorResult(Outcome.UNKNOWN)
    with gw.db.unit_of_work() as session:
        payment = locked_payment(session, merchant_id, payment_id)
        refund = session.get(Refund, refund.seq, with_for_update=True)
        apply_refund_result(gw, session, payment, refund, result)
    log.info("refund %s of %s on %s: %s", refund.id, amount, payment_id, refund.status)
    if refund.status == "failed":
        raise CardDeclined(refund.failure_code or "refund_failed", "The bank refused the refund.")
    return RefundView.from_row(refund)


def apply_refund_result(gw: BankPorts, session: Session, payment: Payment, refund: Refund, result: ConnectorResult) -> None:
    """Settle a pending refund by what the bank said; with both rows locked. Idempotent."""
    if refund.status != "pending":
        return
    refund.connector_reference = result.reference or refund.connector_reference
    if result.outcome is Outcome.APPROVED:
        refund.status = "succeeded"
        ledger.post(
            session,
            refund_entry(reference=refund.id, merchant_id=payment.merchant_id, connector=payment.connector, currency=payment.currency, amount=refund.amount),
        )
    elif result.outcome is Outcome.DECLINED:
        refund.status = "failed"
        refund.failure_code = result.decline_code
        payment.amount_refunded -= refund.amount  # release the reservation
    else:
        return  # no answer: the amount stays reserved until reconciliation learns the outcome
    refund.next_reconcile_at = None
    events.record_refund_change(session, refund, gw.clock())


def get_refund(gw: BankPorts, merchant_id: str, refund_id: str) -> RefundView:
    with gw.db.unit_of_work() as session:
        refund = session.execute(
            select(Refund).where(Refund.id == refund_id, Refund.merchant_id == merchant_id)
        ).scalar_one_or_none()
    if refund is None:
        raise NotFound("refund", refund_id)
    return RefundView.from_row(refund)
