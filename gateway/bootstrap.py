"""The composition root: everything a use case needs, built once per process from settings."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.orm import Session

from gateway.adapters.connectors import SANDBOX_FAMILIES, SANDBOX_WALLETS
from gateway.adapters.connectors.base import PaymentConnector
from gateway.adapters.connectors.timed import TimedConnector
from gateway.adapters.db.engine import Database
from gateway.adapters.db.models import Payment
from gateway.adapters.db.sandbox_clock import SandboxClock, system_clock
from gateway.adapters.vault import Vault, vault_from_env
from gateway.config import Settings
from gateway.domain.banks import Bank
from gateway.services import installment_plans, payments
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

    def __post_init__(self) -> None:
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

    def confirmation_decided(self, payment_id: str, approved: bool, reason: str) -> None:
        """The buyer's device answered: the payment goes on to its bank, or fails."""
        payments.device_answered(self, payment_id, approved, reason)
