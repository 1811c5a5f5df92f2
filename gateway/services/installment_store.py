"""The installment use cases' rows on the unit of work's SQLAlchemy session (the
`InstallmentStore` port)."""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.adapters.db import ledger_repository as ledger
from gateway.adapters.db.installment_models import Installment, InstallmentPlan, InstallmentProduct
from gateway.domain.ledger import JournalEntry
from gateway.services import events


class SqlInstallmentStore:
    def __init__(self, session: Session) -> None:
        self.session = session

    def locked_plan(self, plan_id: str) -> InstallmentPlan:
        return self.session.execute(select(InstallmentPlan).where(InstallmentPlan.id == plan_id).with_for_update()).scalar_one()

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
