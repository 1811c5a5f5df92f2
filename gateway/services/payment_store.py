"""The payment use cases' rows on the unit of work's SQLAlchemy session (the `PaymentStore` port)."""
from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from gateway.adapters.db import ledger_repository as ledger
from gateway.adapters.db.lookup import owned
from gateway.adapters.connectors.base import CardDetails
from gateway.adapters.db.models import CardToken, Merchant, Payment, SavedCard
from gateway.domain.ledger import JournalEntry
from gateway.services import events, saved_cards
from gateway.services.ports import BankPorts


# What an outcome changes on a payment row.
_SETTLED_COLUMNS = (
    "status", "connector_reference", "next_reconcile_at", "next_action", "action_expires_at", "failure_code",
    "failure_message", "amount_capturable", "amount_received", "updated_at",
)


class SqlPaymentStore:
    def __init__(self, session: Session, gw: BankPorts) -> None:
        self.session = session
        self.gw = gw  # opens saved cards with the customer's key

    def add(self, payment: Payment) -> None:
        self.session.add(payment)

    def owned(self, merchant_id: str, payment_id: str, *, lock: bool = False, param: str | None = None) -> Payment:
        return owned(self.session, Payment, merchant_id, payment_id, "payment", param=param, lock=lock)

    def locked(self, payment_id: str) -> Payment | None:
        return self.session.execute(select(Payment).where(Payment.id == payment_id).with_for_update()).scalar_one_or_none()

    def merchants_card_token(self, merchant_id: str, token_id: str) -> CardToken | None:
        return self.session.execute(
            select(CardToken).where(CardToken.id == token_id, CardToken.merchant_id == merchant_id).with_for_update()
        ).scalar_one_or_none()

    def spend_card_token(self, merchant_id: str, token_id: str) -> CardToken | None:
        tokens = CardToken.__table__
        row = self.session.execute(
            update(tokens).where(tokens.c.id == token_id, tokens.c.merchant_id == merchant_id, tokens.c.used.is_(False))
            .values(used=True).returning(*tokens.c)
        ).first()
        return CardToken(**row._mapping) if row else None

    def settle_processing(self, payment: Payment, now: datetime) -> bool:
        payments = Payment.__table__
        payment.updated_at = now
        written = self.session.execute(
            update(payments).where(payments.c.id == payment.id, payments.c.status == "processing")
            .values({name: getattr(payment, name) for name in _SETTLED_COLUMNS})
            .returning(payments.c.seq)
        ).first()
        return written is not None

    def card_token(self, token_id: str) -> CardToken:
        return self.session.get(CardToken, token_id)

    def chargeable_card(self, merchant_id: str, card_id: str) -> tuple[SavedCard, CardDetails]:
        return saved_cards.chargeable_card(self.gw, self.session, merchant_id, card_id)

    def discount_rate(self, merchant_id: str) -> Decimal:
        return self.session.execute(select(Merchant.discount_rate).where(Merchant.id == merchant_id)).scalar_one()

    def post(self, entry: JournalEntry) -> None:
        ledger.post(self.session, entry)

    def payment_changed(self, payment: Payment, now: datetime) -> None:
        events.record_payment_change(self.session, payment, now)
