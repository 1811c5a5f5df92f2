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
    funding_source: str  # card | fund
    source_fund_id: str | None
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


# ---- money-market fund (docs/fund.md) -------------------------------------------------------

@dataclass(frozen=True)
class FundView:
    id: str
    code: str
    name: str
    manager: str
    carryover: str
    cutoff: str
    fast_redemption_daily_cap: int
    units_outstanding: int
    latest_income_date: date | None
    created_at: datetime


@dataclass(frozen=True)
class ImportResult:
    recorded: list[date]
    unchanged: list[date]  # lines the fund already had, word for word


@dataclass(frozen=True)
class DailyYield:
    day: date
    income_per_10k: Decimal
    seven_day_annualized: Decimal | None  # None until the fund has 7 days of figures


@dataclass(frozen=True)
class SubscriptionView:
    id: str
    fund: str
    customer: str
    amount: int
    status: str
    payment: str
    trade_date: date
    confirmation_date: date
    earns_from: date | None
    failure_code: str | None
    created_at: datetime


@dataclass(frozen=True)
class RedemptionView:
    id: str
    fund: str
    customer: str
    amount: int
    speed: str
    status: str
    card: str | None
    installment_plan: str | None
    trade_date: date
    pay_date: date
    failure_code: str | None
    created_at: datetime
    paid_at: datetime | None


@dataclass(frozen=True)
class HoldingView:
    fund: str
    fund_code: str
    fund_name: str
    units: int  # confirmed units, in hundredths
    balance: int  # fen: units plus income accrued but not yet converted (monthly carryover)
    pending_subscriptions: int
    pending_redemptions: int
    yesterday_income: int
    cumulative_income: int
    fast_redemption_available_today: int


@dataclass(frozen=True)
class StatementLine:
    day: date
    kind: str  # subscription | redemption | restored | income
    amount: int  # fen, signed as it moved the balance
    reference: str | None


@dataclass(frozen=True)
class Statement:
    fund: str
    fund_code: str
    fund_name: str
    month: str
    opening: int
    subscriptions: int
    redemptions: int
    income: int
    closing: int
    lines: list[StatementLine]
# ---- the credit score --------------------------------------------------------------------------

@dataclass(frozen=True)
class FeatureView:
    name: str
    value: str | None
    points: int | None
    description: str


@dataclass(frozen=True)
class ReasonView:
    code: str
    text: str
    value: str | None


@dataclass(frozen=True)
class CreditProfile:
    customer_id: str
    score: int | None  # None: never scored (or scores deleted with the device data)
    band: str | None
    installment_limit: int
    model_version: str | None
    model: str | None
    computed_at: datetime | None
    reasons: tuple[ReasonView, ...]
    features: tuple[FeatureView, ...]


@dataclass(frozen=True)
class ContestView:
    id: str
    customer_id: str
    merchant_id: str
    state: str
    reason: str
    model_version: str | None
    score: int | None
    note: str | None
    created_at: datetime
    resolved_at: datetime | None


@dataclass(frozen=True)
class ModelView:
    version: str
    model: str
    state: str  # candidate | live | retired
    trained_at: datetime
    promoted_at: datetime | None
    retired_at: datetime | None
    metrics: dict


@dataclass(frozen=True)
class BureauReportView:
    id: str  # the logged query
    customer_id: str
    bureau: str
    purpose: str
    found: bool
    open_loans: int
    overdue_accounts: int
    inquiries_90d: int
    queried_at: datetime
