"""`paygate credit`: simulate a population, train, promote, list models, review contests."""
from __future__ import annotations

import re
import sys
from contextlib import contextmanager

import click

from gateway.config import Settings
from gateway.entrypoints.cli.progress import progress


@contextmanager
def _gateway():
    """The gateway for one command, its connections closed when the command ends (commands also
    run inside other processes: the demo, the tests)."""
    from gateway.bootstrap import Gateway

    gw = Gateway.from_settings(Settings.load())
    try:
        yield gw
    finally:
        gw.db.dispose()


def label_window_days(text: str) -> int:
    """'6m' -> 183, '90d' -> 90, '1y' -> 365: months are 365.25 / 12 days, rounded.

    >>> label_window_days("6m"), label_window_days("90d"), label_window_days("1y")
    (183, 90, 365)
    """
    match = re.fullmatch(r"\s*(\d+)\s*([dmy])\s*", text.lower())
    if not match or int(match.group(1)) == 0:
        raise click.BadParameter("use a number of days, months or years: 90d, 6m, 1y", param_hint="--label-window")
    count, unit = int(match.group(1)), match.group(2)
    return count if unit == "d" else round(count * 365.25 / 12) if unit == "m" else round(count * 365.25 - 0.25)


@click.group()
def credit() -> None:
    """The credit score: training data, model versions, contests."""


@credit.command("simulate")
@click.option("--customers", default=20_000, show_default=True, type=click.IntRange(min=1))
@click.option("--seed", default=11, show_default=True, type=int)
def simulate(customers: int, seed: int) -> None:
    """Replace the simulated training examples with a synthetic population (docs/credit.md)."""
    from gateway.services.credit_models import load_simulation

    with _gateway() as gw, progress("simulating applicants", total=customers) as advance:
        count = load_simulation(gw, customers, seed, advance)
    click.echo(f"simulated {count} applicants (seed {seed})")


@credit.command("train")
@click.option("--label-window", default="6m", show_default=True, help="Bad: 30+ days past due within this long of the plan's start.")
@click.option("--model", "models", multiple=True, type=click.Choice(["device+repayment", "repayment_only"]), help="Default: both.")
def train(label_window: str, models: tuple[str, ...]) -> None:
    """Train, validate on a time-based holdout and store candidate versions; prints the figures."""
    from gateway.domain.errors import DomainError
    from gateway.services.credit_models import train as train_models

    days = label_window_days(label_window)
    try:
        chosen = models or ("device+repayment", "repayment_only")
        with _gateway() as gw, progress("training models", total=len(chosen)) as advance:
            trained = train_models(gw, days, chosen, advance)
    except ModuleNotFoundError as missing:
        raise click.ClickException(f"training needs the credit extra ({missing.name} is missing): pip install 'paygate[credit]'") from None
    except (DomainError, RuntimeError) as exc:  # too few outcomes; optbinning could not fit
        raise click.ClickException(str(exc)) from None
    for view in trained:
        _print_model(view)


@credit.command("promote")
@click.argument("version")
def promote(version: str) -> None:
    """Make VERSION live if it beats the live version of its model on its holdout."""
    from gateway.domain.errors import DomainError
    from gateway.services.credit_models import promote as promote_version

    try:
        with _gateway() as gw:
            done = promote_version(gw, version)
    except DomainError as exc:
        raise click.ClickException(exc.message) from None
    was = f"; {done.retired.version} retired (AUC {done.live_auc} on the same holdout)" if done.retired else ""
    click.echo(f"{done.promoted.version} is live for {done.promoted.model} (AUC {done.candidate_auc}){was}")


@credit.command("models")
def models() -> None:
    """Every model version, newest first, with its figures."""
    from gateway.services.credit_models import list_models

    with _gateway() as gw:
        views = list_models(gw)
    for view in views:
        _print_model(view)


@credit.group("contests", invoke_without_command=True)
@click.option("--all", "show_all", is_flag=True, help="Resolved ones too.")
@click.pass_context
def contests(ctx: click.Context, show_all: bool) -> None:
    """List open contests; `paygate credit contests resolve ID` decides one."""
    if ctx.invoked_subcommand is not None:
        return
    from gateway.services.credit import list_contests

    with _gateway() as gw:
        found = list_contests(gw, None if show_all else "open")
    for contest in found:
        click.echo(f"{contest.id} {contest.state:<9} customer {contest.customer_id} score {contest.score} ({contest.model_version}) "
                   f"{contest.created_at:%Y-%m-%d %H:%M}: {contest.reason}")
    click.echo(f"{len(found)} {'contests' if show_all else 'open'}")


@contests.command("resolve")
@click.argument("contest_id")
@click.option("--decision", required=True, type=click.Choice(["upheld", "corrected"]))
@click.option("--note", required=True, help="What was checked, for the customer and the audit.")
def resolve(contest_id: str, decision: str, note: str) -> None:
    """Decide a contest: upheld, or corrected (the customer is scored again now)."""
    from gateway.domain.errors import DomainError
    from gateway.services.credit import resolve_contest

    try:
        with _gateway() as gw:
            contest = resolve_contest(gw, contest_id, decision, note)
    except DomainError as exc:
        raise click.ClickException(exc.message) from None
    click.echo(f"{contest.id} {contest.state}")


def _print_model(view) -> None:
    metrics = view.metrics
    click.echo(f"{view.version} {view.model} {view.state}: AUC {metrics.get('auc')} KS {metrics.get('ks')} Gini {metrics.get('gini')} "
               f"on {metrics.get('holdout_rows')} holdout examples ({metrics.get('holdout_from')} .. {metrics.get('holdout_to')}), "
               f"trained on {metrics.get('training_rows')}, label window {metrics.get('label_window_days')} days")
    for band in metrics.get("calibration", []):
        click.echo(f"  band {band['band']}: {band['count']} examples, bad rate {band['observed_bad_rate']} observed, {band['expected_bad_rate']} expected")
    psi = metrics.get("psi", {})
    if psi:
        click.echo("  PSI (training vs last 30 days): " + ", ".join(f"{name} {value}" for name, value in sorted(psi.items())))
    sys.stdout.flush()

