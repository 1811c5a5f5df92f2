"""The reconciliation queue: expired wallet orders and unknown outcomes (see the service)."""
from __future__ import annotations

from gateway.bootstrap import Gateway
from gateway.services.reconciliation import run_once as reconcile


def run_once(gw: Gateway) -> int:
    return reconcile(gw)
