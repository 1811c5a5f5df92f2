"""Idempotency-Key rules: the same key and the same request replay the first response;
the same key with another request is refused; keys live 24 hours."""
from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta
from enum import Enum

KEY_LIFETIME = timedelta(hours=24)
MAX_KEY_LENGTH = 255


class KeyState(str, Enum):
    IN_FLIGHT = "in_flight"
    COMPLETED = "completed"


def request_fingerprint(method: str, path: str, body: bytes) -> str:
    """A hash of what the request asks for. JSON bodies are canonicalised so that key order and
    whitespace do not make a retry look like a different request."""
    try:
        canonical = json.dumps(json.loads(body or b"null"), sort_keys=True, separators=(",", ":"))
        payload = canonical.encode()
    except ValueError:
        payload = body
    return hashlib.sha256(method.encode() + b" " + path.encode() + b"\n" + payload).hexdigest()


# How long the process working on a key holds it. A retry that finds the lease expired takes the
# key over: the process is presumed dead (a live one finishes a payment in well under a second).
LEASE = timedelta(seconds=30)


class Phase(str, Enum):
    """Recovery points: the last step of a request that is committed with its key.

    STARTED: nothing of the work is committed (a takeover runs it from scratch).
    PAYMENT_CREATED: the payment is committed as `processing`, its bank may have been asked
    (a takeover asks the bank what became of it and finishes it).
    DONE: the response is stored (replayed).
    A key with no phase belongs to an endpoint whose work cannot be resumed: it is refused
    while it lives, as charging or refunding twice would be worse than waiting."""

    STARTED = "started"
    PAYMENT_CREATED = "payment_created"
    DONE = "done"


class Step(str, Enum):
    REPLAY = "replay"  # send the stored response
    WAIT = "wait"  # a live process holds the key (409 if it does not finish soon)
    RUN = "run"  # take the key over and do the work from scratch
    FINISH_PAYMENT = "finish_payment"  # take the key over, ask the bank, finish the payment


def next_step(state: str, phase: str | None, locked_until: datetime | None, now: datetime) -> Step:
    """What a request does with a key someone already claimed (same request body).

    >>> from datetime import datetime, timezone
    >>> now = datetime(2026, 1, 1, tzinfo=timezone.utc)
    >>> next_step("completed", "done", None, now).value
    'replay'
    >>> next_step("in_flight", "payment_created", now + LEASE, now).value
    'wait'
    >>> next_step("in_flight", "payment_created", now - LEASE, now).value
    'finish_payment'
    >>> next_step("in_flight", "started", now - LEASE, now).value
    'run'
    >>> next_step("in_flight", None, now - LEASE, now).value
    'wait'
    """
    if state == KeyState.COMPLETED.value:
        return Step.REPLAY
    if locked_until is None or locked_until > now:
        return Step.WAIT
    if phase == Phase.STARTED.value:
        return Step.RUN
    if phase == Phase.PAYMENT_CREATED.value:
        return Step.FINISH_PAYMENT
    return Step.WAIT
