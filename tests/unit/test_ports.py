"""The composition root meets what every use case says it takes, and no use case reaches for
the composition root itself or for the raw environment the settings were read from (os.environ
itself is the import-rule test's)."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

from gateway.adapters.db.engine import Database
from gateway.adapters.vault import Vault
from gateway.bootstrap import Gateway
from gateway.config import Settings
from gateway.services import (
    checkout, credit, credit_bureau, customers, dashboard, device_confirmations, device_ingest, devices, fund_orders, idempotency,
    installment_plans, merchants, payments, ports, webhooks,
)

SERVICES = Path(payments.__file__).parent
BUNDLES = [
    ports.TransactionsPort, ports.StoragePorts, ports.VaultPorts, ports.BankPorts, ports.SettingsPort,
    payments.PaymentPorts, installment_plans.InstallmentPorts, device_confirmations.RequestPorts, device_confirmations.ConfirmationPorts,
    device_ingest.IngestPorts, devices.DevicePorts, idempotency.IdempotencyPorts, merchants.MerchantPorts, webhooks.WebhookPorts,
    fund_orders.FundPorts,
    customers.CustomerPorts, credit.CreditPorts, credit_bureau.BureauPorts,
    checkout.CheckoutPorts, dashboard.DashboardPorts,
]


@pytest.fixture(scope="module")
def gateway(tmp_path_factory) -> Gateway:
    # An engine is made, never connected to: only the shape of the gateway is looked at.
    settings = Settings(database_url=f"sqlite:///{tmp_path_factory.mktemp('ports') / 'unused.db'}")
    return Gateway(settings=settings, db=Database(settings.database_url),
                   vault=Vault(keys={"v1": b"k" * 32}, active="v1", index_key=b"i" * 32))


@pytest.mark.parametrize("bundle", BUNDLES, ids=lambda bundle: bundle.__name__)
def test_the_composition_root_meets_every_bundle(gateway, bundle):
    assert isinstance(gateway, bundle)


def test_a_locator_missing_a_port_does_not_pass_for_a_bundle(gateway):
    class NoBanks:
        db, clock, vault, settings = gateway.db, gateway.clock, gateway.vault, gateway.settings

    assert isinstance(NoBanks(), ports.VaultPorts) and not isinstance(NoBanks(), payments.PaymentPorts)


@pytest.mark.parametrize("module", sorted(SERVICES.glob("*.py")), ids=lambda path: path.name)
def test_no_service_imports_the_composition_root_or_reads_raw_settings(module):
    tree = ast.parse(module.read_text())
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    imported |= {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    assert "gateway.bootstrap" not in imported
    assert not any(isinstance(node, ast.Attribute) and node.attr == "env" and isinstance(node.value, ast.Attribute)
                   and node.value.attr == "settings" for node in ast.walk(tree))  # gw.settings.env: the raw environment


@pytest.mark.parametrize("module", ["payments", "installment_plans", "device_confirmations"])
def test_the_use_cases_that_build_on_each_other_import_at_the_top(module):
    """Function-level imports hid the cycles payments <-> installment plans and payments <->
    device confirmations; the hooks the composition root wires replace them."""
    tree = ast.parse((SERVICES / f"{module}.py").read_text())
    functions = [node for node in ast.walk(tree) if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))]
    nested = [node for function in functions for node in ast.walk(function) if isinstance(node, (ast.Import, ast.ImportFrom))]
    assert nested == []
