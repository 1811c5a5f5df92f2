"""Tables for installment plans: products a merchant offers, plans customers take, and each
plan's installments. Same metadata as models.py (imported at its bottom)."""
from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import JSON, BigInteger, Date, DateTime, ForeignKey, Index, Integer, Numeric, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from gateway.adapters.db.models import Base, SerialKey, utcnow


class InstallmentProduct(Base):
    __tablename__ = "installment_products"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    terms: Mapped[list] = mapped_column(JSON)  # months offered, e.g. [3, 6, 12, 24]
    method: Mapped[str] = mapped_column(String(24))
    apr: Mapped[Decimal] = mapped_column(Numeric(6, 3))  # percent a year
    fee_rate: Mapped[Decimal] = mapped_column(Numeric(6, 4))  # interest_free: flat fee share
    down_payment_share: Mapped[Decimal] = mapped_column(Numeric(5, 4))
    min_amount: Mapped[int] = mapped_column(BigInteger)
    max_amount: Mapped[int] = mapped_column(BigInteger)
    grace_days: Mapped[int] = mapped_column(Integer)
    late_fee_fixed: Mapped[int] = mapped_column(BigInteger)  # fen per late installment
    late_fee_rate: Mapped[Decimal] = mapped_column(Numeric(6, 4))  # share of the late installment
    late_fee_cap: Mapped[int] = mapped_column(BigInteger)  # fen, for all late fees of one plan
    cooling_off_days: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class InstallmentPlan(Base):
    __tablename__ = "installment_plans"
    seq: Mapped[int] = mapped_column(SerialKey, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(40), unique=True)
    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id"))
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"), index=True)
    saved_card_id: Mapped[str] = mapped_column(ForeignKey("saved_cards.id"))
    product_id: Mapped[str] = mapped_column(ForeignKey("installment_products.id"))
    device_id: Mapped[str | None] = mapped_column(String(40))
    amount: Mapped[int] = mapped_column(BigInteger)  # the price
    currency: Mapped[str] = mapped_column(String(3))
    down_payment: Mapped[int] = mapped_column(BigInteger)
    financed: Mapped[int] = mapped_column(BigInteger)
    term_months: Mapped[int] = mapped_column(Integer)
    method: Mapped[str] = mapped_column(String(24))
    apr: Mapped[Decimal] = mapped_column(Numeric(6, 3))
    start_date: Mapped[date] = mapped_column(Date)
    state: Mapped[str] = mapped_column(String(16))  # pending | active | completed | canceled
    delinquency: Mapped[str] = mapped_column(String(16))  # current | grace | 1-30 | 31-60 | 61-90 | default
    late_fees_charged: Mapped[int] = mapped_column(BigInteger, default=0)
    down_payment_payment_id: Mapped[str | None] = mapped_column(String(40))
    # What pays the installments: the saved card, or the customer's money-market fund (with the
    # card as the fallback for what the fund cannot cover).
    funding_source: Mapped[str] = mapped_column(String(8), default="card", server_default="card")
    source_fund_id: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    canceled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (Index("ix_installment_plans_merchant_seq", "merchant_id", "seq"),)


class Installment(Base):
    __tablename__ = "installments"
    seq: Mapped[int] = mapped_column(SerialKey, primary_key=True, autoincrement=True)
    plan_id: Mapped[str] = mapped_column(ForeignKey("installment_plans.id"))
    number: Mapped[int] = mapped_column(Integer)
    due_date: Mapped[date] = mapped_column(Date)
    principal: Mapped[int] = mapped_column(BigInteger)
    interest: Mapped[int] = mapped_column(BigInteger)
    late_fee: Mapped[int] = mapped_column(BigInteger, default=0)
    paid_principal: Mapped[int] = mapped_column(BigInteger, default=0)
    paid_interest: Mapped[int] = mapped_column(BigInteger, default=0)
    paid_late_fee: Mapped[int] = mapped_column(BigInteger, default=0)
    waived_interest: Mapped[int] = mapped_column(BigInteger, default=0)
    status: Mapped[str] = mapped_column(String(16))  # scheduled | collecting | paid
    collecting_payment_id: Mapped[str | None] = mapped_column(String(40))  # the debit in flight
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    paid_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        UniqueConstraint("plan_id", "number", name="uq_installments_plan_number"),
        Index("ix_installments_due", "status", "due_date"),
        # The due-debit worker claims by status and next attempt, oldest first.
        Index("ix_installments_next_attempt", "status", "next_attempt_at"),
    )


class DevicePaygCredential(Base):
    """A device's OpenPAYGO Token secret (sealed by the vault) and starting code, provisioned at
    enrollment, with the last token count used and the paid-until date the device should hold."""

    __tablename__ = "device_payg_credentials"
    device_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    secret_sealed: Mapped[str] = mapped_column(String(200))
    starting_code: Mapped[int] = mapped_column(BigInteger)
    last_count: Mapped[int] = mapped_column(Integer, default=0)
    paid_until: Mapped[date | None] = mapped_column(Date)
    unlocked_for_good: Mapped[bool] = mapped_column(default=False)


class DeviceToken(Base):
    """An unlock token issued to a device: sent over its commands topic and shown by the API for
    keypad or SMS entry when the device is offline."""

    __tablename__ = "device_tokens"
    id: Mapped[int] = mapped_column(SerialKey, primary_key=True, autoincrement=True)
    device_id: Mapped[str] = mapped_column(String(40), index=True)
    plan_id: Mapped[str | None] = mapped_column(String(40), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # add_time | disable_payg | counter_sync
    days: Mapped[int] = mapped_column(Integer, default=0)
    count: Mapped[int] = mapped_column(Integer)
    token: Mapped[str] = mapped_column(String(20))
    paid_until: Mapped[date | None] = mapped_column(Date)
    issued_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
