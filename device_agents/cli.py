"""`paygate-agent`: enroll a device, run its agent, show or unlock its installment lock, or
simulate a fleet."""
from __future__ import annotations

import json
import logging
import os
import signal
import threading
import time
import urllib.request
from datetime import datetime, timezone
from pathlib import Path

import click
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from device_agents.agent import Agent, Identity
from device_agents.enroll import EnrollmentError, enroll, http_enroller
from device_agents.fleet import Fleet, enroll_fleet
from device_agents.payg import PaygLock
from device_agents.profiles import profile_for

# Local files live under PAYGATE_VAR_DIR, like the gateway's.
VAR_DIR = os.environ.get("PAYGATE_VAR_DIR") or "var"
DEFAULT_HOME = os.environ.get("PAYGATE_AGENT_HOME") or os.path.join(VAR_DIR, "agent")
gateway_option = click.option("--gateway", "gateway_url", default=lambda: os.environ.get("PAYGATE_GATEWAY_URL", "http://127.0.0.1:8000"),
                              show_default="PAYGATE_GATEWAY_URL or http://127.0.0.1:8000")
key_option = click.option("--api-key", default=lambda: os.environ.get("PAYGATE_API_KEY"), required=True,
                          help="The merchant's secret key (or PAYGATE_API_KEY).")
broker_option = click.option("--broker", "broker_url", default=None,
                             help="Override the broker address the gateway gave at enrollment.")


@click.group()
@click.option("-v", "--verbose", is_flag=True)
def main(verbose: bool) -> None:
    """paygate device agent."""
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s %(message)s")


@main.command("enroll")
@click.option("--home", default=DEFAULT_HOME, show_default=True, help="Where the keys, certificate and outbox live.")
@click.option("--kind", type=click.Choice(["phone", "iot"]), required=True)
@click.option("--model", required=True)
@click.option("--algorithm", type=click.Choice(["EdDSA", "ES256"]), default="EdDSA", show_default=True)
@gateway_option
@key_option
@broker_option
def enroll_command(home: str, kind: str, model: str, algorithm: str, gateway_url: str, api_key: str,
                   broker_url: str | None) -> None:
    """Make this device's keys (they never leave it) and enroll it with the gateway."""
    try:
        device_id = enroll(Path(home), kind, model, http_enroller(gateway_url, api_key), algorithm, broker_url)
    except EnrollmentError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(json.dumps({"device_id": device_id, "home": home}))


@main.command("run")
@click.option("--home", default=DEFAULT_HOME, show_default=True)
@click.option("--interval", default=60.0, show_default=True, help="Seconds between telemetry messages.")
@click.option("--duration", default=None, type=float, help="Stop after this many seconds (default: until SIGTERM).")
@click.option("--auto-approve-limit", default=0, show_default=True, help="iot: approve payments up to this many fen.")
@click.option("--approve-probability", default=None, type=float,
              help="phone: answer prompts at random with this approval rate (otherwise they wait for a user).")
@broker_option
def run_command(home: str, interval: float, duration: float | None, auto_approve_limit: int,
                approve_probability: float | None, broker_url: str | None) -> None:
    """Connect with the device certificate, publish telemetry, answer commands."""
    identity = Identity.load(Path(home))
    agent = Agent(Path(home), profile_for(identity.kind, auto_approve_limit=auto_approve_limit,
                                          approve_probability=approve_probability),
                  telemetry_interval=interval, broker_url=broker_url)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    try:
        stats = agent.run(stop, duration)
    finally:
        agent.close()
    click.echo(json.dumps({"device_id": identity.device_id, **stats.__dict__}))


def device_clock() -> datetime:
    """The device's calendar for its lock."""
    return datetime.now(timezone.utc)


def _identity(home: str) -> Identity:
    try:
        return Identity.load(Path(home))
    except RuntimeError as exc:
        raise click.ClickException(str(exc)) from exc


def lock_status(lock: PaygLock | None) -> dict:
    """`credit_end` is the first locked day, `paid_until` the last usable one (as the plan shows it)."""
    if lock is None:
        return {"state": "unlocked", "locked": False, "payg": False}
    credit_end, paid_until = lock.credit_end, lock.paid_until
    locked = lock.locked()
    return {"state": "locked" if locked else "unlocked", "locked": locked,
            "credit_end": credit_end.isoformat() if credit_end else None,
            "paid_until": paid_until.isoformat() if paid_until else None,
            "unlocked_for_good": lock.unlocked_for_good}


@main.command("status")
@click.option("--home", default=DEFAULT_HOME, show_default=True)
def status_command(home: str) -> None:
    """Whether the device is locked, and until when it is paid (no network needed)."""
    identity = _identity(home)
    click.echo(json.dumps({"device_id": identity.device_id, **lock_status(identity.payg_lock(device_clock))}))


@main.command("token")
@click.option("--home", default=DEFAULT_HOME, show_default=True)
@click.argument("digits", nargs=-1, required=True)
def token_command(home: str, digits: tuple[str, ...]) -> None:
    """Apply an unlock token typed on the keypad (9 digits, spaces allowed), e.g. one from the
    installment plan or an SMS when the device is offline. Works with no network; exits 1 if the
    token is refused (invalid, or already used)."""
    identity = _identity(home)
    lock = identity.payg_lock(device_clock)
    if lock is None:
        raise click.ClickException("this device has no installment lock (enrolled without PAYG credentials)")
    result = lock.enter("".join(digits))
    logging.getLogger("device_agents.agent").info(
        "%s: keypad unlock token %s (%s)", identity.device_id, "accepted" if result.accepted else "refused", result.reason)
    click.echo(json.dumps({"device_id": identity.device_id, "accepted": result.accepted, "reason": result.reason,
                           "days": result.days, **lock_status(lock)}))
    if not result.accepted:
        click.get_current_context().exit(1)


@main.command("simulate")
@click.option("--devices", "count", default=10, show_default=True)
@click.option("--duration", default=30.0, show_default=True, help="Seconds of traffic.")
@click.option("--interval", default=1.0, show_default=True, help="Seconds between telemetry messages per device.")
@click.option("--kind", "kinds", type=click.Choice(["phone", "iot", "mixed"]), default="mixed", show_default=True)
@click.option("--home", default=os.path.join(VAR_DIR, "fleet"), show_default=True,
              help="Holds one agent home per device (reused).")
@click.option("--approve-probability", default=0.9, show_default=True)
@click.option("--auto-approve-limit", default=50_000, show_default=True)
@gateway_option
@key_option
@broker_option
def simulate_command(count: int, duration: float, interval: float, kinds: str, home: str, approve_probability: float,
                     auto_approve_limit: int, gateway_url: str, api_key: str, broker_url: str | None) -> None:
    """Run a fleet of simulated agents against the broker; print sent, acked, stored, rejected."""
    homes = enroll_fleet(Path(home), count, kinds, http_enroller(gateway_url, api_key), broker_url)
    device_ids = [Identity.load(h).device_id for h in homes]
    stored_before, rejected_before = _gateway_counts(gateway_url, api_key, device_ids, expected=0)
    fleet = Fleet(homes, interval=interval, broker_url=broker_url, approve_probability=approve_probability,
                  auto_approve_limit=auto_approve_limit)
    console = Console(stderr=True)
    columns = (TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(), TextColumn("{task.fields[line]}"))
    with Progress(*columns, console=console, disable=not console.is_terminal) as bar:
        task = bar.add_task(f"{count} devices", total=duration, line="")
        summary = fleet.run(duration, on_tick=lambda elapsed: bar.update(task, completed=elapsed, line=_progress_line(fleet)))
        bar.update(task, completed=duration, line=_progress_line(fleet))
    fleet.close()
    stored, rejected = _gateway_counts(gateway_url, api_key, device_ids, expected=(stored_before or 0)
                                       + (rejected_before or 0) + summary.acked)
    if stored is not None:
        summary.stored = stored - (stored_before or 0)
        summary.rejected = rejected - (rejected_before or 0) + summary.refused_by_broker
    click.echo(json.dumps(summary.as_dict()))


def _progress_line(fleet: Fleet) -> str:
    s = fleet.summary()
    return f"sent {s.sent} acked {s.acked} waiting {s.left_in_outboxes}"


def _gateway_counts(gateway_url: str, api_key: str, device_ids: list[str], expected: int,
                    wait: float = 15.0) -> tuple[int | None, int | None]:
    """Stored and rejected message counts the gateway reports for these devices, once ingest has
    caught up with what the broker acknowledged (or `wait` seconds passed)."""
    deadline = time.monotonic() + wait
    while True:
        try:
            devices = [_get_json(f"{gateway_url.rstrip('/')}/v1/devices/{device_id}", api_key) for device_id in device_ids]
        except OSError:
            return None, None
        stored = sum(d["messages_stored"] for d in devices)
        rejected = sum(d["messages_rejected"] for d in devices)
        if stored + rejected >= expected or time.monotonic() > deadline:
            return stored, rejected
        time.sleep(0.5)


def _get_json(url: str, api_key: str) -> dict:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {api_key}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())
