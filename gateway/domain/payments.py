"""The payment lifecycle as a state machine, and the arithmetic of captures and refunds."""
from __future__ import annotations

from enum import Enum

from gateway.domain.errors import Conflict, InvalidRequest


class PaymentStatus(str, Enum):
    REQUIRES_CONFIRMATION = "requires_confirmation"
    REQUIRES_ACTION = "requires_action"
    PROCESSING = "processing"
    REQUIRES_CAPTURE = "requires_capture"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELED = "canceled"


class CaptureMethod(str, Enum):
    AUTOMATIC = "automatic"
    MANUAL = "manual"


S = PaymentStatus

# Which action may start from which state, and where it may lead.
TRANSITIONS: dict[str, dict[PaymentStatus, frozenset[PaymentStatus]]] = {
    "confirm": {S.REQUIRES_CONFIRMATION: frozenset({S.PROCESSING})},
    "capture": {S.REQUIRES_CAPTURE: frozenset({S.SUCCEEDED})},
    "cancel": {
        S.REQUIRES_CONFIRMATION: frozenset({S.CANCELED}),
        S.REQUIRES_CAPTURE: frozenset({S.CANCELED}),
        S.REQUIRES_ACTION: frozenset({S.CANCELED}),
    },
}


def require_transition(action: str, current: PaymentStatus, target: PaymentStatus | None = None) -> None:
    """Raise a 409 unless `action` may run on a payment in `current` (and lead to `target`).

    >>> require_transition("capture", PaymentStatus.REQUIRES_CAPTURE, PaymentStatus.SUCCEEDED)
    >>> require_transition("cancel", "requires_action")
    >>> require_transition("capture", "succeeded")
    Traceback (most recent call last):
      ...
    gateway.domain.errors.Conflict: You cannot capture this payment because it has a status of succeeded.
    >>> require_transition("cancel", "processing")  # the bank has it: wait for its answer
    Traceback (most recent call last):
      ...
    gateway.domain.errors.Conflict: You cannot cancel this payment because it has a status of processing.
    """
    allowed = TRANSITIONS[action].get(PaymentStatus(current))
    if allowed is None or (target is not None and target not in allowed):
        raise Conflict(
            "payment_unexpected_state",
            f"You cannot {action.replace('_', ' ')} this payment because it has a status of "
            f"{PaymentStatus(current).value}.",
        )


AWAITING_OUTCOME = frozenset({S.PROCESSING, S.REQUIRES_ACTION})


def capture_amount(requested: int | None, capturable: int) -> int:
    """A capture takes all of the authorization, or a part of it; the rest is released.

    >>> capture_amount(None, 5_000), capture_amount(3_000, 5_000)
    (5000, 3000)
    >>> capture_amount(6_000, 5_000)
    Traceback (most recent call last):
      ...
    gateway.domain.errors.InvalidRequest: amount_to_capture 6000 exceeds the capturable 5000
    """
    if requested is None:
        return capturable
    if requested <= 0:
        raise InvalidRequest("amount_invalid", "amount_to_capture must be positive", "amount_to_capture")
    if requested > capturable:
        raise InvalidRequest(
            "amount_too_large",
            f"amount_to_capture {requested} exceeds the capturable {capturable}",
            "amount_to_capture",
        )
    return requested


def refund_amount(requested: int | None, captured: int, already_refunded: int, status: PaymentStatus) -> int:
    """A refund takes what is left of the captured amount, or a part of it; never more.

    >>> refund_amount(None, 10_000, 2_500, PaymentStatus.SUCCEEDED)  # the rest
    7500
    >>> refund_amount(8_000, 10_000, 2_500, PaymentStatus.SUCCEEDED)
    Traceback (most recent call last):
      ...
    gateway.domain.errors.InvalidRequest: Refund amount 8000 is greater than the unrefunded 7500.
    """
    if PaymentStatus(status) is not S.SUCCEEDED:
        raise Conflict(
            "payment_not_refundable",
            f"Only succeeded payments can be refunded; this one is {PaymentStatus(status).value}.",
            "payment",
        )
    remaining = captured - already_refunded
    if remaining == 0:
        raise InvalidRequest("charge_already_refunded", "The payment is fully refunded.", "payment")
    if requested is None:
        return remaining
    if requested <= 0:
        raise InvalidRequest("amount_invalid", "amount must be positive", "amount")
    if requested > remaining:
        raise InvalidRequest(
            "amount_too_large",
            f"Refund amount {requested} is greater than the unrefunded {remaining}.",
            "amount",
        )
    return requested
