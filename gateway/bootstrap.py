"""The composition root: everything a use case needs, built once per process from settings."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.orm import Session

from gateway.adapters.connectors import SANDBOX_FAMILIES, SANDBOX_WALLETS
from gateway.adapters.connectors.baihang_like import BaihangLikeSandbox
from gateway.adapters.connectors.base import PaymentConnector
from gateway.adapters.connectors.bureau import CreditBureau
from gateway.adapters.connectors.timed import TimedConnector
from gateway.adapters.db.engine import Database
from gateway.adapters.db.installment_models import InstallmentPlan
from gateway.adapters.db.models import Customer, Payment
from gateway.adapters.db.sandbox_clock import SandboxClock, system_clock
from gateway.adapters.trading_calendar import ShanghaiCalendar
from gateway.adapters.vault import Vault, vault_from_env
from gateway.config import Settings
from gateway.domain.banks import Bank
from gateway.domain.credit.limits import LimitPolicy
from gateway.domain.fund import TradingCalendar
from gateway.services import checkout, credit, fund_orders, installment_plans, payments
from gateway.services.installment_store import SqlInstallmentStore
from gateway.services.payment_store import SqlPaymentStore
from gateway.services.ports import InstallmentStore, PaymentStore


@dataclass
class Gateway:
    settings: Settings
    db: Database
    vault: Vault
    clock: Callable[[], datetime] = field(default=system_clock)
    # Test mode (sandbox_endpoints): the clock POST /v1/sandbox/clock moves, also `clock` then.
    sandbox_clock: SandboxClock | None = None
    # connector name -> connector; built from the bank families unless given
    connectors: dict[str, PaymentConnector] = field(default_factory=dict)
    # Shanghai exchange trading days (fund cut-offs and confirmations); built from settings unless given
    calendar: TradingCalendar | None = None
    # The licensed bureau asked for external credit reports (a sandbox until one is contracted).
    credit_bureau: CreditBureau = field(default_factory=BaihangLikeSandbox)

    def __post_init__(self) -> None:
        LimitPolicy.parse(self.settings.credit_limit_policy)  # a bad policy stops the start, not a plan request
        if self.calendar is None:
            self.calendar = ShanghaiCalendar(self.settings.trading_calendar_file)
        if self.db.clock is None:  # ledger timestamps follow this clock, also one swapped in later
            self.db.clock = lambda: self.clock()
        if not self.connectors:
            for family, connector_class in SANDBOX_FAMILIES.items():
                connector = connector_class(
                    self.db,
                    lambda: self.clock(),  # follows a clock swapped in later (tests travel in time)
                    self.vault.derive_secret(f"sandbox-bank:{family}"),
                    self.settings.sandbox_latency_ms,
                )
                self.connectors[connector.name] = TimedConnector(connector)
            for wallet_class in SANDBOX_WALLETS.values():
                wallet = wallet_class(self.db, lambda: self.clock(), self.settings.sandbox_latency_ms)
                self.connectors[wallet.name] = TimedConnector(wallet)

    @property
    def wallets(self) -> dict[str, PaymentConnector]:
        """Wallet provider name (as merchants ask for it) -> its connector."""
        return {provider: self.connectors[cls.name] for provider, cls in SANDBOX_WALLETS.items()}

    @classmethod
    def from_settings(cls, settings: Settings, base_clock: Callable[[], datetime] = system_clock) -> Gateway:
        """The clock port: `base_clock` (the system clock), or in test mode the sandbox clock that
        adds the offset stored in the database to it (the same time for every process)."""
        db = Database(settings.database_url, pool_size=settings.db_pool_size)
        sandbox_clock = SandboxClock(db, base_clock) if settings.sandbox_endpoints else None
        payments.arm_faults((settings.fault_at or None) if settings.sandbox_endpoints else None)
        return cls(
            settings=settings,
            db=db,
            vault=vault_from_env(settings.env, settings.vault_key_file),
            clock=sandbox_clock or base_clock,
            sandbox_clock=sandbox_clock,
        )

    def refresh_clock(self) -> None:
        """Re-read the sandbox clock (nothing to do on the system clock): at the start of every
        request and worker pass, so a move is seen by the next one in every process."""
        if self.sandbox_clock is not None:
            self.sandbox_clock.refresh()

    def connector(self, name: str) -> PaymentConnector:
        """The connector a stored payment went through."""
        return self.connectors[name]

    def connector_for_bank(self, bank: Bank) -> PaymentConnector:
        """The card's bank decides the connector."""
        return self.connectors[SANDBOX_FAMILIES[bank.family].name]

    # ---- the rows the use cases read and write, on a unit of work's session ----

    def payment_store(self, session: Session) -> PaymentStore:
        return SqlPaymentStore(session, self)

    def installment_store(self, session: Session) -> InstallmentStore:
        return SqlInstallmentStore(session, self)

    # ---- who hears what: the use cases that build on others are told, not called by name ----

    def payment_settled(self, session: Session, payment: Payment) -> None:
        """A payment of an installment plan reached its outcome: the plan books it."""
        installment_plans.payment_settled(self, session, payment)

    def fund_purchase_settled(self, session: Session, payment: Payment) -> None:
        """A fund subscription's card debit reached its outcome: the money is in transit to the
        fund, or the order failed."""
        fund_orders.subscription_payment_settled(self, session, payment)

    def installment_from_fund(self, plan: InstallmentPlan, payment_id: str, owed: int, number: int) -> int:
        """A plan paid from a fund: the fund redeems what it can of the installment (a fast
        redemption) and says how much; the plan debits the card for the rest."""
        return fund_orders.pay_installment(self, plan, payment_id, owed, number)

    def checkout_payment_settled(self, session: Session, payment: Payment) -> None:
        """A payment made on a hosted checkout page reached its outcome: a success completes the
        session."""
        checkout.payment_settled(self, session, payment)

    def confirmation_decided(self, payment_id: str, approved: bool, reason: str) -> None:
        """The buyer's device answered: the payment goes on to its bank, or fails."""
        payments.device_answered(self, payment_id, approved, reason)

    def device_consent_withdrawn(self, session: Session, customer: Customer) -> None:
        """A customer withdrew device_usage consent: the credit score forgets their device data
        and scores them again from repayment alone."""
        credit.device_consent_withdrawn(self, session, customer)

    def customer_erased(self, session: Session, customer_id: str) -> None:
        """A customer was erased: every credit record of theirs goes."""
        credit.forget_customer(session, customer_id)
