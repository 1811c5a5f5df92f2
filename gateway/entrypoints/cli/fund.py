"""`paygate fund`: import the manager's daily income file, accrue a day, reconcile a day."""
from __future__ import annotations

import sys
from pathlib import Path

import click

from gateway.config import Settings


def _gateway():
    from gateway.bootstrap import Gateway

    return Gateway.from_settings(Settings.load())


def _merchant_of(gw, fund_id: str) -> str:
    from gateway.services.funds import merchant_of_fund

    return merchant_of_fund(gw, fund_id)


@click.group()
def fund() -> None:
    """Money-market fund operations (docs/fund.md)."""


@fund.command("import")
@click.argument("fund_id")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def fund_import(fund_id: str, file: Path) -> None:
    """Import the manager's signed daily file: one line per natural day,
    `date,income_per_10k,signature`. All or nothing: one bad line refuses the file."""
    from gateway.domain.errors import DomainError
    from gateway.services.funds import parse_feed_file, record_income

    gw = _gateway()
    try:
        result = record_income(gw, _merchant_of(gw, fund_id), fund_id, parse_feed_file(file.read_text()))
    except DomainError as refused:
        click.echo(f"refused ({refused.code}): {refused.message}", err=True)
        sys.exit(1)
    click.echo(f"{len(result.recorded)} day(s) recorded, {len(result.unchanged)} already known")


@fund.command("accrue")
@click.option("--date", "day", required=True, type=click.DateTime(formats=["%Y-%m-%d"]), help="Accrue up to this natural day (Beijing).")
@click.option("--fund", "fund_id", default=None, help="Only this fund.")
def fund_accrue(day, fund_id: str | None) -> None:
    """Credit holders' income for every day up to DATE whose figure arrived, in order. Runs each
    day once, also beside workers and after a crash (it resumes)."""
    from gateway.domain.errors import DomainError
    from gateway.entrypoints.cli.progress import progress
    from gateway.services.fund_accrual import accrue

    try:
        with progress(f"accruing fund days up to {day.date()}") as advance:
            views = accrue(_gateway(), day.date(), fund_id, advance=advance)
    except DomainError as refused:
        click.echo(f"refused ({refused.code}): {refused.message}", err=True)
        sys.exit(1)
    for view in views:
        click.echo(f"{view.fund} {view.day} R={view.income_per_10k}: {view.status}, {view.holders} holders, "
                   f"declared {view.declared}, credited {view.credited}, rounding {view.remainder}")
    if not views:
        click.echo(f"nothing to accrue up to {day.date()}: every day with a figure is done")


@fund.command("reconcile")
@click.option("--date", "day", required=True, type=click.DateTime(formats=["%Y-%m-%d"]), help="The natural day (Beijing).")
def fund_reconcile(day) -> None:
    """Check each fund's day against the manager's figure: declared = credited + rounding, the
    per-holder records and the ledger entry. Exits 1 on any mismatch."""
    from gateway.services.fund_accrual import reconcile

    lines = reconcile(_gateway(), day.date())
    if not lines:
        click.echo(f"no fund's feed had begun by {day.date()}: nothing to reconcile")
    for line in lines:
        status = "ok" if line.ok else "MISMATCH"
        click.echo(f"{status:<8} {line.fund} ({line.code}) {line.day} R={line.income_per_10k} holders={line.holders} "
                   f"declared={line.declared} credited={line.credited} rounding={line.rounding}")
        for problem in line.problems:
            click.echo(f"         {problem}", err=True)
    if any(not line.ok for line in lines):
        sys.exit(1)
