"""What the use cases need from the world, as narrow protocols. Each service module declares a
bundle of the ones it uses (`PaymentPorts`, `InstallmentPorts`, ...); the composition root
(`gateway.bootstrap.Gateway`) meets every bundle structurally, and tests hand a service a fake
that meets only its bundle. No service imports the composition root.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from sqlalchemy import Connection
from sqlalchemy.orm import Session

from gateway.adapters.connectors.base import CardDetails, PaymentConnector
from gateway.adapters.db.installment_models import Installment, InstallmentPlan, InstallmentProduct
from gateway.adapters.db.models import CardToken, Customer, Payment, SavedCard
from gateway.adapters.vault import DataKey
from gateway.config import Settings
from gateway.domain.banks import Bank
from gateway.domain.ledger import JournalEntry

if TYPE_CHECKING:  # services/idempotency.py imports this module
    from gateway.services.idempotency import StoredResponse

# The time every use case sees (the sandbox clock in test mode). Called, never stored.
Clock = Callable[[], datetime]


@runtime_checkable
class UnitOfWorkFactory(Protocol):
    """Opens one transaction: committed when the block ends normally, rolled back otherwise."""

    def unit_of_work(self) -> AbstractContextManager[Session]: ...

    def read(self) -> AbstractContextManager[Connection]:
        """A connection for one read that needs no transaction of its own."""
        ...


@runtime_checkable
class Vault(Protocol):
    """Encryption at rest and keyed lookups (gateway.adapters.vault.Vault)."""

    def encrypt(self, plaintext: bytes, associated: str) -> str: ...

    def decrypt(self, ciphertext: str, associated: str) -> bytes: ...

    def is_current(self, ciphertext: str) -> bool: ...

    def new_data_key(self, owner_id: str) -> tuple[DataKey, str]: ...

    def data_key(self, owner_id: str, wrapped: str | None) -> DataKey: ...

    def index(self, purpose: str, value: str) -> str: ...


@runtime_checkable
class Connectors(Protocol):
    """The banks and wallets, by the name a payment records, by card bank, or by wallet."""

    connectors: Mapping[str, PaymentConnector]

    @property
    def wallets(self) -> Mapping[str, PaymentConnector]: ...

    def connector(self, name: str) -> PaymentConnector: ...

    def connector_for_bank(self, bank: Bank) -> PaymentConnector: ...


# ---- the bundles: what each group of use cases takes --------------------------------------------

@runtime_checkable
class TransactionsPort(Protocol):
    """The least a use case takes: its transactions."""

    db: UnitOfWorkFactory


@runtime_checkable
class StoragePorts(TransactionsPort, Protocol):
    """Transactions and the time."""

    clock: Clock


@runtime_checkable
class SettingsPort(Protocol):
    """Use cases that read a deployment setting; the settings come from the composition root."""

    settings: Settings


@runtime_checkable
class VaultPorts(StoragePorts, Protocol):
    """Use cases that encrypt or look up personal data."""

    vault: Vault


@runtime_checkable
class BankPorts(VaultPorts, Connectors, Protocol):
    """Use cases that call banks or wallets (and decrypt the card they charge)."""


class PaymentStore(Protocol):
    """The rows a payment use case reads and writes within one unit of work."""

    def add(self, payment: Payment) -> None: ...

    def owned(self, merchant_id: str, payment_id: str, *, lock: bool = False, param: str | None = None) -> Payment:
        """The merchant's payment (404 for another merchant's), optionally row-locked."""
        ...

    def locked(self, payment_id: str) -> Payment | None:
        """Any merchant's payment by id, row-locked (answers that name only the payment)."""
        ...

    def merchants_card_token(self, merchant_id: str, token_id: str) -> CardToken | None:
        """The merchant's card token (None for another merchant's), row-locked."""
        ...

    def spend_card_token(self, merchant_id: str, token_id: str) -> CardToken | None:
        """Mark the merchant's unused card token used, in one statement; None if it is not the
        merchant's or already used (nothing changed)."""
        ...

    def settle_processing(self, payment: Payment, now: datetime, key_response: tuple[str, StoredResponse] | None = None) -> bool:
        """Write the outcome held in `payment` (a row not attached to this unit of work) if the
        payment is still processing, with, given (key, response), the payment's Idempotency-Key
        completed; False if something else moved it first (nothing written)."""
        ...

    def card_token(self, token_id: str) -> CardToken: ...

    def chargeable_card(self, merchant_id: str, card_id: str) -> tuple[SavedCard, CardDetails]:
        """The merchant's saved card and what it decrypts to, if it may be charged now: active, its
        customer not erased and still consenting (404 / 409 otherwise)."""
        ...

    def discount_rate(self, merchant_id: str) -> Decimal: ...

    def post(self, entry: JournalEntry) -> None:
        """A balanced ledger entry, in this transaction."""
        ...

    def payment_changed(self, payment: Payment, now: datetime) -> None:
        """The merchant's event for the payment's new state (outbox), in this transaction."""
        ...


@dataclass(frozen=True)
class Collected:
    """One installment a bank's debit file collected in full."""

    payment_id: str
    amount: int
    reference: str | None
    installment_seq: int
    principal: int
    interest: int


class InstallmentStore(Protocol):
    """The rows the installment collection and lateness rules read and write in one unit of work."""

    def locked_plan(self, plan_id: str) -> InstallmentPlan: ...

    def claim_due(self, now: datetime, limit: int) -> list[tuple[Installment, InstallmentPlan]]:
        """Row-locked, skipping those another worker holds, oldest attempt first: installments of
        active plans whose next attempt has come, scheduled, or claimed by a worker that died
        before creating their debit."""
        ...

    def chargeable_cards(self, card_ids: set[str]) -> tuple[dict[str, tuple[SavedCard, CardDetails]], set[str]]:
        """`PaymentStore.chargeable_card` for a batch: the cards ready, and the ids of the rest."""
        ...

    def add_payments(self, rows: list[dict]) -> None:
        """Payments rows (table columns), written in bulk."""
        ...

    def mark_collected(self, collected: list[Collected], now: datetime) -> None:
        """The payments of a bank's debit file it approved, and their installments, paid."""
        ...

    def record_many(self, merchant_id: str, items: list[tuple[str, dict]], now: datetime) -> None:
        """`record` for a batch of events of one merchant."""
        ...

    def product(self, product_id: str) -> InstallmentProduct: ...

    def unpaid(self, plan_id: str) -> list[Installment]:
        """The plan's installments not yet paid (scheduled or being collected), oldest first."""
        ...

    def installment(self, plan_id: str, number: int) -> Installment:
        """One installment, row-locked."""
        ...

    def collecting(self, plan_id: str, payment_id: str) -> list[Installment]:
        """The installments a payment is collecting."""
        ...

    def overdue_plans(self, today: date, limit: int) -> list[InstallmentPlan]:
        """Active plans with an installment due before `today` and unpaid, row-locked (skipping
        those another worker holds)."""
        ...

    def post(self, entry: JournalEntry) -> None: ...

    def record(self, merchant_id: str, event_type: str, data: dict, now: datetime) -> None:
        """An event for the merchant (outbox), in this transaction."""
        ...


class PaymentSettled(Protocol):
    """Told, inside the payment's transaction, when a payment of an installment plan (or one made
    on a hosted checkout page) reached its outcome. Wired at the composition root, so payments
    know nothing of plans or checkout sessions."""

    def __call__(self, session: Session, payment: Payment) -> None: ...


class InstallmentFromFund(Protocol):
    """Asked to pay up to `owed` fen of installment `number` of a plan whose source is a fund, as
    payment `payment_id`, from the customer's units: answers what the fund paid (the card pays the
    rest). Wired at the composition root, so plans know nothing of fund orders."""

    def __call__(self, plan: InstallmentPlan, payment_id: str, owed: int, number: int) -> int: ...


class ConfirmationDecided(Protocol):
    """Told when the buyer's device answered a payment confirmation (or let it expire). Wired at
    the composition root, so device confirmations know nothing of payments."""

    def __call__(self, payment_id: str, approved: bool, reason: str) -> None: ...


class DeviceConsentWithdrawn(Protocol):
    """Told, inside the withdrawal's transaction, when a customer withdrew their `device_usage`
    consent: the device data kept for them goes. Wired at the composition root (to the credit
    score), so customers know nothing of what builds on their consents."""

    def __call__(self, session: Session, customer: Customer) -> None: ...


class CustomerErased(Protocol):
    """Told, inside the erasure's transaction, when a customer is erased: every record kept of
    them elsewhere (credit features, scores, training examples) goes. Wired at the composition root."""

    def __call__(self, session: Session, customer_id: str) -> None: ...
