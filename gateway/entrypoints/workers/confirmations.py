"""The confirmations queue: expire device confirmations nobody answered and hand decided ones to
their payments. `paygate ingest` does this too between batches; running it here as well keeps
payments moving while ingest is busy or down (outcomes are delivered at least once, and a repeat
changes nothing)."""
from __future__ import annotations

from gateway.bootstrap import Gateway
from gateway.services.device_confirmations import deliver_outcomes, expire_due


def run_once(gw: Gateway) -> int:
    return expire_due(gw) + deliver_outcomes(gw)
