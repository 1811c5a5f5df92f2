"""The installment use cases' rows on the unit of work's SQLAlchemy session (the
`InstallmentStore` port)."""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.orm import Session

from gateway.adapters.db import ledger_repository as ledger
from gateway.adapters.connectors.base import CardDetails
from gateway.adapters.db.installment_models import Installment, InstallmentPlan, InstallmentProduct
from gateway.adapters.db.models import Payment, SavedCard
from gateway.domain.ledger import JournalEntry
from gateway.services import events, saved_cards
from gateway.services.ports import BankPorts, Collected


class SqlInstallmentStore:
    def __init__(self, session: Session, gw: BankPorts) -> None:
        self.session = session
        self.gw = gw  # opens saved cards with the customer's key

    def locked_plan(self, plan_id: str) -> InstallmentPlan:
        return self.session.execute(select(InstallmentPlan).where(InstallmentPlan.id == plan_id).with_for_update()).scalar_one()

    def claim_due(self, now: datetime, limit: int) -> list[tuple[Installment, InstallmentPlan]]:
        due = (
            select(Installment, InstallmentPlan).join(InstallmentPlan, InstallmentPlan.id == Installment.plan_id)
            .where(Installment.next_attempt_at <= now, InstallmentPlan.state == "active")
            .order_by(Installment.next_attempt_at).with_for_update(skip_locked=True, of=Installment)
        )
        # Two claims, each served by the (status, next_attempt_at) index: the scheduled ones, then
        # (rarely any) whose worker died before creating their debit.
        claimed = [tuple(row) for row in self.session.execute(due.where(Installment.status == "scheduled").limit(limit))]
        if len(claimed) < limit:
            abandoned = ~select(Payment.id).where(Payment.id == Installment.collecting_payment_id).exists()
            claimed += [tuple(row) for row in self.session.execute(due.where(Installment.status == "collecting", abandoned).limit(limit - len(claimed)))]
        return claimed

    def chargeable_cards(self, card_ids: set[str]) -> tuple[dict[str, tuple[SavedCard, CardDetails]], set[str]]:
        return saved_cards.chargeable_cards(self.gw, self.session, card_ids)

    def add_payments(self, rows: list[dict]) -> None:
        if rows:
            self.session.connection().execute(insert(Payment.__table__), rows)

    def mark_collected(self, collected: list[Collected], now: datetime) -> None:
        payments_table, installments_table = Payment.__table__, Installment.__table__
        connection = self.session.connection()
        connection.execute(
            update(payments_table).where(payments_table.c.id == bindparam("payment_id"), payments_table.c.status == "processing")
            .values(status="succeeded", amount_received=bindparam("received"), connector_reference=bindparam("reference"), next_reconcile_at=None),
            [{"payment_id": done.payment_id, "received": done.amount, "reference": done.reference} for done in collected],
        )
        connection.execute(
            update(installments_table).where(installments_table.c.seq == bindparam("installment_seq"))
            .values(status="paid", paid_principal=bindparam("b_principal"), paid_interest=bindparam("b_interest"), paid_at=now, collecting_payment_id=None),
            [{"installment_seq": done.installment_seq, "b_principal": done.principal, "b_interest": done.interest} for done in collected],
        )

    def record_many(self, merchant_id: str, items: list[tuple[str, dict]], now: datetime) -> None:
        events.record_many(self.session, merchant_id, items, now)

    def product(self, product_id: str) -> InstallmentProduct:
        return self.session.get(InstallmentProduct, product_id)

    def unpaid(self, plan_id: str) -> list[Installment]:
        return list(self.session.execute(
            select(Installment).where(Installment.plan_id == plan_id, Installment.status.in_(("scheduled", "collecting"))).order_by(Installment.number)
        ).scalars())

    def installment(self, plan_id: str, number: int) -> Installment:
        return self.session.execute(
            select(Installment).where(Installment.plan_id == plan_id, Installment.number == number).with_for_update()
        ).scalar_one()

    def collecting(self, plan_id: str, payment_id: str) -> list[Installment]:
        return list(self.session.execute(
            select(Installment).where(Installment.plan_id == plan_id, Installment.collecting_payment_id == payment_id)
        ).scalars())

    def overdue_plans(self, today: date, limit: int) -> list[InstallmentPlan]:
        return list(self.session.execute(
            select(InstallmentPlan).where(
                InstallmentPlan.state == "active",
                InstallmentPlan.id.in_(select(Installment.plan_id).where(Installment.status != "paid", Installment.due_date < today)),
            ).limit(limit).with_for_update(skip_locked=True)
        ).scalars())

    def post(self, entry: JournalEntry) -> None:
        ledger.post(self.session, entry)

    def record(self, merchant_id: str, event_type: str, data: dict, now: datetime) -> None:
        events.record(self.session, merchant_id, event_type, data, now)
