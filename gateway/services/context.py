"""The composition root: everything a use case needs, built once per process from settings."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone

from gateway.adapters.connectors.base import BankDebitConnector
from gateway.adapters.connectors.sandbox_bank import SandboxBank
from gateway.adapters.db.engine import Database
from gateway.adapters.vault import Vault, vault_from_env
from gateway.config import Settings


def system_clock() -> datetime:
    return datetime.now(timezone.utc)


@dataclass
class Gateway:
    settings: Settings
    db: Database
    vault: Vault
    bank: BankDebitConnector
    clock: Callable[[], datetime] = field(default=system_clock)

    @classmethod
    def from_settings(cls, settings: Settings) -> Gateway:
        return cls(
            settings=settings,
            db=Database(settings.database_url, pool_size=settings.db_pool_size),
            vault=vault_from_env(settings.env, settings.vault_key_file),
            bank=SandboxBank(latency_ms=settings.sandbox_latency_ms),
        )

    def connector(self, name: str) -> BankDebitConnector:
        """The connector a stored payment went through (one today; one per bank family later)."""
        if name != self.bank.name:
            raise LookupError(f"no connector named {name!r}")
        return self.bank
