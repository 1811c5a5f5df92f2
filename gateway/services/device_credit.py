"""What an installment plan means for its device: how long it may be used, as OpenPAYGO tokens.

Each payment that moves the plan's paid-until date issues an ADD_TIME token worth the days up to
the next due date plus grace; completion (or a plan voided in cooling-off) issues DISABLE_PAYG.
Tokens go to the device over its commands topic (the device command outbox, in the caller's
transaction) and are kept for the API, so a shopper can type one in when the device is offline."""
from __future__ import annotations

import logging
from datetime import date, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from device_agents import wire
from gateway.adapters import payg_tokens
from gateway.domain.clock import beijing_date
from gateway.adapters.db.device_models import DeviceCommand
from gateway.adapters.db.installment_models import DevicePaygCredential, DeviceToken
from gateway.domain.errors import Conflict, NotFound
from gateway.services.ports import VaultPorts
from gateway.services.read_models import DeviceTokenView

log = logging.getLogger(__name__)

UNLOCK_TOKEN_COMMAND = wire.UNLOCK_TOKEN  # the agent applies it (device_agents.agent)


def provision(gw: VaultPorts, session: Session, device_id: str) -> tuple[str, int]:
    """Give a device its OpenPAYGO secret and starting code (at enrollment). Returned once, to be
    stored on the device; the gateway keeps the secret sealed by the vault."""
    secret_hex, starting_code = payg_tokens.new_secret()
    session.add(DevicePaygCredential(
        device_id=device_id, secret_sealed=gw.vault.encrypt(secret_hex.encode(), associated=f"payg:{device_id}"),
        starting_code=starting_code, last_count=0, paid_until=None, unlocked_for_good=False,
    ))
    return secret_hex, starting_code


def require_provisioned(session: Session, device_id: str) -> None:
    """A device can only go on a plan if it can be locked: it has OpenPAYGO credentials."""
    _credential(session, device_id)


def plan_activated(gw: VaultPorts, session: Session, plan, paid_until: date) -> None:
    paid_until_changed(gw, session, plan, paid_until)


def paid_until_changed(gw: VaultPorts, session: Session, plan, paid_until: date) -> DeviceToken | None:
    """ADD_TIME for the days between what the device holds and the new paid-until date (the last
    day it may be used). Days count the way the device counts them: its credit ends at the start
    of a Beijing day, and a device whose credit ran out counts from today."""
    if not plan.device_id:
        return None
    credential = _credential(session, plan.device_id)
    today = beijing_date(gw.clock())
    held_end = max(credential.paid_until + timedelta(days=1) if credential.paid_until else today, today)
    days = (paid_until + timedelta(days=1) - held_end).days
    token = None
    while days > 0:  # one token carries at most 995 days
        chunk = min(days, payg_tokens.MAX_DAYS_PER_TOKEN)
        held_end += timedelta(days=chunk)
        token = _issue(gw, session, credential, plan.id, "add_time", chunk, held_end - timedelta(days=1))
        days -= chunk
    return token


def plan_completed(gw: VaultPorts, session: Session, plan) -> DeviceToken | None:
    return _unlock_for_good(gw, session, plan)


def plan_canceled(gw: VaultPorts, session: Session, plan) -> DeviceToken | None:
    """The device is released from the voided plan: it no longer locks."""
    return _unlock_for_good(gw, session, plan)


def release(gw: VaultPorts, merchant_id: str, device_id: str) -> DeviceTokenView:
    """Unlock for good a device of the merchant that is on no open installment plan."""
    from gateway.adapters.db.device_models import Device
    from gateway.adapters.db.installment_models import InstallmentPlan

    with gw.db.unit_of_work() as session:
        device = session.get(Device, device_id)
        if device is None or device.merchant_id != merchant_id:
            raise NotFound("device", device_id)
        open_plan = session.execute(
            select(InstallmentPlan.id).where(InstallmentPlan.device_id == device_id, InstallmentPlan.state.in_(("pending", "active")))
        ).first()
        if open_plan:
            raise Conflict("device_on_plan", f"Device {device_id} is on installment plan {open_plan[0]}; it unlocks when the plan is paid.", "device")
        credential = _credential(session, device_id)
        credential.unlocked_for_good = True
        return DeviceTokenView.from_row(_issue(gw, session, credential, None, "disable_payg", 0, None))


def counter_sync(gw: VaultPorts, session: Session, device_id: str) -> DeviceToken:
    """For a device whose count fell behind (tokens lost): realigns it without adding time."""
    return _issue(gw, session, _credential(session, device_id), None, "counter_sync", 0, None)


def _unlock_for_good(gw: VaultPorts, session: Session, plan) -> DeviceToken | None:
    if not plan.device_id:
        return None
    credential = _credential(session, plan.device_id)
    credential.unlocked_for_good = True
    return _issue(gw, session, credential, plan.id, "disable_payg", 0, None)


def _issue(gw: VaultPorts, session: Session, credential: DevicePaygCredential, plan_id: str | None, kind: str, days: int, paid_until: date | None) -> DeviceToken:
    secret_hex = gw.vault.decrypt(credential.secret_sealed, associated=f"payg:{credential.device_id}").decode()
    count, digits = payg_tokens.generate(secret_hex, credential.starting_code, credential.last_count, kind, days)
    credential.last_count = count
    if paid_until is not None:
        credential.paid_until = paid_until
    token = DeviceToken(device_id=credential.device_id, plan_id=plan_id, kind=kind, days=days, count=count, token=digits,
                        paid_until=paid_until, issued_at=gw.clock())
    session.add(token)
    session.add(DeviceCommand(device_id=credential.device_id, attempts=0, created_at=gw.clock(), payload=wire.encode_command(
        UNLOCK_TOKEN_COMMAND, {"token": digits, "kind": kind, "days": days, "paid_until": paid_until.isoformat() if paid_until else None})))
    log.info("device %s: %s token (count %s, %s days) for plan %s", credential.device_id, kind, count, days, plan_id)
    return token


def _credential(session: Session, device_id: str) -> DevicePaygCredential:
    credential = session.execute(select(DevicePaygCredential).where(DevicePaygCredential.device_id == device_id).with_for_update()).scalar_one_or_none()
    if credential is None:
        raise Conflict("device_not_provisioned", f"Device {device_id} has no OpenPAYGO credentials.", "device")
    return credential
