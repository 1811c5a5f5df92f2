"""The `paygate` command: serve, db, merchant, ledger, vault, credit, demo."""
from __future__ import annotations

import json
import os
import re
import shutil
import sys
from decimal import Decimal
from pathlib import Path

import click

from gateway.config import Settings


def _gateway():
    from gateway.bootstrap import Gateway

    return Gateway.from_settings(Settings.load())


NOT_MIGRATED = "database not migrated: run paygate db upgrade"


def schema_missing(exc: BaseException | None) -> bool:
    """True if the error (or one it came from) says a table does not exist: the database was
    never migrated (SQLite: "no such table"; PostgreSQL: SQLSTATE 42P01 undefined_table)."""
    from sqlalchemy.exc import DBAPIError

    while exc is not None:
        if isinstance(exc, DBAPIError):
            if getattr(exc.orig, "sqlstate", None) == "42P01" or "no such table" in str(exc.orig):
                return True
        exc = exc.__cause__ or exc.__context__
    return False


def require_migrated(database_url: str) -> None:
    """For long-running commands, which would otherwise start and fail on every request or job:
    stop at once with the one-line error."""
    from gateway.adapters.db.engine import make_engine
    from gateway.adapters.db.schema import migrated

    engine = make_engine(database_url, pool_size=1)
    try:
        ready = migrated(engine)
    finally:
        engine.dispose()
    if not ready:
        click.echo(NOT_MIGRATED, err=True)
        sys.exit(2)


class PaygateGroup(click.Group):
    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except Exception as exc:
            if schema_missing(exc):
                click.echo(NOT_MIGRATED, err=True)
                ctx.exit(2)
            raise


@click.group(cls=PaygateGroup)
def main() -> None:
    """paygate: payment and installment gateway.

    Settings come from PAYGATE_* environment variables (docs/operations.md); every local file
    (the default SQLite database, development keys, the demo's PKI) lives under PAYGATE_VAR_DIR."""


@main.command()
@click.option("--bind", default="127.0.0.1:8000", show_default=True)
@click.option("--workers", default=2, show_default=True, type=int)
def serve(bind: str, workers: int) -> None:
    """Run the REST API, the hosted checkout and the dashboard under gunicorn: JSON log lines on
    stderr (PAYGATE_LOG_FORMAT=console for humans), the dashboard's sign-in address among them,
    GET /metrics summed over all workers."""
    require_migrated(Settings.load().database_url)
    env = dict(os.environ)
    # prometheus-client's multiprocess mode: one directory per gunicorn master, named before
    # gunicorn starts so that every worker inherits it, and emptied of an earlier run's samples
    # (they would be counted again).
    if env.get("PROMETHEUS_MULTIPROC_DIR"):
        metrics_dir = Path(env["PROMETHEUS_MULTIPROC_DIR"]).resolve()
        metrics_dir.mkdir(parents=True, exist_ok=True)
        for stale in metrics_dir.glob("*.db"):
            stale.unlink()
    else:
        metrics_dir = (Settings.load().var_dir / "metrics" / re.sub(r"[^\w.-]", "_", bind)).resolve()
        shutil.rmtree(metrics_dir, ignore_errors=True)
        metrics_dir.mkdir(parents=True)
    env["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
    os.execvpe(
        sys.executable,
        [sys.executable, "-m", "gunicorn", "--config", "python:gateway.entrypoints.gunicorn_conf",
         "--bind", bind, "--workers", str(workers), "gateway.app:create_app()"],
        env,
    )


@main.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Apply all migrations to PAYGATE_DATABASE_URL."""
    settings = Settings.load()
    upgrade_database(settings)
    click.echo(f"database at head: {settings.database_url.split('@')[-1]}")


def upgrade_database(settings: Settings) -> None:
    from gateway.adapters.db.schema import upgrade

    upgrade(settings.database_url)


@main.group()
def merchant() -> None:
    """Merchants and API keys."""


@merchant.command("create")
@click.argument("name")
@click.option("--discount-rate", type=Decimal, default=None, help="Fee share of each capture, e.g. 0.006.")
def merchant_create(name: str, discount_rate: Decimal | None) -> None:
    """Create a merchant; prints its id and keys as JSON (the keys are shown only once)."""
    click.echo(json.dumps(new_merchant(_gateway(), name, discount_rate)))


def new_merchant(gw, name: str, discount_rate: Decimal | None = None) -> dict[str, str]:
    """A merchant's id, secret key and publishable key (the keys exist only in this answer)."""
    from gateway.services.merchants import create_merchant

    created = create_merchant(gw, name, discount_rate)
    return {"id": created.id, "secret_key": created.secret_key, "publishable_key": created.publishable_key}


@main.group()
def ledger() -> None:
    """The double-entry ledger."""


@ledger.command("verify")
def ledger_verify() -> None:
    """Exit 0 only if every transaction balances and every balance equals its postings."""
    if not report_ledger(_gateway(), lambda line: click.echo(line, err=line.startswith("FAIL"))):
        sys.exit(1)


def report_ledger(gw, out) -> bool:
    """What `paygate ledger verify` prints, line by line to `out`; True if the ledger is sound."""
    from gateway.services.ledger import verify

    report = verify(gw)
    for problem in report.problems:
        out(f"FAIL {problem}")
    if report.ok:
        out(f"ledger ok: {report.transactions} transactions balance; every account equals its postings")
    return report.ok


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


@vault.command("new-keys")
def vault_new_keys() -> None:
    """Print fresh PAYGATE_VAULT_KEYS and PAYGATE_INDEX_KEY lines (for a secret store or the
    .env docker compose reads). Keep them: data encrypted under them is lost without them."""
    from gateway.adapters.vault import new_production_keys

    for name, value in new_production_keys().items():
        click.echo(f"{name}={value}")


@vault.command("reencrypt")
def vault_reencrypt() -> None:
    """Re-encrypt every stored ciphertext under the active key."""
    _reencrypt()


def _reencrypt() -> None:
    from gateway.entrypoints.cli.progress import progress
    from gateway.services.vault_rotation import protected_rows, reencrypt_all

    gw = _gateway()
    with progress("re-encrypting", total=protected_rows(gw)) as advance:
        count = reencrypt_all(gw, advance)
    click.echo(f"re-encrypted {count} records")


@main.command()
def demo() -> None:
    """Run the demo on embedded defaults: a SQLite file under ./var, nothing else started."""
    from gateway.demo import run_demo

    sys.exit(run_demo())


# Device CA and MQTT ingest live in their own module.
from gateway.entrypoints.cli.devices import certs, ingest  # noqa: E402

main.add_command(certs)
main.add_command(ingest)

# Background workers and daily settlement live in their own module.
from gateway.entrypoints.cli.workers import settlement, worker  # noqa: E402

main.add_command(worker)
main.add_command(settlement)

# The money-market fund (issue 10) lives in its own module.
from gateway.entrypoints.cli.fund import fund  # noqa: E402

main.add_command(fund)
# The credit score: simulate, train, promote, models, contests.
from gateway.entrypoints.cli.credit import credit  # noqa: E402

main.add_command(credit)
# Dashboard users (issue 12).
from gateway.entrypoints.cli.users import user  # noqa: E402

main.add_command(user)


if __name__ == "__main__":
    main()
