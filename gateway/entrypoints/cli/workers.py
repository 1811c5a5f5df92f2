"""`paygate worker` (background queues) and `paygate settlement run` (daily settlement files)."""
from __future__ import annotations

import sys
import threading
from pathlib import Path

import click

from gateway.config import Settings

metrics_port_option = click.option(
    "--metrics-port", type=int, default=None,
    help="Serve this process's Prometheus metrics on http://0.0.0.0:PORT/metrics (default: none).")


def start_observability(metrics_port: int | None) -> None:
    """Log lines as PAYGATE_LOG_FORMAT says (JSON by default), and metrics on their own port."""
    from gateway.observability import logs, metrics

    settings = Settings.load()
    logs.configure(settings.log_format, settings.log_level)
    if metrics_port is not None:
        metrics.serve(metrics_port)


def _gateway():
    from gateway.bootstrap import Gateway

    return Gateway.from_settings(Settings.load())


@click.command()
@click.option("--queue", "queues", multiple=True, metavar="NAME", help="Run only this queue (repeatable); default: all.")
@click.option("--once", is_flag=True, help="One pass over the queues, then exit.")
@click.option("--interval", default=1.0, show_default=True, type=float, help="Seconds to sleep when no queue had work.")
@metrics_port_option
def worker(queues: tuple[str, ...], once: bool, interval: float, metrics_port: int | None) -> None:
    """Run background queues (webhooks, maintenance, ...). Run as many as you like at once."""
    from gateway.entrypoints.workers import QUEUES
    from gateway.entrypoints.workers.runner import UnknownQueue, resolve, run, stop_on_signals

    from gateway.entrypoints.cli import require_migrated

    start_observability(metrics_port)
    require_migrated(Settings.load().database_url)
    try:
        resolve(queues)
    except UnknownQueue as exc:
        raise click.BadParameter(str(exc), param_hint="--queue") from None
    stop = threading.Event()
    if not once:
        stop_on_signals(stop)
    done = run(_gateway(), queues, once=once, interval=interval, stop=stop)
    click.echo(f"worker done: {done} jobs ({', '.join(queues or QUEUES)})")


@click.group()
def settlement() -> None:
    """Daily settlement files per merchant."""


@settlement.command("run")
@click.option("--date", "day", required=True, type=click.DateTime(formats=["%Y-%m-%d"]), help="The Beijing (UTC+8) day, YYYY-MM-DD.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=None, help="Directory for the CSVs [default: <var>/settlement].")
@click.option("--merchant", "merchants", multiple=True, metavar="ID", help="Only this merchant (repeatable).")
def settlement_run(day, out_dir: Path | None, merchants: tuple[str, ...]) -> None:
    """Write one CSV per merchant of the day's captures, refunds and fees; check each against the
    merchant's ledger balance. Exits 1 if any merchant does not match."""
    from gateway.entrypoints.cli.progress import progress
    from gateway.services.settlement import run

    gw = _gateway()
    day = day.date()
    out_dir = out_dir or gw.settings.var_dir / "settlement"
    with progress(f"settling {day.isoformat()}") as advance:
        settlements = run(gw, day, out_dir, list(merchants) or None, advance)
    if not settlements:
        click.echo(f"no merchant ledger activity on {day.isoformat()} (Beijing time)")
    mismatches = 0
    for result in settlements:
        for problem in result.problems:
            click.echo(f"MISMATCH {result.merchant_id}: {problem}", err=True)
        if not result.checks and not result.problems:
            click.echo(f"ok       {result.merchant_id} no ledger activity {result.path}")
        for check in result.checks.values():
            status = "ok" if check.ok else "MISMATCH"
            click.echo(
                f"{status:<8} {result.merchant_id} {check.currency} rows={len(result.rows)} net={check.net} "
                f"ledger {check.opening} -> {check.closing} (movement {check.movement}) {result.path}"
            )
        mismatches += not result.ok
    if mismatches:
        click.echo(f"{mismatches} merchant(s) do not match their ledger balance", err=True)
        sys.exit(1)
