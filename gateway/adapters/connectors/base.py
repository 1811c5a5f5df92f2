"""The one protocol every bank-debit connector meets. Each connector module turns these calls
into its bank's requests and its bank's answers back into these results."""
from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Protocol


class Outcome(str, Enum):
    APPROVED = "approved"
    DECLINED = "declined"
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


class BankDebitConnector(Protocol):
    name: str

    def authorize(self, request: ChargeRequest) -> ConnectorResult: ...

    def capture(self, reference: str, amount: int, currency: str) -> ConnectorResult: ...

    def void(self, reference: str) -> ConnectorResult: ...

    def refund(self, reference: str, refund_id: str, amount: int, currency: str) -> ConnectorResult: ...
