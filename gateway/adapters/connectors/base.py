"""The one protocol every bank-debit connector meets. Each connector module turns these calls
into its bank's requests and its bank's answers back into these results."""
from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Protocol


class Outcome(str, Enum):
    APPROVED = "approved"
    DECLINED = "declined"
    # Accepted for processing: the bank answers later by signed callback (or a status query).
    PENDING = "pending"
    # The bank did not answer in time: the money may or may not have moved. Only asking the bank
    # later (reconciliation) can tell; the gateway must never retry it as a new charge.
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class CardDetails:
    pan: str
    exp_month: int
    exp_year: int
    holder_name: str

    def __repr__(self) -> str:  # never let a PAN reach a log line through a repr
        return f"CardDetails(last4={self.pan[-4:]})"


@dataclass(frozen=True)
class ChargeRequest:
    payment_id: str
    amount: int
    currency: str
    card: CardDetails
    capture: bool  # True: authorize and capture at once; False: authorize only


@dataclass(frozen=True)
class ConnectorResult:
    outcome: Outcome
    reference: str | None = None
    decline_code: str | None = None
    message: str | None = None


@dataclass(frozen=True)
class BankCallback:
    """A bank's asynchronous answer about one payment, after its signature was verified."""

    payment_id: str
    amount: int
    currency: str
    result: ConnectorResult


class CallbackRejected(Exception):
    """A callback whose signature, timestamp or shape is wrong: it must change nothing."""


class BankDebitConnector(Protocol):
    name: str

    def authorize(self, request: ChargeRequest) -> ConnectorResult: ...

    def capture(self, reference: str, amount: int, currency: str) -> ConnectorResult: ...

    def void(self, reference: str) -> ConnectorResult: ...

    def refund(self, reference: str, refund_id: str, amount: int, currency: str) -> ConnectorResult: ...

    def status(self, payment_id: str) -> ConnectorResult:
        """What the bank decided about a debit, by our payment id (works after a time-out)."""
        ...

    def start_binding(self, binding_id: str, card: CardDetails, mobile: str) -> ConnectorResult:
        """Ask the bank to text a verification code to the card holder's registered mobile."""
        ...

    def confirm_binding(self, reference: str, code: str) -> ConnectorResult: ...

    def parse_callback(self, body: bytes, signature: str) -> BankCallback:
        """Verify and decode a bank callback; raise CallbackRejected if it is not genuine."""
        ...
