"""The gateway's own processes (`paygate serve`, `paygate worker`, `paygate ingest`) run as an
operator runs them, for the fault tests and bench/scaleout.py: started with a clean PAYGATE_*
environment, their output in a log file, stopped politely or killed with SIGKILL."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path

from gateway.domain.clock import BEIJING

REPO = Path(__file__).resolve().parents[2]
PAYGATE = [sys.executable, "-m", "gateway.entrypoints.cli"]


def paygate_env(database_url: str, var_dir: Path, **settings: str) -> dict[str, str]:
    """This environment without any PAYGATE_* of the caller's, plus these settings
    (`sandbox_latency_ms="50"` becomes PAYGATE_SANDBOX_LATENCY_MS=50)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAYGATE_") and k != "PROMETHEUS_MULTIPROC_DIR"}
    env.update({"PAYGATE_DATABASE_URL": database_url, "PAYGATE_VAR_DIR": str(var_dir), "PAYGATE_SANDBOX_ENDPOINTS": "1",
                "PYTHONPATH": str(REPO)})
    env.update({f"PAYGATE_{name.upper()}": str(value) for name, value in settings.items()})
    return env


def paygate(*args: str, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([*PAYGATE, *args], env=env, capture_output=True, text=True, timeout=timeout, cwd=REPO)


def ledger_verify(env: dict[str, str]) -> tuple[bool, str]:
    """`paygate ledger verify` as an operator runs it: (clean, what it printed)."""
    result = paygate("ledger", "verify", env=env)
    return result.returncode == 0, result.stdout + result.stderr


class Process:
    """One long-running paygate command; its stdout and stderr go to `log`."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path) -> None:
        self.args, self.env, self.log = args, env, log
        self.popen: subprocess.Popen | None = None

    def start(self) -> Process:
        with open(self.log, "ab") as out:
            self.popen = subprocess.Popen([*PAYGATE, *self.args], env=self.env, stdout=out, stderr=subprocess.STDOUT,
                                          stdin=subprocess.DEVNULL, cwd=REPO)
        return self

    @property
    def pid(self) -> int:
        assert self.popen is not None
        return self.popen.pid

    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def kill9(self) -> None:
        """SIGKILL to the process and (gunicorn) its children: no handler, no cleanup, no goodbye."""
        assert self.popen is not None
        for child in children(self.popen.pid):
            _signal(child, signal.SIGKILL)
        self.popen.kill()
        self.popen.wait(timeout=10)

    def stop(self, timeout: float = 20) -> None:
        if not self.running():
            return
        self.popen.send_signal(signal.SIGTERM)
        try:
            self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill9()

    def tail(self, lines: int = 40) -> str:
        try:
            return "".join(self.log.read_text(errors="replace").splitlines(keepends=True)[-lines:])
        except OSError:
            return ""


def children(pid: int) -> list[int]:
    """Direct children of a process (Linux /proc), e.g. gunicorn's workers."""
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(child) for child in (task / "children").read_text().split()]
        except OSError:
            pass
    return found


def _signal(pid: int, signum: int) -> None:
    try:
        os.kill(pid, signum)
    except ProcessLookupError:
        pass


def wait_for(condition: Callable[[], object], timeout: float = 30, interval: float = 0.05, what: str = "condition",
             diagnose: Callable[[], str] = lambda: ""):
    """Poll `condition` until it returns something true (returned), or fail saying `what`."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}\n{diagnose()}")
        time.sleep(interval)


def http(method: str, url: str, key: str | None = None, body: dict | None = None, *, idempotency_key: str | None = None,
         timeout: float = 15) -> tuple[int, dict, dict]:
    """(status, headers, JSON body) of one request; HTTP errors are answers too, not exceptions."""
    headers = {"Content-Type": "application/json", "Connection": "close"}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    if idempotency_key:
        headers["Idempotency-Key"] = idempotency_key
    request = urllib.request.Request(url, json.dumps(body).encode() if body is not None else None, headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, dict(response.headers), json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as error:
        payload = error.read()
        try:
            parsed = json.loads(payload or b"{}")
        except ValueError:
            parsed = {"raw": payload.decode(errors="replace")}
        return error.code, dict(error.headers), parsed


def next_banking_noon(now: datetime | None = None) -> datetime:
    """The next noon in Beijing: every sandbox bank is open then (their maintenance windows are
    around midnight), so a run that moves the sandbox clock there never meets one."""
    now = now or datetime.now(timezone.utc)
    local = now.astimezone(BEIJING)
    noon = local.replace(hour=12, minute=0, second=0, microsecond=0)
    if noon <= local:
        noon += timedelta(days=1)
    return noon.astimezone(timezone.utc)
