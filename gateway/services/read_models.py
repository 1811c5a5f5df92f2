"""Read models: what the use cases hand back to the API. Plain frozen snapshots of what a merchant
may see, taken while the row is at hand, so the API layer (gateway/entrypoints/api) serializes
them without knowing the database model. Field names are the ones the response schemas read
(gateway/entrypoints/api/*schemas.py): the JSON is the same as when rows were dumped directly.

Each `from_row` names what it copies; `_copy` takes the attributes named like the fields."""
from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import date, datetime
from decimal import Decimal
from typing import Any, TypeVar

View = TypeVar("View")


def _copy(view: type[View], row: Any, **given: Any) -> View:
    """`view` with every field not `given` copied from the row's attribute of the same name."""
    copied = {item.name: getattr(row, item.name) for item in fields(view) if item.name not in given}
    return view(**copied, **given)


# ---- payments, refunds, tokens --------------------------------------------------------------

@dataclass(frozen=True)
class PaymentView:
    id: str
    amount: int
    currency: str
    status: str
    capture_method: str
    amount_capturable: int
    amount_received: int
    amount_refunded: int
    card_token_id: str | None
    saved_card_id: str | None
    wallet_provider: str | None
    customer_id: str | None
    card_brand: str | None
    card_bank: str | None
    card_last4: str | None
    next_action: dict | None
    flagged_reason: str | None
    failure_code: str | None
    failure_message: str | None
    description: str | None
    metadata: dict
    created_at: datetime

    @classmethod
    def from_row(cls, row) -> PaymentView:
        return _copy(cls, row, metadata=row.metadata_)


@dataclass(frozen=True)
class RefundView:
    id: str
    amount: int
    currency: str
    payment_id: str
    status: str
    failure_code: str | None
    created_at: datetime

    @classmethod
    def from_row(cls, row) -> RefundView:
        return _copy(cls, row)


@dataclass(frozen=True)
class CardTokenView:
    """A card token as its creator sees it: never the number, only brand, bank and last four."""

    id: str
    brand: str
    bank_code: str
    last4: str
    exp_month: int
    exp_year: int
    used: bool
    created_at: datetime

    @classmethod
    def from_row(cls, row) -> CardTokenView:
        return _copy(cls, row)


# ---- customers, consents, saved cards, banks -----------------------------------------------------

@dataclass(frozen=True)
class CustomerView:
    """A customer as the merchant may see it: the ID number and mobile only masked."""

    id: str
    state: str
    name: str | None
    mobile_masked: str | None
    id_number_masked: str | None
    created_at: datetime


@dataclass(frozen=True)
class ConsentView:
    id: str
    kind: str
    purpose: str
    version: str
    granted_at: datetime
    withdrawn_at: datetime | None

    @classmethod
    def from_row(cls, row) -> ConsentView:
        return _copy(cls, row)


@dataclass(frozen=True)
class SavedCardView:
    id: str
    customer_id: str
    status: str
    brand: str
    bank_code: str
    last4: str
    masked_number: str
    exp_month: int
    exp_year: int
    created_at: datetime

    @classmethod
    def from_row(cls, row) -> SavedCardView:
        return _copy(cls, row)


@dataclass(frozen=True)
class BankView:
    code: str
    cnaps: str
    name: str
    bins: tuple[str, ...]
    connector: str  # the connector that reaches the bank
    per_transaction_limit: int
    per_day_limit: int


# ---- webhook endpoints and events -----------------------------------------------------------------

@dataclass(frozen=True)
class WebhookEndpointView:
    id: str
    url: str
    enabled_events: list[str]
    description: str | None
    status: str
    created_at: datetime

    @classmethod
    def from_row(cls, row) -> WebhookEndpointView:
        return _copy(cls, row)


@dataclass(frozen=True)
class EventView:
    id: str
    type: str
    data: dict
    created_at: datetime

    @classmethod
    def from_row(cls, row) -> EventView:
        return _copy(cls, row)


@dataclass(frozen=True)
class DeliveryView:
    """One webhook delivery of an event, with the URL of its endpoint."""

    id: str
    endpoint_id: str
    url: str
    status: str
    attempts: int
    next_attempt_at: datetime | None
    last_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    delivered_at: datetime | None

    @classmethod
    def from_row(cls, row, url: str) -> DeliveryView:
        return _copy(cls, row, url=url)


@dataclass(frozen=True)
class EventDetail:
    """An event with the state of its webhook deliveries."""

    id: str
    type: str
    data: dict
    created_at: datetime
    deliveries: list[DeliveryView]

    @classmethod
    def from_row(cls, row, deliveries: list[DeliveryView]) -> EventDetail:
        return _copy(cls, row, deliveries=deliveries)


# ---- devices ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class DeviceView:
    id: str
    kind: str
    model: str
    state: str
    owner_customer_id: str | None
    signing_algorithm: str
    cert_serial: str
    cert_fingerprint: str
    cert_not_after: datetime
    last_seen_at: datetime | None
    last_seq: int | None
    messages_stored: int
    messages_rejected: int
    created_at: datetime
    revoked_at: datetime | None

    @classmethod
    def from_row(cls, row) -> DeviceView:
        return _copy(cls, row)


@dataclass(frozen=True)
class Broker:
    """Where an enrolled device connects, and its topics there."""

    url: str
    telemetry_topic: str
    confirmations_topic: str
    commands_topic: str


@dataclass(frozen=True)
class PaygCredentials:
    """OpenPAYGO Token credentials of a device's lock (secret in hex): given to the device only
    at enrollment."""

    secret_key: str = field(repr=False)
    starting_code: int


@dataclass(frozen=True)
class EnrolledDevice(DeviceView):
    """A device just enrolled, with what only its enrollment answer carries."""

    certificate: str  # PEM
    certificate_chain: list[str]  # device certificate, then the CA
    ca_certificate: str
    broker: Broker
    payg: PaygCredentials

    @classmethod
    def from_row(cls, row, *, certificate: str, certificate_chain: list[str], ca_certificate: str, broker: Broker,
                 payg: PaygCredentials) -> EnrolledDevice:
        return _copy(cls, row, certificate=certificate, certificate_chain=certificate_chain, ca_certificate=ca_certificate,
                     broker=broker, payg=payg)


@dataclass(frozen=True)
class DeviceTokenView:
    """An OpenPAYGO token issued for a device, to send it or to type in on its keypad."""

    token: str
    kind: str
    days: int
    paid_until: date | None

    @classmethod
    def from_row(cls, row) -> DeviceTokenView:
        return _copy(cls, row)


# ---- installments -----------------------------------------------------------------------------

@dataclass(frozen=True)
class ProductView:
    id: str
    name: str
    terms: list[int]
    method: str
    apr: Decimal
    fee_rate: Decimal
    down_payment_share: Decimal
    min_amount: int
    max_amount: int
    grace_days: int
    late_fee_fixed: int
    late_fee_rate: Decimal
    late_fee_cap: int
    cooling_off_days: int

    @classmethod
    def from_row(cls, row) -> ProductView:
        return _copy(cls, row)


@dataclass(frozen=True)
class PlanRecord:
    """The plan's own terms and state (what its row holds)."""

    id: str
    customer_id: str
    saved_card_id: str
    product_id: str
    device_id: str | None
    state: str
    delinquency: str
    amount: int
    currency: str
    down_payment: int
    down_payment_payment_id: str | None
    financed: int
    term_months: int
    method: str
    apr: Decimal
    late_fees_charged: int
    created_at: datetime

    @classmethod
    def from_row(cls, row) -> PlanRecord:
        return _copy(cls, row)


@dataclass(frozen=True)
class InstallmentView:
    number: int
    due_date: date
    principal: int
    interest: int
    late_fee: int
    waived_interest: int
    paid_principal: int
    paid_interest: int
    paid_late_fee: int
    status: str

    @classmethod
    def from_row(cls, row) -> InstallmentView:
        return _copy(cls, row)


@dataclass(frozen=True)
class PlanView:
    plan: PlanRecord
    installments: list[InstallmentView]
    paid: int
    due: int  # owed on or before today
    overdue: int  # owed before today
    outstanding: int
    device_tokens: list[DeviceTokenView]
