"""SQLAlchemy models: the tables of record. Amounts are BIGINT minor units; no floats."""
from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL gets a BIGINT identity.
SerialKey = BigInteger().with_variant(Integer, "sqlite")

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Merchant(Base):
    __tablename__ = "merchants"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    discount_rate: Mapped[Decimal] = mapped_column(Numeric(8, 6))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ApiKey(Base):
    """Only a keyed hash of each key is kept; the key itself is shown once, at creation."""

    __tablename__ = "api_keys"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # secret | publishable
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    last4: Mapped[str] = mapped_column(String(4))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class CardToken(Base):
    """A tokenized card. The PAN exists only as AES-GCM ciphertext plus a keyed HMAC for lookup."""

    __tablename__ = "card_tokens"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id"), index=True)
    brand: Mapped[str] = mapped_column(String(20))
    bank_code: Mapped[str] = mapped_column(String(10))
    bin: Mapped[str] = mapped_column(String(8))
    last4: Mapped[str] = mapped_column(String(4))
    exp_month: Mapped[int] = mapped_column(Integer)
    exp_year: Mapped[int] = mapped_column(Integer)
    card_ciphertext: Mapped[str] = mapped_column(Text)  # PAN and holder name, encrypted together
    pan_hmac: Mapped[str] = mapped_column(String(64), index=True)
    used: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Payment(Base):
    __tablename__ = "payments"
    seq: Mapped[int] = mapped_column(SerialKey, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(40), unique=True)
    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id"))
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(32))
    capture_method: Mapped[str] = mapped_column(String(16))
    amount_capturable: Mapped[int] = mapped_column(BigInteger, default=0)
    amount_received: Mapped[int] = mapped_column(BigInteger, default=0)
    amount_refunded: Mapped[int] = mapped_column(BigInteger, default=0)
    card_token_id: Mapped[str] = mapped_column(ForeignKey("card_tokens.id"))
    # What the merchant may see of the card, copied at creation so reads need no join.
    card_brand: Mapped[str] = mapped_column(String(20))
    card_bank: Mapped[str] = mapped_column(String(10))
    card_last4: Mapped[str] = mapped_column(String(4))
    connector: Mapped[str] = mapped_column(String(40))
    connector_reference: Mapped[str | None] = mapped_column(String(80))
    failure_code: Mapped[str | None] = mapped_column(String(64))
    failure_message: Mapped[str | None] = mapped_column(String(255))
    description: Mapped[str | None] = mapped_column(String(500))
    metadata_: Mapped[dict] = mapped_column("metadata", JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)

    __table_args__ = (Index("ix_payments_merchant_seq", "merchant_id", "seq"),)


class Refund(Base):
    __tablename__ = "refunds"
    seq: Mapped[int] = mapped_column(SerialKey, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(40), unique=True)
    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id"))
    payment_id: Mapped[str] = mapped_column(ForeignKey("payments.id"), index=True)
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(16))  # pending | succeeded | failed
    failure_code: Mapped[str | None] = mapped_column(String(64))
    connector_reference: Mapped[str | None] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    __table_args__ = (Index("ix_refunds_merchant_seq", "merchant_id", "seq"),)


class LedgerAccount(Base):
    __tablename__ = "ledger_accounts"
    id: Mapped[int] = mapped_column(SerialKey, primary_key=True, autoincrement=True)
    code: Mapped[str] = mapped_column(String(120))
    currency: Mapped[str] = mapped_column(String(3))
    normal_side: Mapped[str] = mapped_column(String(6))
    may_go_negative: Mapped[bool] = mapped_column(Boolean)
    # Raw balance, debits minus credits; equals the sum of the account's postings (ledger verify).
    balance: Mapped[int] = mapped_column(BigInteger, default=0)

    __table_args__ = (UniqueConstraint("code", "currency", name="uq_ledger_accounts_code_currency"),)


class LedgerTransaction(Base):
    __tablename__ = "ledger_transactions"
    id: Mapped[int] = mapped_column(SerialKey, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(32))
    reference: Mapped[str] = mapped_column(String(40), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class LedgerPosting(Base):
    __tablename__ = "ledger_postings"
    id: Mapped[int] = mapped_column(SerialKey, primary_key=True, autoincrement=True)
    transaction_id: Mapped[int] = mapped_column(ForeignKey("ledger_transactions.id"), index=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("ledger_accounts.id"), index=True)
    amount: Mapped[int] = mapped_column(BigInteger)  # > 0 debit, < 0 credit


class IdempotencyKey(Base):
    __tablename__ = "idempotency_keys"
    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id"), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16))
    response_status: Mapped[int | None] = mapped_column(Integer)
    response_body: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
