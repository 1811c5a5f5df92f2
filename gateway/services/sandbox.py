"""Test mode: the sandbox clock, and the callback a sandbox bank sends about a debit."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from gateway.adapters.db.sandbox_clock import SandboxClock
from gateway.domain.clock import ClockCannotGoBack, offset_to_reach
from gateway.domain.errors import InvalidRequest
from gateway.services.payments import PaymentPorts, apply_callback, get_payment
from gateway.services.read_models import PaymentView


@dataclass(frozen=True)
class ClockView:
    now: datetime  # the time every process of the deployment sees
    offset: timedelta  # how far it is ahead of real time


def show_clock(clock: SandboxClock) -> ClockView:
    clock.refresh()
    return ClockView(clock(), clock.offset())


def advance_clock(clock: SandboxClock, target: datetime) -> ClockView:
    """Move the deployment's time forward to `target`; it keeps flowing from there. Refused when
    `target` is before the time the clock shows: time never runs back for money."""
    with clock.db.unit_of_work() as session:
        try:
            offset = offset_to_reach(target, clock.base(), clock.locked_offset(session))
        except ClockCannotGoBack as refused:
            raise InvalidRequest("clock_cannot_go_back", f"The sandbox clock only moves forward: {refused}.", "advance_to") from None
        clock.store(session, offset)
    return show_clock(clock)


def reset_clock(clock: SandboxClock) -> ClockView:
    """Back to real time: the one way back, for starting a test run afresh (objects made in the
    meantime keep their future timestamps)."""
    with clock.db.unit_of_work() as session:
        clock.locked_offset(session)
        clock.store(session, timedelta(0))
    return show_clock(clock)


def bank_sends_callback(gw: PaymentPorts, merchant_id: str, payment_id: str) -> PaymentView:
    """The sandbox bank sends its signed callback about a debit now (a bank that answers
    asynchronously would in its own time); it goes through the same checks as one from outside."""
    with gw.db.unit_of_work() as session:  # the connector is the gateway's business, not the read model's
        payment = gw.payment_store(session).owned(merchant_id, payment_id)
        wallet_provider, connector_name = payment.wallet_provider, payment.connector
    if wallet_provider is not None:
        raise InvalidRequest("not_a_bank_debit", "This payment was not sent to a bank.", "payment")
    connector = gw.connector(connector_name)
    callback = connector.signed_callback(payment_id)
    if callback is None:
        raise InvalidRequest("no_bank_debit", "The bank holds no debit for this payment yet.", "payment")
    body, signature = callback
    apply_callback(gw, connector.name, body, {"Bank-Signature": signature})
    return get_payment(gw, merchant_id, payment_id)
