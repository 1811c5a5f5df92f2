"""Tables for the hosted checkout and the dashboard (issue 12): checkout sessions, dashboard
users. Same metadata as models.py (imported at its bottom)."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, DateTime, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from gateway.adapters.db.models import Base, SerialKey, utcnow


class CheckoutSession(Base):
    """What a merchant asked the shopper to pay on the hosted page, and how far the shopper got.

    `attempt_payment_id` / `attempt_plan_id` is the one attempt allowed in flight: it is claimed
    under the session's row lock before the bank is called, so a double click or a reload finds
    it and waits for it instead of charging again. `status` open -> complete happens once."""

    __tablename__ = "checkout_sessions"
    seq: Mapped[int] = mapped_column(SerialKey, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(40), unique=True)
    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id"))
    status: Mapped[str] = mapped_column(String(16))  # open | complete (expiry is read from expires_at)
    line_items: Mapped[list] = mapped_column(JSON)  # [{"name", "amount", "quantity"}]
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    payment_methods: Mapped[list] = mapped_column(JSON)  # card | wallet | installments
    installment_product_id: Mapped[str | None] = mapped_column(String(40))
    confirmation_device_id: Mapped[str | None] = mapped_column(String(40))
    success_url: Mapped[str] = mapped_column(String(2048))
    cancel_url: Mapped[str] = mapped_column(String(2048))
    # A publishable key issued for this session only, so the page can tokenize the card in the
    # browser; sealed by the vault and revoked once the session is complete.
    publishable_key_sealed: Mapped[str] = mapped_column(Text)
    publishable_key_id: Mapped[str] = mapped_column(String(40))
    attempt_payment_id: Mapped[str | None] = mapped_column(String(40), index=True)
    attempt_plan_id: Mapped[str | None] = mapped_column(String(40))
    attempt_started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The shopper's registration on the installments path (customer, card awaiting its SMS code).
    customer_id: Mapped[str | None] = mapped_column(String(40))
    saved_card_id: Mapped[str | None] = mapped_column(String(40))
    term_months: Mapped[int | None] = mapped_column(Integer)
    payment_id: Mapped[str | None] = mapped_column(String(40))  # what completed it
    installment_plan_id: Mapped[str | None] = mapped_column(String(40))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (Index("ix_checkout_sessions_merchant_seq", "merchant_id", "seq"),)


class DashboardUser(Base):
    """Someone who signs in to the dashboard: an operator (all merchants) or a merchant's admin
    (may refund) or viewer (read only). Only a password hash (argon2id) is kept."""

    __tablename__ = "dashboard_users"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)  # lower-cased
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(24))  # operator | merchant_admin | merchant_viewer
    merchant_id: Mapped[str | None] = mapped_column(ForeignKey("merchants.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    disabled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

