"""The device command outbox, as the command relay works it: claim due commands, then record
what the broker did with them.

Commands are written in the transaction that decides them (device_confirmations, device_credit);
the relay (gateway/entrypoints/mqtt/command_relay.py) publishes them. Claiming and recording are
two short transactions with the publish and the wait for the broker's acknowledgements between
them, outside any transaction, so no row lock is held while the network is waited on.

A claim is a lease: other relays skip a claimed command until its lease runs out, so two relays
never send the same command at once, and a relay that dies after publishing leaves the command to
be sent again once the lease has run out. Delivery is therefore at least once; a device treats a
repeated command (same nonce, same token) as the same request.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy import or_, select, update

from gateway.adapters.db.device_models import DeviceCommand
from gateway.adapters.db.engine import Database
from gateway.domain.clock import as_utc

# Long beside the relay's wait for acknowledgements (2 s): a lease runs out only when its relay
# died or hung, never under a live one.
CLAIM_LEASE = timedelta(seconds=30)
# A command nobody could deliver for a day (a device that never subscribed) is no longer tried.
GIVE_UP_AFTER = timedelta(days=1)


class OutboxPorts(Protocol):
    """What these use cases take: transactions and the time (the composition root meets it)."""

    db: Database
    clock: Callable[[], datetime]


@dataclass(frozen=True)
class ClaimedCommand:
    """One command claimed for publishing: what the relay needs, without the database."""

    id: int
    device_id: str
    payload: bytes
    claimed_until: datetime  # the lease; also tells this claim from a later one on the same row


def claim_due(gw: OutboxPorts, limit: int, lease: timedelta = CLAIM_LEASE) -> list[ClaimedCommand]:
    """Claim up to `limit` unsent commands, oldest first, that no live claim holds; committed on
    return, so the caller publishes with no transaction open."""
    now = as_utc(gw.clock())
    claimed_until = now + lease
    with gw.db.unit_of_work() as session:
        rows = session.scalars(
            select(DeviceCommand)
            .where(DeviceCommand.sent_at.is_(None),
                   DeviceCommand.created_at > now - GIVE_UP_AFTER,
                   or_(DeviceCommand.claimed_until.is_(None),
                       DeviceCommand.claimed_until <= now,
                       # A lease further ahead than any we give was taken before the clock went
                       # back (the sandbox clock can be reset): it must not hold for days.
                       DeviceCommand.claimed_until > claimed_until))
            .order_by(DeviceCommand.id).limit(limit)
            .with_for_update(skip_locked=True)  # PostgreSQL; SQLite serializes writers instead
        ).all()
        for row in rows:
            row.claimed_until = claimed_until
            row.attempts += 1
        return [ClaimedCommand(row.id, row.device_id, bytes(row.payload), claimed_until) for row in rows]


def record_delivered(gw: OutboxPorts, commands: Iterable[ClaimedCommand]) -> None:
    """Mark commands sent: the broker acknowledged them and had a session to give them to. True
    whoever holds the claim by now, so it is recorded even if the lease ran out meanwhile."""
    ids = [command.id for command in commands]
    if not ids:
        return
    with gw.db.unit_of_work() as session:
        session.execute(update(DeviceCommand)
                        .where(DeviceCommand.id.in_(ids), DeviceCommand.sent_at.is_(None))
                        .values(sent_at=as_utc(gw.clock()), claimed_until=None))


def release(gw: OutboxPorts, commands: Iterable[ClaimedCommand]) -> None:
    """Give back the claims on commands that did not reach a device, so the next pass tries them
    again at once rather than when their lease runs out. A claim another relay has taken since
    (after ours ran out) is left alone."""
    by_lease: dict[datetime, list[int]] = {}
    for command in commands:
        by_lease.setdefault(command.claimed_until, []).append(command.id)
    if not by_lease:
        return
    with gw.db.unit_of_work() as session:
        for claimed_until, ids in by_lease.items():
            session.execute(update(DeviceCommand)
                            .where(DeviceCommand.id.in_(ids), DeviceCommand.sent_at.is_(None),
                                   DeviceCommand.claimed_until == claimed_until)
                            .values(claimed_until=None))
