"""The recovery rule of an Idempotency-Key someone already claimed (gateway/domain/idempotency.py
`next_step`): replay what is done, wait for a live holder, resume a dead one's work from its last
recovery point, and never take over a key whose work cannot be resumed."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from gateway.domain.idempotency import LEASE, KeyState, Phase, Step, next_step

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)
LIVE, EXPIRED = NOW + timedelta(seconds=1), NOW - timedelta(seconds=1)


@pytest.mark.parametrize(("state", "phase", "locked_until", "step"), [
    # A stored response is replayed, whatever the lease says.
    (KeyState.COMPLETED, Phase.DONE, None, Step.REPLAY),
    (KeyState.COMPLETED, Phase.DONE, LIVE, Step.REPLAY),
    # A live holder is waited for, at every recovery point.
    (KeyState.IN_FLIGHT, Phase.STARTED, LIVE, Step.WAIT),
    (KeyState.IN_FLIGHT, Phase.PAYMENT_CREATED, LIVE, Step.WAIT),
    # A dead holder: nothing committed -> from scratch; payment committed -> ask the bank, finish.
    (KeyState.IN_FLIGHT, Phase.STARTED, EXPIRED, Step.RUN),
    (KeyState.IN_FLIGHT, Phase.PAYMENT_CREATED, EXPIRED, Step.FINISH_PAYMENT),
    # Work without recovery points (refunds, captures...) or a key from before leases: refused.
    (KeyState.IN_FLIGHT, None, EXPIRED, Step.WAIT),
    (KeyState.IN_FLIGHT, None, None, Step.WAIT),
    (KeyState.IN_FLIGHT, Phase.PAYMENT_CREATED, None, Step.WAIT),
])
def test_the_step_a_retry_takes(state, phase, locked_until, step):
    assert next_step(state.value, phase.value if phase else None, locked_until, NOW) is step


def test_the_lease_ends_exactly_at_its_time():
    assert next_step(KeyState.IN_FLIGHT.value, Phase.PAYMENT_CREATED.value, NOW, NOW) is Step.FINISH_PAYMENT
    assert next_step(KeyState.IN_FLIGHT.value, Phase.PAYMENT_CREATED.value, NOW + timedelta(microseconds=1), NOW) is Step.WAIT


def test_the_default_lease_outlasts_a_payment_but_not_a_day():
    assert timedelta(seconds=5) < LEASE < timedelta(minutes=5)
