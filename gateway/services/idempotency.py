"""Idempotency-Key handling for writes that move money.

The key is claimed (an in-flight row committed) before any work starts, so every process sees
it; the response is stored when the work ends. A retry with the same key and request replays the
stored response; one that arrives while the first is still running waits for it a little, then
gets 409. Each claim holds the key for a lease (`idempotency_lease_seconds`, 30 s); a retry that
finds the lease of a dead request expired takes the key over and resumes from the request's last
recovery point (gateway/domain/idempotency.py `next_step`): a payment is run from scratch if it
was not created, else finished with what its bank says became of it (services/payments.py
`create_payment_once`). A key of an endpoint that records no recovery points stays refused
until it expires: refusing is safer than refunding twice.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Protocol, runtime_checkable

from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.orm import Session

from gateway.adapters.db.models import IdempotencyKey
from gateway.domain.clock import as_utc
from gateway.adapters.db.upsert import insert_if_absent, insert_if_absent_statement
from gateway.domain.errors import Conflict, IdempotencyError, InvalidRequest
from gateway.domain.idempotency import KEY_LIFETIME, MAX_KEY_LENGTH, KeyState, Phase, Step, next_step
from gateway.services.ports import StoragePorts, SettingsPort


@runtime_checkable
class IdempotencyPorts(StoragePorts, SettingsPort, Protocol):
    """Transactions, the clock, and how long a retry waits for the first request."""


@dataclass(frozen=True)
class StoredResponse:
    status: int
    body: str


@dataclass(frozen=True)
class Resume:
    """This request took over a key whose process died after creating its payment: finish it."""

    payment_id: str


@dataclass(frozen=True)
class KeyClaim:
    """An Idempotency-Key a payment claims in its own first transaction, and how the API renders
    what it answers (stored with the payment's last transaction, so the two commit together)."""

    merchant_id: str
    key: str
    fingerprint: str
    render: Callable[[Any], StoredResponse]  # a PaymentView -> the response
    render_error: Callable[[BaseException], StoredResponse]


class KeyTaken(Exception):
    """Another request claimed this key first (the caller's transaction must roll back)."""


def claim(gw: IdempotencyPorts, merchant_id: str, key: str, fingerprint: str, resumable: bool = False) -> StoredResponse | Resume | None:
    """None when this request owns the key and must do the work (from scratch); a `Resume` when it
    took over a payment to finish; else the response to replay. `resumable`: the work records
    recovery points (a takeover after the lease may run it again)."""
    check_key(key)
    deadline = time.monotonic() + gw.settings.idempotency_wait_seconds
    pause = 0.01
    while True:
        found = _claim_or_read(gw, merchant_id, key, fingerprint, resumable)
        if found is None or isinstance(found, (Resume, StoredResponse)):
            return found
        if time.monotonic() >= deadline:
            raise Conflict(
                "idempotency_key_in_use",
                "A request with this Idempotency-Key is still being processed; retry later.",
                "Idempotency-Key",
            )
        time.sleep(pause)
        pause = min(pause * 2, 0.2)


def check_key(key: str) -> None:
    if not key or len(key) > MAX_KEY_LENGTH:
        raise InvalidRequest("idempotency_key_invalid", f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} characters.", "Idempotency-Key")


def _lease(gw: IdempotencyPorts):
    return gw.clock() + timedelta(seconds=gw.settings.idempotency_lease_seconds)


def _claim_or_read(gw: IdempotencyPorts, merchant_id: str, key: str, fingerprint: str, resumable: bool) -> StoredResponse | Resume | Step | None:
    """Insert the in-flight row (None: claimed), or take over a dead request's key (None or a
    Resume), or the stored response, or Step.WAIT while a live request holds it."""
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
                phase=Phase.STARTED.value if resumable else None,
                locked_until=_lease(gw),
                created_at=now,
            ):
                return None
            stored = session.execute(
                select(IdempotencyKey).where(IdempotencyKey.merchant_id == merchant_id, IdempotencyKey.key == key).with_for_update()
            ).scalar_one()
            if as_utc(stored.created_at) >= now - KEY_LIFETIME:
                break
            session.delete(stored)  # expired: the key is free again
            session.flush()
        if stored.fingerprint != fingerprint:
            raise IdempotencyError(
                "idempotency_key_reused",
                "This Idempotency-Key was already used with a different request.",
                "Idempotency-Key",
            )
        step = next_step(stored.state, stored.phase, stored.locked_until and as_utc(stored.locked_until), now)
        if step is Step.REPLAY:
            return StoredResponse(stored.response_status, stored.response_body)
        if step is Step.WAIT:
            return step
        stored.locked_until = _lease(gw)  # taken over: this request holds the key now
        return Resume(stored.payment_id) if step is Step.FINISH_PAYMENT else None


# Built once: see gateway/services/merchants.py _KEY_LOOKUP. The SET clause is what the
# parameters name.
_keys = IdempotencyKey.__table__
_UPDATE_KEY = update(_keys).where(_keys.c.merchant_id == bindparam("b_merchant"), _keys.c.key == bindparam("b_key"))


def claim_for_payment(session: Session, gw: IdempotencyPorts, claim: KeyClaim, payment_id: str, owned: bool) -> None:
    """In the transaction that creates the payment: the key's recovery point becomes 'payment
    created' (it commits with the payment). Inserts the key unless this request already `owned`
    it; raises KeyTaken if another request holds it."""
    values = {"phase": Phase.PAYMENT_CREATED.value, "payment_id": payment_id, "locked_until": _lease(gw)}
    connection = session.connection()
    if owned:
        connection.execute(_UPDATE_KEY, {"b_merchant": claim.merchant_id, "b_key": claim.key, **values})
        return
    inserted = connection.execute(insert_if_absent_statement(_keys, ("merchant_id", "key"), connection.dialect.name), {
        "merchant_id": claim.merchant_id, "key": claim.key, "fingerprint": claim.fingerprint,
        "state": KeyState.IN_FLIGHT.value, "created_at": gw.clock(), **values,
    }).first()
    if inserted is None:
        raise KeyTaken(claim.key)


def complete(gw: IdempotencyPorts, merchant_id: str, key: str, response: StoredResponse) -> None:
    with gw.db.unit_of_work() as session:
        complete_in(session, merchant_id, key, response)


# The key done, replaying `response`: its SET clause fixed, so that it can also run inside
# another statement (gateway/services/payment_store.py settles a payment and completes its key in one).
COMPLETE_KEY = _UPDATE_KEY.values(
    state=KeyState.COMPLETED.value, phase=Phase.DONE.value, locked_until=None,
    response_status=bindparam("k_status", type_=_keys.c.response_status.type), response_body=bindparam("k_body", type_=_keys.c.response_body.type),
)


def completion(merchant_id: str, key: str, response: StoredResponse) -> dict:
    """The parameters of COMPLETE_KEY."""
    return {"b_merchant": merchant_id, "b_key": key, "k_status": response.status, "k_body": response.body}


def complete_in(session: Session, merchant_id: str, key: str, response: StoredResponse) -> None:
    """Store the response in the caller's transaction: the key is done and replays it."""
    session.connection().execute(COMPLETE_KEY, completion(merchant_id, key, response))


def purge_expired(gw: IdempotencyPorts) -> int:
    with gw.db.unit_of_work() as session:
        result = session.execute(delete(IdempotencyKey).where(IdempotencyKey.created_at < gw.clock() - KEY_LIFETIME))
    return result.rowcount
