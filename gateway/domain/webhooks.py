"""Webhook rules: which endpoint hears which event, what it receives, and when a failed delivery
is tried again. Pure: no database, no HTTP."""
from __future__ import annotations

import json
from datetime import datetime, timedelta
from enum import Enum

from gateway.domain.clock import as_utc

ALL_EVENTS = "*"

# After the n-th failed attempt, wait RETRY_SCHEDULE[n-1]; after the last one, give up. The first
# attempt is made at once, so an event is tried 8 times over 27 h 36 min before it is marked failed.
RETRY_SCHEDULE: tuple[timedelta, ...] = (
    timedelta(minutes=1),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=5),
    timedelta(hours=10),
    timedelta(hours=10),
)
MAX_ATTEMPTS = len(RETRY_SCHEDULE) + 1
MAX_ENDPOINTS_PER_MERCHANT = 16


class DeliveryStatus(str, Enum):
    PENDING = "pending"  # due at next_attempt_at (or being attempted under a lease)
    SUCCEEDED = "succeeded"  # the endpoint answered 2xx
    FAILED = "failed"  # every attempt of the schedule failed; a redelivery starts it again
    CANCELED = "canceled"  # the endpoint was deleted before the event got through


def listens(enabled_events: list[str], event_type: str) -> bool:
    """Whether an endpoint subscribed to `enabled_events` hears `event_type`.

    >>> listens(["payment.succeeded"], "payment.succeeded"), listens(["*"], "refund.created")
    (True, True)
    >>> listens(["payment.succeeded"], "payment.failed")
    False
    """
    return ALL_EVENTS in enabled_events or event_type in enabled_events


def retry_delay(attempts_made: int) -> timedelta | None:
    """How long to wait after `attempts_made` attempts that all failed; None: stop trying.

    >>> [str(retry_delay(n)) for n in (1, 2, 3, 7)]
    ['0:01:00', '0:05:00', '0:30:00', '10:00:00']
    >>> retry_delay(MAX_ATTEMPTS) is None
    True
    """
    if attempts_made < 1:
        return timedelta(0)
    if attempts_made > len(RETRY_SCHEDULE):
        return None
    return RETRY_SCHEDULE[attempts_made - 1]


def event_payload(event_id: str, event_type: str, created_at: datetime, data: dict) -> bytes:
    """The exact bytes POSTed for an event: the same on every attempt (keys sorted, no spaces)."""
    document = {
        "id": event_id,
        "object": "event",
        "type": event_type,
        "created": int(as_utc(created_at).timestamp()),
        "data": {"object": data},
    }
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def is_success(status_code: int | None) -> bool:
    """Only a 2xx answer counts as delivered; redirects are not followed."""
    return status_code is not None and 200 <= status_code < 300
