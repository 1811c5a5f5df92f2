"""The payment use cases' rows on the unit of work's SQLAlchemy session (the `PaymentStore` port)."""
from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import bindparam, exists, insert, inspect, select, update
from sqlalchemy.orm import Session

from gateway.adapters.db import ledger_repository as ledger
from gateway.adapters.db.lookup import owned
from gateway.adapters.connectors.base import CardDetails
from gateway.adapters.db.models import CardToken, Merchant, Payment, SavedCard
from gateway.domain.ledger import JournalEntry
from gateway.services import events, idempotency, saved_cards
from gateway.services.idempotency import StoredResponse
from gateway.services.ports import BankPorts


# What an outcome changes on a payment row.
_SETTLED_COLUMNS = (
    "status", "connector_reference", "next_reconcile_at", "next_action", "action_expires_at", "failure_code",
    "failure_message", "amount_capturable", "amount_received", "updated_at",
)


# (attribute, column) of every column of a payment row.
_PAYMENT_COLUMNS = tuple((attribute.key, attribute.columns[0]) for attribute in inspect(Payment).column_attrs)


# Built once: see gateway/services/merchants.py _KEY_LOOKUP.
_payments, _tokens = Payment.__table__, CardToken.__table__
_INSERT_PAYMENT = insert(_payments).returning(_payments.c.seq)
_SPEND_TOKEN = (
    update(_tokens).where(_tokens.c.id == bindparam("b_token"), _tokens.c.merchant_id == bindparam("b_merchant"), _tokens.c.used.is_(False))
    .values(used=True).returning(*_tokens.c)
)
_SETTLE = (
    update(_payments).where(_payments.c.id == bindparam("b_payment"), _payments.c.status == "processing")
    .values({name: bindparam(f"s_{name}", type_=_payments.c[name].type) for name in _SETTLED_COLUMNS}).returning(_payments.c.seq)
)
# PostgreSQL: the payment settled and, if it was still processing, its Idempotency-Key completed,
# in one statement (one round trip on every keyed payment's path).
_settled = _SETTLE.cte("settled")
_SETTLE_COMPLETING_KEY = select(_settled.c.seq).add_cte(
    idempotency.COMPLETE_KEY.where(exists(select(_settled.c.seq))).cte("completed"))


class SqlPaymentStore:
    def __init__(self, session: Session, gw: BankPorts) -> None:
        self.session = session
        self.gw = gw  # opens saved cards with the customer's key

    def add(self, payment: Payment) -> None:
        """One Core INSERT ... RETURNING (the ORM's flush of a new row cost more than the SQL); the
        row is written now and not kept by the session: change it with the statements below."""
        values = {column.name: payment.__dict__[key] for key, column in _PAYMENT_COLUMNS if key in payment.__dict__}
        payment.seq = self.session.connection().execute(_INSERT_PAYMENT, values).scalar_one()

    def owned(self, merchant_id: str, payment_id: str, *, lock: bool = False, param: str | None = None) -> Payment:
        return owned(self.session, Payment, merchant_id, payment_id, "payment", param=param, lock=lock)

    def locked(self, payment_id: str) -> Payment | None:
        return self.session.execute(select(Payment).where(Payment.id == payment_id).with_for_update()).scalar_one_or_none()

    def merchants_card_token(self, merchant_id: str, token_id: str) -> CardToken | None:
        return self.session.execute(
            select(CardToken).where(CardToken.id == token_id, CardToken.merchant_id == merchant_id).with_for_update()
        ).scalar_one_or_none()

    def spend_card_token(self, merchant_id: str, token_id: str) -> CardToken | None:
        row = self.session.connection().execute(_SPEND_TOKEN, {"b_token": token_id, "b_merchant": merchant_id}).first()
        return CardToken(**row._mapping) if row else None

    def settle_processing(self, payment: Payment, now: datetime, key_response: tuple[str, StoredResponse] | None = None) -> bool:
        payment.updated_at = now
        values = {f"s_{name}": getattr(payment, name) for name in _SETTLED_COLUMNS} | {"b_payment": payment.id}
        connection = self.session.connection()
        if key_response is None:
            return connection.execute(_SETTLE, values).first() is not None
        completing = idempotency.completion(payment.merchant_id, *key_response)
        if connection.dialect.name == "postgresql":
            return connection.execute(_SETTLE_COMPLETING_KEY, values | completing).first() is not None
        if connection.execute(_SETTLE, values).first() is None:  # SQLite has no data-modifying WITH
            return False
        connection.execute(idempotency.COMPLETE_KEY, completing)
        return True

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
