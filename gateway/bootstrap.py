"""The composition root: everything a use case needs, built once per process from settings."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone

from gateway.adapters.connectors.baihang_like import BaihangLikeSandbox
from gateway.adapters.connectors.bureau import CreditBureau
from gateway.adapters.connectors import SANDBOX_FAMILIES, SANDBOX_WALLETS
from gateway.adapters.connectors.base import PaymentConnector
from gateway.adapters.db.engine import Database
from gateway.adapters.vault import Vault, vault_from_env
from gateway.config import Settings
from gateway.domain.banks import Bank
from gateway.domain.credit.limits import LimitPolicy


def system_clock() -> datetime:
    return datetime.now(timezone.utc)


@dataclass
class Gateway:
    settings: Settings
    db: Database
    vault: Vault
    clock: Callable[[], datetime] = field(default=system_clock)
    # connector name -> connector; built from the bank families unless given
    connectors: dict[str, PaymentConnector] = field(default_factory=dict)
    # The licensed bureau asked for external credit reports (a sandbox until one is contracted).
    credit_bureau: CreditBureau = field(default_factory=BaihangLikeSandbox)

    def __post_init__(self) -> None:
        LimitPolicy.parse(self.settings.credit_limit_policy)  # a bad policy stops the start, not a plan request
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
                self.connectors[connector.name] = connector
            for wallet_class in SANDBOX_WALLETS.values():
                wallet = wallet_class(self.db, lambda: self.clock(), self.settings.sandbox_latency_ms)
                self.connectors[wallet.name] = wallet

    @property
    def wallets(self) -> dict[str, PaymentConnector]:
        """Wallet provider name (as merchants ask for it) -> its connector."""
        return {provider: self.connectors[cls.name] for provider, cls in SANDBOX_WALLETS.items()}

    @classmethod
    def from_settings(cls, settings: Settings) -> Gateway:
        return cls(
            settings=settings,
            db=Database(settings.database_url, pool_size=settings.db_pool_size),
            vault=vault_from_env(settings.env, settings.vault_key_file),
        )

    def connector(self, name: str) -> PaymentConnector:
        """The connector a stored payment went through."""
        return self.connectors[name]

    def connector_for_bank(self, bank: Bank) -> PaymentConnector:
        """The card's bank decides the connector."""
        return self.connectors[SANDBOX_FAMILIES[bank.family].name]
