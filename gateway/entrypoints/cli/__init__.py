"""The `paygate` command: serve, db, merchant, ledger, vault, demo."""
from __future__ import annotations

import json
import os
import sys
from decimal import Decimal

import click

from gateway.config import Settings


def _gateway():
    from gateway.bootstrap import Gateway

    return Gateway.from_settings(Settings.load())


@click.group()
def main() -> None:
    """paygate: payment and installment gateway."""


@main.command()
@click.option("--bind", default="127.0.0.1:8000", show_default=True)
@click.option("--workers", default=2, show_default=True, type=int)
def serve(bind: str, workers: int) -> None:
    """Run the REST API, the hosted checkout and the dashboard under gunicorn."""
    click.echo(f"paygate: dashboard sign-in at http://{bind}/dashboard/sign-in (create a user with `paygate user create`)", err=True)
    os.execvp(
        sys.executable,
        [sys.executable, "-m", "gunicorn", "--bind", bind, "--workers", str(workers), "gateway.app:create_app()"],
    )


@main.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Apply all migrations to PAYGATE_DATABASE_URL."""
    from gateway.adapters.db.schema import upgrade

    settings = Settings.load()
    upgrade(settings.database_url)
    click.echo(f"database at head: {settings.database_url.split('@')[-1]}")


@main.group()
def merchant() -> None:
    """Merchants and API keys."""


@merchant.command("create")
@click.argument("name")
@click.option("--discount-rate", type=Decimal, default=None, help="Fee share of each capture, e.g. 0.006.")
def merchant_create(name: str, discount_rate: Decimal | None) -> None:
    """Create a merchant; prints its id and keys as JSON (the keys are shown only once)."""
    from gateway.services.merchants import create_merchant

    created = create_merchant(_gateway(), name, discount_rate)
    click.echo(json.dumps({"id": created.id, "secret_key": created.secret_key, "publishable_key": created.publishable_key}))


@main.group()
def ledger() -> None:
    """The double-entry ledger."""


@ledger.command("verify")
def ledger_verify() -> None:
    """Exit 0 only if every transaction balances and every balance equals its postings."""
    from gateway.services.ledger import verify

    report = verify(_gateway())
    for problem in report.problems:
        click.echo(f"FAIL {problem}", err=True)
    if not report.ok:
        sys.exit(1)
    click.echo(f"ledger ok: {report.transactions} transactions balance; every account equals its postings")


@main.group()
def reconciliation() -> None:
    """Payments whose outcome the bank could not tell."""


@reconciliation.command("flagged")
def reconciliation_flagged() -> None:
    """List payments and refunds reconciliation gave up on: an operator must check with the bank."""
    from gateway.services.reconciliation import flagged_payments, flagged_refunds

    gw = _gateway()
    rows = [("payment", p.id, p.merchant_id, p.amount, p.connector, p.flagged_reason) for p in flagged_payments(gw)]
    rows += [("refund", r.id, r.merchant_id, r.amount, r.payment_id, r.flagged_reason) for r in flagged_refunds(gw)]
    for kind, object_id, merchant_id, amount, where, reason in rows:
        click.echo(f"{kind} {object_id} merchant {merchant_id} {amount} fen ({where}): {reason}")
    click.echo(f"{len(rows)} flagged")


@main.group()
def vault() -> None:
    """Encryption keys for card and identity data."""


@vault.command("rotate")
def vault_rotate() -> None:
    """Add a new key version (development key file) and re-encrypt all stored data under it.
    With PAYGATE_VAULT_KEYS, append the new key there yourself and run `paygate vault reencrypt`."""
    from gateway.adapters.vault import DevKeyFile

    settings = Settings.load()
    if settings.env.get("PAYGATE_VAULT_KEYS"):
        raise click.ClickException("keys come from PAYGATE_VAULT_KEYS: append a new key there, then run `paygate vault reencrypt`")
    version = DevKeyFile(settings.vault_key_file).add_key()
    click.echo(f"new active key {version}")
    _reencrypt()


@vault.command("reencrypt")
def vault_reencrypt() -> None:
    """Re-encrypt every stored ciphertext under the active key."""
    _reencrypt()


def _reencrypt() -> None:
    from gateway.services.vault_rotation import reencrypt_all

    count = reencrypt_all(_gateway())
    click.echo(f"re-encrypted {count} records")


@main.command()
def demo() -> None:
    """Run the demo on embedded defaults: a SQLite file under ./var, nothing else started."""
    from gateway.demo import run_demo

    sys.exit(run_demo())


# Device CA and MQTT ingest (issue 5) live in their own module.
from gateway.entrypoints.cli.devices import certs, ingest  # noqa: E402

main.add_command(certs)
main.add_command(ingest)

# Background workers and daily settlement (issue 4) live in their own module.
from gateway.entrypoints.cli.workers import settlement, worker  # noqa: E402

main.add_command(worker)
main.add_command(settlement)

# Dashboard users (issue 12).
from gateway.entrypoints.cli.users import user  # noqa: E402

main.add_command(user)


if __name__ == "__main__":
    main()
