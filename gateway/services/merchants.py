"""Merchants and their API keys: create a merchant with its secret and publishable keys, and
find the merchant a presented key belongs to."""
from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Protocol, runtime_checkable

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from gateway.adapters.db.models import ApiKey, Merchant
from gateway.domain.ids import new_id
from gateway.services import enrollment_tokens
from gateway.services.ports import SettingsPort, VaultPorts


@runtime_checkable
class MerchantPorts(VaultPorts, SettingsPort, Protocol):
    """Transactions, the vault (API key hashes) and the default discount rate."""


# Built once (as are the other statements on a payment's path): building a statement and its
# cache key on every call cost more than sending it.
_KEY_LOOKUP = (
    select(ApiKey.merchant_id, ApiKey.kind, Merchant.discount_rate).join(Merchant, Merchant.id == ApiKey.merchant_id)
    .where(ApiKey.key_hash == bindparam("key_hash"), ApiKey.revoked_at.is_(None))
)

SECRET_PREFIX = "sk_test_"
PUBLISHABLE_PREFIX = "pk_test_"


@dataclass(frozen=True)
class NewMerchant:
    id: str
    name: str
    secret_key: str
    publishable_key: str


@dataclass(frozen=True)
class Principal:
    """Who is calling: a merchant, with a secret or a publishable key."""

    merchant_id: str
    kind: str  # "secret" | "publishable" | "enrollment" (a device's single-use enrollment token)
    # The merchant's discount rate, read with the key (what a payment takes from its capture).
    fee_rate: Decimal | None = None


def create_merchant(gw: MerchantPorts, name: str, discount_rate: Decimal | None = None) -> NewMerchant:
    rate = gw.settings.default_discount_rate if discount_rate is None else discount_rate
    if not (Decimal(0) <= rate < Decimal(1)):
        raise ValueError("discount rate must be in [0, 1)")
    merchant_id = new_id("mch")
    secret_key = SECRET_PREFIX + secrets.token_urlsafe(32)
    publishable_key = PUBLISHABLE_PREFIX + secrets.token_urlsafe(32)
    with gw.db.unit_of_work() as session:
        session.add(Merchant(id=merchant_id, name=name, discount_rate=rate))
        session.flush()
        for kind, key in (("secret", secret_key), ("publishable", publishable_key)):
            session.add(
                ApiKey(
                    id=new_id("key"),
                    merchant_id=merchant_id,
                    kind=kind,
                    key_hash=gw.vault.index("api_key", key),
                    last4=key[-4:],
                )
            )
    return NewMerchant(merchant_id, name, secret_key, publishable_key)


def issue_publishable_key(gw: MerchantPorts, session: Session, merchant_id: str) -> tuple[str, str]:
    """A further publishable key of the merchant (for one hosted checkout page): (key id, key)."""
    key = PUBLISHABLE_PREFIX + secrets.token_urlsafe(32)
    key_id = new_id("key")
    session.add(ApiKey(id=key_id, merchant_id=merchant_id, kind="publishable", key_hash=gw.vault.index("api_key", key), last4=key[-4:]))
    return key_id, key


def revoke_key(session: Session, key_id: str, now: datetime) -> None:
    session.execute(update(ApiKey).where(ApiKey.id == key_id, ApiKey.revoked_at.is_(None)).values(revoked_at=now))


def authenticate(gw: MerchantPorts, presented_key: str) -> Principal | None:
    if presented_key.startswith(enrollment_tokens.PREFIX):
        merchant_id = enrollment_tokens.merchant_of(gw, presented_key)
        return Principal(merchant_id, "enrollment") if merchant_id else None
    if not presented_key.startswith((SECRET_PREFIX, PUBLISHABLE_PREFIX)):
        return None
    # Read on every request (never cached: a revoked key stops at once), with the merchant's rate.
    with gw.db.autocommit() as connection:
        row = connection.execute(_KEY_LOOKUP, {"key_hash": gw.vault.index("api_key", presented_key)}).first()
    return Principal(row.merchant_id, row.kind, row.discount_rate) if row else None
