"""The fund queue: confirm due subscriptions, accrue each fund's next day whose figure arrived,
pay due normal redemptions, and ask banks about unanswered payouts."""
from __future__ import annotations

from gateway.bootstrap import Gateway
from gateway.services.fund_accrual import run_once as fund_pass


def run_once(gw: Gateway) -> int:
    return fund_pass(gw)
