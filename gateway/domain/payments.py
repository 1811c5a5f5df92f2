"""The payment lifecycle as a state machine, and the arithmetic of captures and refunds."""
from __future__ import annotations

from dataclasses import dataclass
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


class Outcome(str, Enum):
    """What a bank or wallet said about a charge (every connector answers with one of these)."""

    APPROVED = "approved"
    DECLINED = "declined"
    # The shopper must act first (scan a wallet QR code); the connector says how.
    ACTION_REQUIRED = "action_required"
    # Accepted for processing: the answer comes later by signed callback (or a status query).
    PENDING = "pending"
    # The bank did not answer in time: the money may or may not have moved. Only asking the bank
    # later (reconciliation) can tell; the gateway must never retry it as a new charge.
    UNKNOWN = "unknown"


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


class Funds(str, Enum):
    """What an outcome does with the shopper's money."""

    NOTHING_YET = "nothing_yet"  # still waiting (or declined): nothing moved
    HELD = "held"  # authorized only: capturable later (manual capture)
    FOR_PLAN = "for_plan"  # received for an installment plan, which books it itself
    SOLD = "sold"  # received and booked to the merchant at once (capture entry)


@dataclass(frozen=True)
class Decision:
    """Where a bank's answer moves a payment, and what it does with the money."""

    status: PaymentStatus
    funds: Funds = Funds.NOTHING_YET

    @property
    def final(self) -> bool:
        """The answer settled the payment: the merchant hears of it and nothing is awaited."""
        return self.status not in AWAITING_OUTCOME

    def __repr__(self) -> str:
        return f"Decision({self.status.value}, {self.funds.value})"


def decide_outcome(current: PaymentStatus, outcome: Outcome, capture_method: CaptureMethod,
                   purpose: str = "charge") -> Decision | None:
    """The next state of a payment awaiting its bank's answer; None when the payment is already
    settled (answers repeat: a callback after a status query), so the answer changes nothing.

    Waiting: the shopper must act, or the answer comes later. A pending or unknown answer keeps
    the payment processing: retrying the charge instead could take the money twice.

    >>> A, M = CaptureMethod.AUTOMATIC, CaptureMethod.MANUAL
    >>> decide_outcome(S.PROCESSING, Outcome.ACTION_REQUIRED, A)
    Decision(requires_action, nothing_yet)
    >>> decide_outcome(S.PROCESSING, Outcome.PENDING, A)
    Decision(processing, nothing_yet)
    >>> decide_outcome(S.REQUIRES_ACTION, Outcome.PENDING, A)
    Decision(processing, nothing_yet)
    >>> decide_outcome(S.PROCESSING, Outcome.UNKNOWN, M)
    Decision(processing, nothing_yet)
    >>> decide_outcome(S.PROCESSING, Outcome.DECLINED, A)
    Decision(failed, nothing_yet)
    >>> decide_outcome(S.REQUIRES_ACTION, Outcome.DECLINED, A, "installment")
    Decision(failed, nothing_yet)

    Approved: a manual capture holds the money; an installment debit is booked by its plan;
    everything else (a sale, a plan's down payment) is booked to the merchant at once.

    >>> decide_outcome(S.PROCESSING, Outcome.APPROVED, M)
    Decision(requires_capture, held)
    >>> decide_outcome(S.PROCESSING, Outcome.APPROVED, A, "installment")
    Decision(succeeded, for_plan)
    >>> decide_outcome(S.PROCESSING, Outcome.APPROVED, A)
    Decision(succeeded, sold)
    >>> decide_outcome(S.REQUIRES_ACTION, Outcome.APPROVED, A, "down_payment")
    Decision(succeeded, sold)
    >>> decide_outcome(S.PROCESSING, Outcome.APPROVED, A).final
    True

    Settled payments stay as they are, whatever is said afterwards:

    >>> [decide_outcome(state, Outcome.APPROVED, A) for state in (S.SUCCEEDED, S.FAILED, S.CANCELED, S.REQUIRES_CAPTURE)]
    [None, None, None, None]
    >>> decide_outcome(S.REQUIRES_CONFIRMATION, Outcome.DECLINED, A) is None
    True
    """
    if PaymentStatus(current) not in AWAITING_OUTCOME:
        return None
    outcome = Outcome(outcome)
    if outcome is Outcome.ACTION_REQUIRED:
        return Decision(S.REQUIRES_ACTION)
    if outcome in (Outcome.PENDING, Outcome.UNKNOWN):
        return Decision(S.PROCESSING)
    if outcome is Outcome.DECLINED:
        return Decision(S.FAILED)
    if CaptureMethod(capture_method) is CaptureMethod.MANUAL:
        return Decision(S.REQUIRES_CAPTURE, Funds.HELD)
    if purpose == "installment":
        return Decision(S.SUCCEEDED, Funds.FOR_PLAN)
    return Decision(S.SUCCEEDED, Funds.SOLD)


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
