"""In-memory stand-ins for the ports a use case takes (gateway/services/ports.py), so service
rules run without a database, a bank or a broker. A fake keeps the few rows a test needs in
dicts; its unit of work commits nothing (there is nothing to roll back to), so tests use it for
the rules a use case applies, and the integration tests for what the database guarantees."""
from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

from gateway.adapters.connectors.base import CardDetails, ChargeRequest, ConnectorResult, PaymentConnector
from gateway.adapters.db.installment_models import Installment, InstallmentPlan, InstallmentProduct
from gateway.adapters.db.models import CardToken, Payment, SavedCard
from gateway.adapters.vault import Vault
from gateway.config import Settings
from gateway.domain.banks import Bank
from gateway.domain.errors import NotFound
from gateway.domain.ledger import AccountSpec, JournalEntry
from gateway.domain.payments import Outcome
from gateway.services import installment_plans
from gateway.services.ports import Collected


class FakeBank:
    """A bank that gives the answers a test queues (approved when none is queued), or raises."""

    name = "fake_bank"

    def __init__(self) -> None:
        self.answers: list[ConnectorResult] = []
        self.failure: Exception | None = None
        self.charges: list[ChargeRequest] = []
        self.captures: list[tuple[str, int]] = []
        self.batches: list[list[str]] = []  # the payment ids of each debit file

    def will_answer(self, outcome: Outcome, **details) -> None:
        self.answers.append(ConnectorResult(outcome, **details))

    def authorize(self, request: ChargeRequest) -> ConnectorResult:
        self.charges.append(request)
        if self.failure is not None:
            raise self.failure
        if self.answers:
            return self.answers.pop(0)
        return ConnectorResult(Outcome.APPROVED, reference=f"ref_{request.payment_id}")

    def capture(self, reference: str, amount: int, currency: str) -> ConnectorResult:
        self.captures.append((reference, amount))
        return ConnectorResult(Outcome.APPROVED, reference=reference)

    def void(self, payment_id: str, reference: str | None) -> ConnectorResult:
        return ConnectorResult(Outcome.APPROVED, reference=reference)

    def status(self, payment_id: str) -> ConnectorResult:
        return self.answers.pop(0) if self.answers else ConnectorResult(Outcome.UNKNOWN)

    def authorize_batch(self, requests: list[ChargeRequest]) -> list[ConnectorResult]:
        """A debit file: one answer per request, in order, as `authorize` would give."""
        self.batches.append([request.payment_id for request in requests])
        return [self.authorize(request) for request in requests]


class InMemoryPayments:
    """The payment rows of one fake database, meeting the `PaymentStore` port. It is also what the
    fake unit of work yields as its "session", so `session.add` of a card token lands here too."""

    def __init__(self) -> None:
        self.payments: dict[str, Payment] = {}
        self.tokens: dict[str, CardToken] = {}
        # saved card id -> the card and what it decrypts to, for cards a customer may be charged on
        self.chargeable: dict[str, tuple[SavedCard, CardDetails]] = {}
        self.discount_rates: dict[str, Decimal] = {}
        self.entries: list[JournalEntry] = []
        self.events: list[tuple[str, str]] = []  # (payment id, its status when the event was recorded)

    def add(self, row) -> None:
        if isinstance(row, Payment):
            self.payments[row.id] = row
        elif isinstance(row, CardToken):
            self.tokens[row.id] = row
        else:
            raise TypeError(f"the fake keeps payments and card tokens, not {type(row).__name__}")

    def owned(self, merchant_id: str, payment_id: str, *, lock: bool = False, param: str | None = None) -> Payment:
        payment = self.payments.get(payment_id)
        if payment is None or payment.merchant_id != merchant_id:
            raise NotFound("payment", payment_id, param)
        return payment

    def locked(self, payment_id: str) -> Payment | None:
        return self.payments.get(payment_id)

    def merchants_card_token(self, merchant_id: str, token_id: str) -> CardToken | None:
        token = self.tokens.get(token_id)
        return token if token is not None and token.merchant_id == merchant_id else None

    def spend_card_token(self, merchant_id: str, token_id: str) -> CardToken | None:
        token = self.merchants_card_token(merchant_id, token_id)
        if token is None or token.used:
            return None
        token.used = True
        return token

    def settle_processing(self, payment: Payment, now: datetime, key_response=None) -> bool:
        # The fake holds the very object the use case changed: it is written already. It keeps no
        # Idempotency-Keys (the use cases on fakes run without one).
        return payment.id in self.payments

    def card_token(self, token_id: str) -> CardToken:
        return self.tokens[token_id]

    def chargeable_card(self, merchant_id: str, card_id: str) -> tuple[SavedCard, CardDetails]:
        card = self.chargeable.get(card_id)
        if card is None or card[0].merchant_id != merchant_id:
            raise NotFound("card", card_id, "payment_method.card")
        return card

    def discount_rate(self, merchant_id: str) -> Decimal:
        return self.discount_rates.get(merchant_id, Settings.default_discount_rate)

    def post(self, entry: JournalEntry) -> None:
        entry.validate()
        self.entries.append(entry)

    def payment_changed(self, payment: Payment, now: datetime) -> None:
        self.events.append((payment.id, payment.status))

    def balance(self, account: AccountSpec) -> int:
        """The account's balance as its owner reads it, from every entry posted."""
        raw = sum(line.amount for entry in self.entries for line in entry.lines if line.account == account)
        return account.normal_balance(raw)


class FakeDatabase:
    def __init__(self, rows: InMemoryPayments) -> None:
        self.rows = rows
        self.units_of_work = 0

    @contextmanager
    def unit_of_work(self) -> Iterator[InMemoryPayments]:
        self.units_of_work += 1
        yield self.rows


def fake_vault() -> Vault:
    return Vault(keys={"v1": os.urandom(32)}, active="v1", index_key=os.urandom(32))


class SteppingClock:
    """A clock a test moves by hand."""

    def __init__(self, start: datetime = datetime(2026, 11, 26, 4, 0, tzinfo=timezone.utc)) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta) -> None:
        self.now += timedelta(**delta)


@dataclass
class FakePaymentPorts:
    """Meets `gateway.services.payments.PaymentPorts` without a database or a bank."""

    rows: InMemoryPayments = field(default_factory=InMemoryPayments)
    bank: FakeBank = field(default_factory=FakeBank)
    clock: SteppingClock = field(default_factory=SteppingClock)
    vault: Vault = field(default_factory=fake_vault)
    settings: Settings = field(default_factory=Settings)
    settled: list[str] = field(default_factory=list)  # payments of a plan or a fund purchase that reached their outcome

    def __post_init__(self) -> None:
        self.db = FakeDatabase(self.rows)
        self.connectors: dict[str, PaymentConnector] = {self.bank.name: self.bank}

    @staticmethod
    def payment_store(session: InMemoryPayments) -> InMemoryPayments:
        return session

    def payment_settled(self, session, payment: Payment) -> None:
        self.settled.append(payment.id)

    def fund_purchase_settled(self, session, payment: Payment) -> None:
        self.settled.append(payment.id)
    def checkout_payment_settled(self, session, payment: Payment) -> None:
        """No hosted checkout sessions here: nothing to complete."""

    @property
    def wallets(self) -> dict[str, PaymentConnector]:
        return {}

    def connector(self, name: str) -> PaymentConnector:
        return self.connectors[name]

    def connector_for_bank(self, bank: Bank) -> PaymentConnector:
        return self.bank



class InMemoryInstallments:
    """The installment rows of one fake database, meeting the `InstallmentStore` port; the
    payment rows beside them are `payment_rows`."""

    def __init__(self, payment_rows: InMemoryPayments) -> None:
        self.payment_rows = payment_rows
        self.plans: dict[str, InstallmentPlan] = {}
        self.products: dict[str, InstallmentProduct] = {}
        self.installments: list[Installment] = []
        self.entries: list[JournalEntry] = []
        self.events: list[tuple[str, dict]] = []  # (type, data)

    def locked_plan(self, plan_id: str) -> InstallmentPlan:
        return self.plans[plan_id]

    def claim_due(self, now: datetime, limit: int) -> list[tuple[Installment, InstallmentPlan]]:
        def due(item: Installment) -> bool:
            if self.plans[item.plan_id].state != "active" or item.next_attempt_at > now:
                return False
            abandoned = item.status == "collecting" and item.collecting_payment_id not in self.payment_rows.payments
            return item.status == "scheduled" or abandoned

        claimed = sorted((item for item in self.installments if due(item)), key=lambda item: item.next_attempt_at)[:limit]
        return [(item, self.plans[item.plan_id]) for item in claimed]

    def chargeable_cards(self, card_ids: set[str]) -> tuple[dict[str, tuple[SavedCard, CardDetails]], set[str]]:
        ready = {card_id: self.payment_rows.chargeable[card_id] for card_id in card_ids if card_id in self.payment_rows.chargeable}
        return ready, set(card_ids) - set(ready)

    def add_payments(self, rows: list[dict]) -> None:
        for row in rows:
            columns = {("metadata_" if name == "metadata" else name): value for name, value in row.items()}
            self.payment_rows.add(Payment(**columns))

    def mark_collected(self, collected: list[Collected], now: datetime) -> None:
        for done in collected:
            payment = self.payment_rows.payments[done.payment_id]
            if payment.status == "processing":
                payment.status, payment.amount_received, payment.connector_reference = "succeeded", done.amount, done.reference
                payment.next_reconcile_at = None
            item = next(item for item in self.installments if item.seq == done.installment_seq)
            item.status, item.paid_principal, item.paid_interest = "paid", done.principal, done.interest
            item.paid_at, item.collecting_payment_id = now, None

    def record_many(self, merchant_id: str, items: list[tuple[str, dict]], now: datetime) -> None:
        self.events.extend(items)

    def product(self, product_id: str) -> InstallmentProduct:
        return self.products[product_id]

    def unpaid(self, plan_id: str) -> list[Installment]:
        return sorted((item for item in self.installments if item.plan_id == plan_id and item.status in ("scheduled", "collecting")),
                      key=lambda item: item.number)

    def installment(self, plan_id: str, number: int) -> Installment:
        return next(item for item in self.installments if item.plan_id == plan_id and item.number == number)

    def collecting(self, plan_id: str, payment_id: str) -> list[Installment]:
        return [item for item in self.installments if item.plan_id == plan_id and item.collecting_payment_id == payment_id]

    def overdue_plans(self, today: date, limit: int) -> list[InstallmentPlan]:
        late = {item.plan_id for item in self.installments if item.status != "paid" and item.due_date < today}
        return [plan for plan in self.plans.values() if plan.state == "active" and plan.id in late][:limit]

    def post(self, entry: JournalEntry) -> None:
        entry.validate()
        self.entries.append(entry)

    def record(self, merchant_id: str, event_type: str, data: dict, now: datetime) -> None:
        self.events.append((event_type, data))

    def balance(self, account: AccountSpec) -> int:
        raw = sum(line.amount for entry in self.entries for line in entry.lines if line.account == account)
        return account.normal_balance(raw)


@dataclass
class FakeInstallmentPorts(FakePaymentPorts):
    """Meets `gateway.services.installment_plans.InstallmentPorts`: the payment fakes, the plan
    rows, and a plan told of its payments' outcomes as the composition root wires it."""

    def __post_init__(self) -> None:
        super().__post_init__()
        self.plan_rows = InMemoryInstallments(self.rows)

    def installment_store(self, session) -> InMemoryInstallments:
        return self.plan_rows

    def payment_settled(self, session, payment: Payment) -> None:
        installment_plans.payment_settled(self, session, payment)

    def installment_from_fund(self, plan, payment_id: str, owed: int, number: int) -> int:
        raise AssertionError("the fakes' plans are paid by card")
