"""A deployment per fault test: its own migrated PostgreSQL database, an in-process gateway on
the same database for set-up (the sandbox clock moved to a Beijing noon, so no bank is in its
maintenance window), and the settings the real processes get."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from gateway.adapters.db.sandbox_clock import system_clock
from gateway.adapters.db.schema import upgrade
from gateway.bootstrap import Gateway
from gateway.services.sandbox import advance_clock
from tests.integration.conftest import Shop, make_gateway
from tests.support import services
from tests.support.books import Books
from tests.support.processes import ledger_verify, next_banking_noon, paygate_env


@dataclass
class Deployment:
    url: str
    var_dir: Path
    gw: Gateway
    shop: Shop
    books: Books

    def env(self, **settings: str) -> dict[str, str]:
        return paygate_env(self.url, self.var_dir, **{"sandbox_latency_ms": "0", **settings})

    def assert_books_clean(self) -> None:
        """Nothing debited or refunded twice, and `paygate ledger verify` says the ledger is sound."""
        assert self.books.nothing_done_twice() == []
        clean, report = ledger_verify(self.env())
        assert clean, report


def open_deployment(url: str, var_dir: Path) -> Deployment:
    gw = make_gateway(url, var_dir, base_clock=system_clock)
    advance_clock(gw.sandbox_clock, next_banking_noon(gw.clock()))
    return Deployment(url, var_dir, gw, Shop(gw, "Fault Shop"), Books(url))


@pytest.fixture
def deployment(postgres_admin_url, tmp_path):
    url = services.create_database(postgres_admin_url)
    upgrade(url)
    deployed = open_deployment(url, tmp_path / "var")
    yield deployed
    deployed.books.close()
    deployed.gw.db.dispose()
    services.drop_database(postgres_admin_url, url)
