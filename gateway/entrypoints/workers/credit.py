"""The credit features queue: the nightly job (once per day, whichever worker claims it first)."""
from __future__ import annotations

from gateway.bootstrap import Gateway
from gateway.services.credit_jobs import run_nightly


def run_once(gw: Gateway) -> int:
    """Aggregate device usage, compute features and scores, record training outcomes; 0 once today's run is done."""
    return run_nightly(gw)
