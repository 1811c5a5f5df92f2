"""The installments queue: debit what falls due, then charge late fees and update delinquency."""
from __future__ import annotations

from gateway.bootstrap import Gateway
from gateway.services.installment_plans import collect_due, update_delinquency


def run_once(gw: Gateway) -> int:
    return collect_due(gw) + update_delinquency(gw)
