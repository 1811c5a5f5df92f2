"""Idempotency-Key handling for writes that move money.

The key is claimed (an in-flight row committed) before any work starts, so every process sees
it; the response is stored when the work ends. A retry with the same key and request replays the
stored response; one that arrives while the first is still running waits for it a little, then
gets 409. A key whose first request died mid-way stays in flight until it expires: refusing is
safer than charging twice.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from sqlalchemy import delete, select, update

from gateway.adapters.db.models import IdempotencyKey
from gateway.domain.clock import as_utc
from gateway.adapters.db.upsert import insert_if_absent
from gateway.domain.errors import Conflict, IdempotencyError, InvalidRequest
from gateway.domain.idempotency import KEY_LIFETIME, MAX_KEY_LENGTH, KeyState
from gateway.services.ports import StoragePorts, SettingsPort


@runtime_checkable
class IdempotencyPorts(StoragePorts, SettingsPort, Protocol):
    """Transactions, the clock, and how long a retry waits for the first request."""


@dataclass(frozen=True)
class StoredResponse:
    status: int
    body: str


def claim(gw: IdempotencyPorts, merchant_id: str, key: str, fingerprint: str) -> StoredResponse | None:
    """None when this request owns the key and must do the work; else the response to replay."""
    if not key or len(key) > MAX_KEY_LENGTH:
        raise InvalidRequest("idempotency_key_invalid", f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} characters.", "Idempotency-Key")
    deadline = time.monotonic() + gw.settings.idempotency_wait_seconds
    pause = 0.01
    while True:
        stored = _claim_or_read(gw, merchant_id, key, fingerprint)
        if stored is None:
            return None
        if stored.fingerprint != fingerprint:
            raise IdempotencyError(
                "idempotency_key_reused",
                "This Idempotency-Key was already used with a different request.",
                "Idempotency-Key",
            )
        if stored.state == KeyState.COMPLETED.value:
            return StoredResponse(stored.response_status, stored.response_body)
        if time.monotonic() >= deadline:
            raise Conflict(
                "idempotency_key_in_use",
                "A request with this Idempotency-Key is still being processed; retry later.",
                "Idempotency-Key",
            )
        time.sleep(pause)
        pause = min(pause * 2, 0.2)


def _claim_or_read(gw: IdempotencyPorts, merchant_id: str, key: str, fingerprint: str) -> IdempotencyKey | None:
    """Insert the in-flight row (None: claimed) or return the row that holds the key."""
    now = gw.clock()
    with gw.db.unit_of_work() as session:
        for _ in range(2):
            if insert_if_absent(
                session,
                IdempotencyKey,
                ["merchant_id", "key"],
                merchant_id=merchant_id,
                key=key,
                fingerprint=fingerprint,
                state=KeyState.IN_FLIGHT.value,
                created_at=now,
            ):
                return None
            stored = session.execute(
                select(IdempotencyKey).where(IdempotencyKey.merchant_id == merchant_id, IdempotencyKey.key == key)
            ).scalar_one()
            if as_utc(stored.created_at) >= now - KEY_LIFETIME:
                return stored
            session.delete(stored)  # expired: the key is free again
            session.flush()
        return stored


def complete(gw: IdempotencyPorts, merchant_id: str, key: str, response: StoredResponse) -> None:
    with gw.db.unit_of_work() as session:
        session.execute(
            update(IdempotencyKey)
            .where(IdempotencyKey.merchant_id == merchant_id, IdempotencyKey.key == key)
            .values(state=KeyState.COMPLETED.value, response_status=response.status, response_body=response.body)
        )


def purge_expired(gw: IdempotencyPorts) -> int:
    with gw.db.unit_of_work() as session:
        result = session.execute(delete(IdempotencyKey).where(IdempotencyKey.created_at < gw.clock() - KEY_LIFETIME))
    return result.rowcount
