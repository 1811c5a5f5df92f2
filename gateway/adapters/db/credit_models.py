"""Tables for the credit score (docs/credit.md): daily device usage aggregates, the pseudonymous
feature table, model versions, scores, contests, training observations, bureau queries and the
nightly job's runs. Same metadata as models.py (imported at its bottom).

Pseudonymous: nothing here holds a name, ID number, mobile or location; rows are keyed by the
customer id alone."""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, BigInteger, Date, DateTime, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from gateway.adapters.db.models import Base, SerialKey


class DeviceUsageDay(Base):
    """One device's usage on one UTC day (gateway.domain.devices.daily_usage, regions left out),
    kept after the raw telemetry it was made from is deleted."""

    __tablename__ = "device_usage_days"
    device_id: Mapped[str] = mapped_column(ForeignKey("devices.id"), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # phone | iot
    usage: Mapped[dict] = mapped_column(JSON)


class CreditFeatureRow(Base):
    """A customer's current features of one group (device | repayment), values as text."""

    __tablename__ = "credit_features"
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"), primary_key=True)
    feature_group: Mapped[str] = mapped_column(String(16), primary_key=True)
    feature_values: Mapped[dict] = mapped_column(JSON)
    computed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class CreditModelVersion(Base):
    """A trained scorecard: its JSON points table, its validation figures and its state
    (candidate | live | retired). One live version per model; the rest stay for audit."""

    __tablename__ = "credit_models"
    version: Mapped[str] = mapped_column(String(40), primary_key=True)
    model: Mapped[str] = mapped_column(String(24))  # device+repayment | repayment_only
    state: Mapped[str] = mapped_column(String(16))
    points_table: Mapped[str] = mapped_column(Text)  # the JSON document served
    metrics: Mapped[dict] = mapped_column(JSON)
    trained_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    promoted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    retired_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        Index("ix_credit_models_model_state", "model", "state"),
        # At most one live version per model, whatever two promotions do at once.
        Index("uq_credit_models_live_model", "model", unique=True, sqlite_where=text("state = 'live'"), postgresql_where=text("state = 'live'")),
    )


class CreditScore(Base):
    """One scoring of a customer: the model version used, the score, band and limit it gave, and
    the assessment (features, points, reasons) as canonical JSON."""

    __tablename__ = "credit_scores"
    id: Mapped[int] = mapped_column(SerialKey, primary_key=True, autoincrement=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"))
    model_version: Mapped[str] = mapped_column(ForeignKey("credit_models.version"))
    model: Mapped[str] = mapped_column(String(24))
    score: Mapped[int] = mapped_column(Integer)
    band: Mapped[str] = mapped_column(String(8))
    installment_limit: Mapped[int] = mapped_column(BigInteger)
    assessment: Mapped[str] = mapped_column(Text)
    computed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (Index("ix_credit_scores_customer_id_id", "customer_id", "id"),)


class CreditContest(Base):
    """A customer's challenge of an automated decision (PIPL art. 24), reviewed by an operator."""

    __tablename__ = "credit_contests"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id"))
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"), index=True)
    model_version: Mapped[str | None] = mapped_column(String(40))
    score: Mapped[int | None] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(16), index=True)  # open | upheld | corrected
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class CreditObservation(Base):
    """A training example: features as of a plan's start and when (if ever) it went 30+ days past
    due. `subject` is a customer id (source platform) or a simulated applicant's key."""

    __tablename__ = "credit_observations"
    id: Mapped[int] = mapped_column(SerialKey, primary_key=True, autoincrement=True)
    source: Mapped[str] = mapped_column(String(16))  # platform | simulated
    subject: Mapped[str] = mapped_column(String(40), index=True)
    plan_id: Mapped[str | None] = mapped_column(String(40), unique=True)
    observed_on: Mapped[date] = mapped_column(Date, index=True)
    device_features: Mapped[dict | None] = mapped_column(JSON(none_as_null=True))
    repayment_features: Mapped[dict] = mapped_column(JSON)
    defaulted_on: Mapped[date | None] = mapped_column(Date)


class CreditBureauQuery(Base):
    """Every query to an external, licensed bureau, with its purpose (kept as the audit trail)."""

    __tablename__ = "credit_bureau_queries"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id"))
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"), index=True)
    bureau: Mapped[str] = mapped_column(String(40))
    purpose: Mapped[str] = mapped_column(String(200))
    outcome: Mapped[str] = mapped_column(String(40))
    queried_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class CreditJobRun(Base):
    """The nightly feature job's run for one day: claimed by one worker, finished once; then the
    maintenance worker purges old raw telemetry once (its days are aggregated by then)."""

    __tablename__ = "credit_job_runs"
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    telemetry_purged_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
