"""Tables for the money-market fund (Huoqibao). Units are BIGINT hundredths of a unit (1 unit =
CNY 1.00, so a hundredth is a fen). Same metadata as models.py (imported at its bottom)."""
from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import BigInteger, Date, DateTime, Index, Integer, Numeric, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from gateway.adapters.db.models import Base, SerialKey, utcnow


class Fund(Base):
    __tablename__ = "funds"
    seq: Mapped[int] = mapped_column(SerialKey, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(40), unique=True)
    merchant_id: Mapped[str] = mapped_column(String(40), index=True)
    code: Mapped[str] = mapped_column(String(12))
    name: Mapped[str] = mapped_column(String(100))
    manager: Mapped[str] = mapped_column(String(100))
    carryover: Mapped[str] = mapped_column(String(8))  # daily | monthly
    cutoff: Mapped[str] = mapped_column(String(5))  # "15:00" Beijing time
    fast_redemption_daily_cap: Mapped[int] = mapped_column(BigInteger)
    manager_public_key: Mapped[str] = mapped_column(Text)  # Ed25519, PEM
    # Units held by all customers (equals the sum of holdings and the ledger's holdings account),
    # and income accrued but not yet converted (monthly carryover).
    units_outstanding: Mapped[int] = mapped_column(BigInteger, default=0)
    accrued_outstanding: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    __table_args__ = (UniqueConstraint("merchant_id", "code", name="uq_funds_merchant_code"),)


class FundIncomeFigure(Base):
    """The manager's signed income per 10,000 units for one natural day."""

    __tablename__ = "fund_income_figures"
    fund_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    income_per_10k: Mapped[Decimal] = mapped_column(Numeric(10, 4))
    signature: Mapped[str] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class FundHolding(Base):
    """One customer's position in one fund. `seq` orders holdings so accrual can split a fund's
    holders into ranges that workers take in parallel."""

    __tablename__ = "fund_holdings"
    seq: Mapped[int] = mapped_column(SerialKey, primary_key=True, autoincrement=True)
    fund_id: Mapped[str] = mapped_column(String(40))
    customer_id: Mapped[str] = mapped_column(String(40), index=True)
    units: Mapped[int] = mapped_column(BigInteger, default=0)  # confirmed units
    accrued_income: Mapped[int] = mapped_column(BigInteger, default=0)  # monthly carryover, not yet units
    cumulative_income: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    __table_args__ = (
        UniqueConstraint("fund_id", "customer_id", name="uq_fund_holdings_fund_customer"),
        Index("ix_fund_holdings_fund_seq", "fund_id", "seq"),
    )


class FundMovement(Base):
    """A change of a holding's units from a given natural day on (confirmed subscription,
    redemption, units given back after a failed payout). Accrual of day D reads a holding's units
    on D as its units now less the movements effective after D, so a day's income is right even
    when its figure arrives after the holder moved money."""

    __tablename__ = "fund_movements"
    id: Mapped[int] = mapped_column(SerialKey, primary_key=True, autoincrement=True)
    fund_id: Mapped[str] = mapped_column(String(40))
    holding_seq: Mapped[int] = mapped_column(BigInteger, index=True)
    kind: Mapped[str] = mapped_column(String(16))  # subscription | redemption | restored
    reference: Mapped[str] = mapped_column(String(40))
    effective_date: Mapped[date] = mapped_column(Date)
    units: Mapped[int] = mapped_column(BigInteger)  # signed
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    __table_args__ = (Index("ix_fund_movements_fund_effective", "fund_id", "effective_date"),)


class FundSubscription(Base):
    __tablename__ = "fund_subscriptions"
    seq: Mapped[int] = mapped_column(SerialKey, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(40), unique=True)
    merchant_id: Mapped[str] = mapped_column(String(40))
    fund_id: Mapped[str] = mapped_column(String(40))
    customer_id: Mapped[str] = mapped_column(String(40), index=True)
    amount: Mapped[int] = mapped_column(BigInteger)
    saved_card_id: Mapped[str] = mapped_column(String(40))
    payment_id: Mapped[str] = mapped_column(String(40), unique=True)
    connector: Mapped[str | None] = mapped_column(String(40))
    # processing (card debit in flight) | paid (money in transit) | confirmed | failed
    status: Mapped[str] = mapped_column(String(16))
    trade_day: Mapped[date] = mapped_column(Date)
    confirm_day: Mapped[date] = mapped_column(Date)
    effective_date: Mapped[date | None] = mapped_column(Date)  # earns from this natural day
    failure_code: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    confirmed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (Index("ix_fund_subscriptions_due", "status", "confirm_day"),)


class FundRedemption(Base):
    __tablename__ = "fund_redemptions"
    seq: Mapped[int] = mapped_column(SerialKey, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(40), unique=True)
    merchant_id: Mapped[str] = mapped_column(String(40))
    fund_id: Mapped[str] = mapped_column(String(40))
    customer_id: Mapped[str] = mapped_column(String(40))
    amount: Mapped[int] = mapped_column(BigInteger)
    speed: Mapped[str] = mapped_column(String(8))  # fast | normal
    # Where the money goes: the customer's card (a payout), or an installment of their plan.
    saved_card_id: Mapped[str | None] = mapped_column(String(40))
    installment_plan_id: Mapped[str | None] = mapped_column(String(40))
    # pending (normal, until its pay day) | paying (payout handed to the bank) | paid | failed
    status: Mapped[str] = mapped_column(String(16))
    local_day: Mapped[date] = mapped_column(Date)  # the Beijing day it was asked for (fast cap)
    trade_day: Mapped[date] = mapped_column(Date)
    pay_day: Mapped[date] = mapped_column(Date)
    connector: Mapped[str | None] = mapped_column(String(40))
    connector_reference: Mapped[str | None] = mapped_column(String(80))
    next_check_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    failure_code: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    paid_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Fast ones to a card: when the manager's settlement repaid the partner bank's advance.
    advance_repaid_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        Index("ix_fund_redemptions_holder_day", "customer_id", "fund_id", "local_day"),
        Index("ix_fund_redemptions_due", "status", "pay_day"),
    )


class FundHolderIncome(Base):
    """What one holding earned on one day (for statements and yesterday's income)."""

    __tablename__ = "fund_holder_income"
    holding_seq: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    units_earning: Mapped[int] = mapped_column(BigInteger)
    income: Mapped[int] = mapped_column(BigInteger)

    # Rows arrive in day order: a BRIN index finds a day's rows for reconciliation at almost no
    # cost to the accrual's inserts (a plain index elsewhere).
    __table_args__ = (Index("ix_fund_holder_income_day", "day", postgresql_using="brin"),)


class FundAccrualRun(Base):
    """The accrual of one fund-day: claimed once (unique fund, day), done in chunks of holders,
    finished by one aggregated ledger entry."""

    __tablename__ = "fund_accrual_runs"
    id: Mapped[int] = mapped_column(SerialKey, primary_key=True, autoincrement=True)
    fund_id: Mapped[str] = mapped_column(String(40))
    day: Mapped[date] = mapped_column(Date)
    income_per_10k: Mapped[Decimal] = mapped_column(Numeric(10, 4))
    status: Mapped[str] = mapped_column(String(8))  # running | done
    units_earning: Mapped[int] = mapped_column(BigInteger, default=0)
    declared: Mapped[int] = mapped_column(BigInteger, default=0)
    credited: Mapped[int] = mapped_column(BigInteger, default=0)
    remainder: Mapped[int] = mapped_column(BigInteger, default=0)
    holders: Mapped[int] = mapped_column(BigInteger, default=0)
    converted: Mapped[int] = mapped_column(BigInteger, default=0)  # monthly carryover turned into units
    ledger_transaction_id: Mapped[int | None] = mapped_column(BigInteger)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (UniqueConstraint("fund_id", "day", name="uq_fund_accrual_runs_fund_day"),)


class FundAccrualChunk(Base):
    """A range of a fund's holdings (by seq) in one accrual run; a worker takes a pending chunk
    with SKIP LOCKED and credits it in one transaction, so a crash loses at most that chunk's
    uncommitted work, which the next worker redoes."""

    __tablename__ = "fund_accrual_chunks"
    run_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    number: Mapped[int] = mapped_column(Integer, primary_key=True)
    first_seq: Mapped[int] = mapped_column(BigInteger)
    last_seq: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(8))  # pending | done
    holders: Mapped[int] = mapped_column(BigInteger, default=0)
    units_earning: Mapped[int] = mapped_column(BigInteger, default=0)
    credited: Mapped[int] = mapped_column(BigInteger, default=0)
    converted: Mapped[int] = mapped_column(BigInteger, default=0)
