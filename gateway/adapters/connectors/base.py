"""The one protocol every bank-debit connector meets. Each connector module turns these calls
into its bank's requests and its bank's answers back into these results."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from gateway.domain.payments import Outcome  # connectors answer in the domain's terms


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
    card: CardDetails | None  # None for wallets: the shopper pays in the wallet app
    capture: bool  # True: authorize and capture at once; False: authorize only
    description: str | None = None


@dataclass(frozen=True)
class ConnectorResult:
    outcome: Outcome
    reference: str | None = None
    decline_code: str | None = None
    message: str | None = None
    action: dict | None = None  # with ACTION_REQUIRED: e.g. {"type": "wallet_qr", "qr_payload": ...}
    expires_at: datetime | None = None  # with ACTION_REQUIRED: when the order closes unpaid


@dataclass(frozen=True)
class Notification:
    """A bank's or wallet's asynchronous word about one payment, after its signature was verified."""

    payment_id: str
    amount: int
    currency: str
    result: ConnectorResult
    notify_id: str | None = None  # providers that number their notifies; a replay is refused by it


class CallbackRejected(Exception):
    """A callback whose signature, timestamp or shape is wrong: it must change nothing."""


class PaymentConnector(Protocol):
    """What every bank family and wallet provider connector does."""

    name: str

    def authorize(self, request: ChargeRequest) -> ConnectorResult: ...

    def capture(self, reference: str, amount: int, currency: str) -> ConnectorResult: ...

    def void(self, payment_id: str, reference: str | None) -> ConnectorResult:
        """Release an authorization, or close an unpaid wallet order."""
        ...

    def refund(self, reference: str, refund_id: str, amount: int, currency: str) -> ConnectorResult: ...

    def status(self, payment_id: str) -> ConnectorResult:
        """What the bank or provider decided about a payment, by our id (works after a time-out)."""
        ...

    def refund_status(self, refund_id: str) -> ConnectorResult: ...

    def parse_callback(self, body: bytes, headers: Mapping[str, str]) -> Notification:
        """Verify and decode a callback or notify; raise CallbackRejected if it is not genuine."""
        ...


class CardBindingConnector(Protocol):
    """Banks also bind cards: they text the holder a code and check it."""

    def start_binding(self, binding_id: str, card: CardDetails, mobile: str) -> ConnectorResult: ...

    def confirm_binding(self, reference: str, code: str) -> ConnectorResult: ...
