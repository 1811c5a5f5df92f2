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
    text,
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
    card_token_id: Mapped[str | None] = mapped_column(ForeignKey("card_tokens.id"))
    saved_card_id: Mapped[str | None] = mapped_column(ForeignKey("saved_cards.id"))
    customer_id: Mapped[str | None] = mapped_column(ForeignKey("customers.id"))
    # What the merchant may see of the card, copied at creation so reads need no join.
    card_brand: Mapped[str | None] = mapped_column(String(20))
    card_bank: Mapped[str | None] = mapped_column(String(10))
    card_last4: Mapped[str | None] = mapped_column(String(4))
    wallet_provider: Mapped[str | None] = mapped_column(String(40))
    # What the money is for: a merchant's sale ("charge"), or collecting an installment plan's
    # dues ("installment"), which the platform keeps instead of paying the merchant again.
    purpose: Mapped[str] = mapped_column(String(16), default="charge", server_default="charge")
    installment_plan_id: Mapped[str | None] = mapped_column(String(40))
    # What the shopper must do next (scan a wallet QR code), and until when.
    next_action: Mapped[dict | None] = mapped_column(JSON)
    action_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    connector: Mapped[str] = mapped_column(String(40))
    connector_reference: Mapped[str | None] = mapped_column(String(80))
    failure_code: Mapped[str | None] = mapped_column(String(64))
    failure_message: Mapped[str | None] = mapped_column(String(255))
    description: Mapped[str | None] = mapped_column(String(500))
    metadata_: Mapped[dict] = mapped_column("metadata", JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)

    # Reconciliation of an unknown outcome: when to ask the bank next, how often it was asked, and
    # why an operator must look at it once asking stopped helping.
    next_reconcile_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    reconcile_attempts: Mapped[int] = mapped_column(Integer, default=0)
    flagged_reason: Mapped[str | None] = mapped_column(String(255))

    __table_args__ = (
        Index("ix_payments_merchant_seq", "merchant_id", "seq"),
        # Partial: most payments have no customer or plan, and none waits for reconciliation once
        # settled; a row left out of an index costs nothing to write (a payment's row is written
        # twice, and its settling UPDATE changes next_reconcile_at, so it cannot be a HOT update).
        *(Index(f"ix_payments_{column}", column, postgresql_where=text(f"{column} IS NOT NULL"), sqlite_where=text(f"{column} IS NOT NULL"))
          for column in ("customer_id", "installment_plan_id", "next_reconcile_at")),
        # The dashboard's day and 30-day figures (all merchants, or one).
        Index("ix_payments_created_at", "created_at"),
        Index("ix_payments_merchant_created", "merchant_id", "created_at"),
    )


class Event(Base):
    """Something a merchant may want to hear about, written in the same transaction as the change
    it describes (the outbox); webhook deliveries are made from it."""

    __tablename__ = "events"
    seq: Mapped[int] = mapped_column(SerialKey, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(40), unique=True)
    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id"))
    type: Mapped[str] = mapped_column(String(64))
    data: Mapped[dict] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    __table_args__ = (Index("ix_events_merchant_seq", "merchant_id", "seq"),)


class WalletNotification(Base):
    """Every provider notify accepted, by its id: a replayed notify finds itself here."""

    __tablename__ = "wallet_notifications"
    provider: Mapped[str] = mapped_column(String(40), primary_key=True)
    notify_id: Mapped[str] = mapped_column(String(80), primary_key=True)
    payment_id: Mapped[str] = mapped_column(String(40))
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class SandboxWalletOrder(Base):
    """The sandbox wallet providers' own books (the provider side, not ours)."""

    __tablename__ = "sandbox_wallet_orders"
    provider: Mapped[str] = mapped_column(String(40), primary_key=True)
    payment_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    trade_no: Mapped[str] = mapped_column(String(80))
    amount: Mapped[int] = mapped_column(BigInteger)
    refunded: Mapped[int] = mapped_column(BigInteger, default=0)
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(16))  # waiting | scanned | paid | failed | closed
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class SandboxProviderKey(Base):
    """A sandbox wallet provider's signing key (a real provider keeps its own; only its public key
    would be configured here). Stored so every process signs and verifies with the same key."""

    __tablename__ = "sandbox_provider_keys"
    provider: Mapped[str] = mapped_column(String(40), primary_key=True)
    private_pem: Mapped[str] = mapped_column(Text)


class Customer(Base):
    """A shopper registered with a merchant. Personal data is sealed with the customer's own data
    key; erasing the customer destroys that key, and the id stays as a pseudonym for accounting."""

    __tablename__ = "customers"
    seq: Mapped[int] = mapped_column(SerialKey, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(40), unique=True)
    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id"), index=True)
    state: Mapped[str] = mapped_column(String(16))  # active | erased
    data_key: Mapped[str | None] = mapped_column(Text)  # wrapped by the vault; NULL once erased
    name_sealed: Mapped[str | None] = mapped_column(Text)
    mobile_sealed: Mapped[str | None] = mapped_column(Text)
    id_number_sealed: Mapped[str | None] = mapped_column(Text)
    # Keyed hash of the ID number: finds a duplicate registration without decrypting anything.
    id_number_hmac: Mapped[str | None] = mapped_column(String(64))
    id_number_masked: Mapped[str | None] = mapped_column(String(18))
    mobile_masked: Mapped[str | None] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    erased_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (UniqueConstraint("merchant_id", "id_number_hmac", name="uq_customers_merchant_id_number"),)


class Consent(Base):
    """One grant of consent (PIPL): what for, which text version, when; withdrawn_at ends it."""

    __tablename__ = "consents"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))  # identity | bank_card | device_usage
    purpose: Mapped[str] = mapped_column(String(500))
    version: Mapped[str] = mapped_column(String(40))
    granted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    withdrawn_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class SavedCard(Base):
    """A customer's debit card, bound after the bank's SMS code. Sealed with the customer's key."""

    __tablename__ = "saved_cards"
    seq: Mapped[int] = mapped_column(SerialKey, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(40), unique=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"), index=True)
    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id"))
    status: Mapped[str] = mapped_column(String(24))  # pending_verification | active | locked | disabled
    brand: Mapped[str] = mapped_column(String(20))
    bank_code: Mapped[str] = mapped_column(String(10))
    last4: Mapped[str] = mapped_column(String(4))
    masked_number: Mapped[str] = mapped_column(String(24))
    exp_month: Mapped[int] = mapped_column(Integer)
    exp_year: Mapped[int] = mapped_column(Integer)
    card_sealed: Mapped[str | None] = mapped_column(Text)
    pan_hmac: Mapped[str | None] = mapped_column(String(64), index=True)  # NULL once erased
    binding_reference: Mapped[str | None] = mapped_column(String(80))
    failed_attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    verified_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class SandboxBankTransaction(Base):
    """The sandbox banks' own books (the bank side, not ours): what each simulated bank decided,
    so status queries, callbacks and daily limits work across processes."""

    __tablename__ = "sandbox_bank_transactions"
    reference: Mapped[str] = mapped_column(String(80), primary_key=True)
    connector: Mapped[str] = mapped_column(String(40))
    kind: Mapped[str] = mapped_column(String(16))  # debit | refund
    payment_id: Mapped[str] = mapped_column(String(40), index=True)
    card_fingerprint: Mapped[str] = mapped_column(String(64))
    bank_date: Mapped[str] = mapped_column(String(10))
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    outcome: Mapped[str] = mapped_column(String(16))
    decline_code: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    __table_args__ = (Index("ix_sandbox_bank_daily", "card_fingerprint", "bank_date"),)


class SandboxCardBinding(Base):
    """The SMS code a sandbox bank 'sent' to the card holder's phone (test mode only)."""

    __tablename__ = "sandbox_card_bindings"
    reference: Mapped[str] = mapped_column(String(80), primary_key=True)
    connector: Mapped[str] = mapped_column(String(40))
    code: Mapped[str] = mapped_column(String(6))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


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
    next_reconcile_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), index=True)
    reconcile_attempts: Mapped[int] = mapped_column(Integer, default=0)
    flagged_reason: Mapped[str | None] = mapped_column(String(255))
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
    # Recovery points (gateway/domain/idempotency.py `next_step`): how far the request got in
    # committed work, the payment it made, and until when its process holds the key.
    phase: Mapped[str | None] = mapped_column(String(20))
    payment_id: Mapped[str | None] = mapped_column(String(40))
    locked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


from gateway.adapters.db import device_models  # noqa: E402,F401
from gateway.adapters.db import webhook_models  # noqa: E402,F401
from gateway.adapters.db import installment_models  # noqa: E402,F401
from gateway.adapters.db import fund_models  # noqa: E402,F401
from gateway.adapters.db import sandbox_clock  # noqa: E402,F401
from gateway.adapters.db import credit_models  # noqa: E402,F401
from gateway.adapters.db import web_models  # noqa: E402,F401
