"""Tables for devices (issue 5): enrolled devices, their messages, rejections, payment
confirmations and the command outbox. Same metadata as models.py (imported at its bottom)."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, DateTime, ForeignKey, Index, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from gateway.adapters.db.models import Base, SerialKey, utcnow


class Device(Base):
    __tablename__ = "devices"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id"), index=True)  # who enrolled it
    # The customer who owns it: set when it is sold on an installment plan.
    owner_customer_id: Mapped[str | None] = mapped_column(String(40), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # phone | iot
    model: Mapped[str] = mapped_column(String(100))
    state: Mapped[str] = mapped_column(String(16))  # active | suspended | revoked
    signing_algorithm: Mapped[str] = mapped_column(String(8))  # EdDSA | ES256
    signing_public_key: Mapped[str] = mapped_column(Text)  # PEM SubjectPublicKeyInfo
    cert_serial: Mapped[str] = mapped_column(String(40))
    cert_fingerprint: Mapped[str] = mapped_column(String(64))
    cert_not_after: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_seen_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_seq: Mapped[int | None] = mapped_column(BigInteger)  # highest sequence number stored
    messages_stored: Mapped[int] = mapped_column(BigInteger, default=0)
    messages_rejected: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class DeviceMessage(Base):
    """One accepted device message. The unique (device_id, seq) is the dedupe record that makes
    QoS 1 redeliveries and replays land once; `body` is NULL when the owner has not consented to
    usage data being kept (the record stays, so the sequence number stays spent)."""

    __tablename__ = "device_messages"
    id: Mapped[int] = mapped_column(SerialKey, primary_key=True, autoincrement=True)
    device_id: Mapped[str] = mapped_column(ForeignKey("devices.id"))
    seq: Mapped[int] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(String(16))  # telemetry | confirmation
    sent_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))  # the device's signed timestamp
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    body: Mapped[dict | None] = mapped_column(JSON(none_as_null=True))

    __table_args__ = (
        UniqueConstraint("device_id", "seq", name="uq_device_messages_device_seq"),
        Index("ix_device_messages_device_sent", "device_id", "sent_at"),
    )


class DeviceRejection(Base):
    """A message ingest refused, and why. `device_id` is whatever the topic claimed (no foreign
    key: unknown devices are exactly what gets recorded here)."""

    __tablename__ = "device_rejections"
    id: Mapped[int] = mapped_column(SerialKey, primary_key=True, autoincrement=True)
    device_id: Mapped[str | None] = mapped_column(String(64), index=True)
    topic: Mapped[str] = mapped_column(String(200))
    reason: Mapped[str] = mapped_column(String(40))
    seq: Mapped[int | None] = mapped_column(BigInteger)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class DeviceConfirmation(Base):
    """A payment confirmation asked of a device. The nonce is what the device must sign back."""

    __tablename__ = "device_confirmations"
    nonce: Mapped[str] = mapped_column(String(64), primary_key=True)
    payment_id: Mapped[str] = mapped_column(String(40), index=True)
    device_id: Mapped[str] = mapped_column(ForeignKey("devices.id"), index=True)
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    merchant_name: Mapped[str] = mapped_column(String(200))
    state: Mapped[str] = mapped_column(String(16))  # pending | approved | declined | expired
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Set once the payment side has been told the outcome (the hook runs after our commit and is
    # retried until it succeeds, so the payment side must treat a repeat as a no-op).
    outcome_delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class DeviceCommand(Base):
    """Outbox of commands for devices, written in the transaction that decides to send them and
    published by the relay (QoS 1) which marks them sent once the broker acknowledges (see
    gateway/services/device_commands.py for the claim that lets it publish outside a transaction)."""

    __tablename__ = "device_commands"
    id: Mapped[int] = mapped_column(SerialKey, primary_key=True, autoincrement=True)
    device_id: Mapped[str] = mapped_column(ForeignKey("devices.id"), index=True)
    payload: Mapped[bytes] = mapped_column(LargeBinary)
    attempts: Mapped[int] = mapped_column(Integer, default=0)  # times a relay claimed it to publish
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # A relay is publishing it until then; other relays skip it meanwhile (NULL: nobody is).
    claimed_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (Index("ix_device_commands_unsent", "sent_at", "id"),)


class EnrollmentToken(Base):
    """A single-use, short-lived credential that lets a device enroll without holding the
    merchant's secret key (which could also charge and refund). Only a keyed hash is stored."""

    __tablename__ = "enrollment_tokens"
    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id"), index=True)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    device_id: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
