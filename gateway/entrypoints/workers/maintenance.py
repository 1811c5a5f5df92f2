"""The maintenance queue: housekeeping that is safe to repeat and to run in several processes."""
from __future__ import annotations

from gateway.bootstrap import Gateway
from gateway.services.credit_jobs import purge_old_telemetry
from gateway.services.idempotency import purge_expired


def run_once(gw: Gateway) -> int:
    """Delete Idempotency-Keys past their 24 hours and raw telemetry past its retention (once
    its day is aggregated); returns how many rows went."""
    return purge_expired(gw) + purge_old_telemetry(gw)
