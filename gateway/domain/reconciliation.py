"""When to ask a bank or wallet again about a payment whose outcome we do not know, and when to
stop asking and call an operator. Asking is always a status query, never a new charge."""
from __future__ import annotations

from datetime import timedelta

RECONCILE_SCHEDULE = (
    timedelta(minutes=1),
    timedelta(minutes=5),
    timedelta(minutes=15),
    timedelta(hours=1),
    timedelta(hours=3),
    timedelta(hours=12),
)

# How long a worker holds a claimed item before another worker may take it over (crash safety).
CLAIM_LEASE = timedelta(minutes=2)


def next_reconcile_delay(attempts_made: int) -> timedelta | None:
    """The wait before the next status query, or None once the schedule is spent."""
    return RECONCILE_SCHEDULE[attempts_made] if attempts_made < len(RECONCILE_SCHEDULE) else None
