"""Enrollment tokens: what a factory line or a shop's setup tool gives a device so it can enroll
once, instead of a merchant secret key that could also charge and refund."""
from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from gateway.adapters.db.device_models import EnrollmentToken
from gateway.domain.clock import as_utc
from gateway.domain.errors import DomainError
from gateway.services.ports import VaultPorts

PREFIX = "enr_"
DEFAULT_LIFETIME = timedelta(hours=1)


class EnrollmentRefused(DomainError):
    status = 401
    type = "authentication_error"


@dataclass(frozen=True)
class NewEnrollmentToken:
    token: str
    expires_at: datetime


def create(gw: VaultPorts, merchant_id: str, lifetime: timedelta = DEFAULT_LIFETIME) -> NewEnrollmentToken:
    token = PREFIX + secrets.token_urlsafe(24)
    expires_at = gw.clock() + lifetime
    with gw.db.unit_of_work() as session:
        session.add(EnrollmentToken(token_hash=_hash(gw, token), merchant_id=merchant_id, expires_at=expires_at, created_at=gw.clock()))
    return NewEnrollmentToken(token, expires_at)


def merchant_of(gw: VaultPorts, token: str) -> str | None:
    """The merchant a still-usable token enrolls for (it is spent only by `redeem`)."""
    with gw.db.unit_of_work() as session:
        row = session.execute(select(EnrollmentToken).where(EnrollmentToken.token_hash == _hash(gw, token))).scalar_one_or_none()
    usable = row is not None and row.used_at is None and as_utc(row.expires_at) > gw.clock()
    return row.merchant_id if usable else None


def redeem(gw: VaultPorts, session: Session, token: str, device_id: str) -> None:
    """Spend the token in the transaction that creates the device: used once, and only if the
    enrollment commits."""
    spent = session.execute(
        update(EnrollmentToken)
        .where(EnrollmentToken.token_hash == _hash(gw, token), EnrollmentToken.used_at.is_(None), EnrollmentToken.expires_at > gw.clock())
        .values(used_at=gw.clock(), device_id=device_id)
        .returning(EnrollmentToken.merchant_id)
    ).first()
    if spent is None:
        raise EnrollmentRefused("enrollment_token_invalid", "The enrollment token is unknown, expired or already used.")


def _hash(gw: VaultPorts, token: str) -> str:
    return gw.vault.index("enrollment_token", token)
