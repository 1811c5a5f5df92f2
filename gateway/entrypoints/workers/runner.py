"""The worker loop behind `paygate worker`: one process runs every registered queue (or the named
ones) in turn, again at once while there is work, and every `interval` seconds once there is none.
Several processes may run the same queues: each queue claims its jobs with row locks."""
from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable, Sequence

from gateway.bootstrap import Gateway
from gateway.entrypoints.workers import QUEUES, load
from gateway.observability.metrics import QUEUE_AGE, QUEUE_DEPTH
from gateway.services.queue_backlog import BACKLOGS

# How often a worker measures its queues' backlog (one aggregate query per queue).
BACKLOG_EVERY_SECONDS = 15.0

log = logging.getLogger(__name__)


class UnknownQueue(ValueError):
    pass


def resolve(names: Sequence[str] | None) -> list[tuple[str, Callable[[Gateway], int]]]:
    """(name, run_once) for the named queues, or all registered ones."""
    chosen = list(dict.fromkeys(names)) if names else list(QUEUES)
    unknown = [name for name in chosen if name not in QUEUES]
    if unknown:
        raise UnknownQueue(f"unknown queue {', '.join(unknown)}; known: {', '.join(QUEUES)}")
    return [(name, load(name)) for name in chosen]


def run_pass(gw: Gateway, queues: list[tuple[str, Callable[[Gateway], int]]], stop: threading.Event | None = None) -> dict[str, int]:
    """Each queue once; a queue that raises is logged and does not stop the others."""
    done: dict[str, int] = {}
    gw.refresh_clock()  # a sandbox clock moved meanwhile by any process counts from this pass
    for name, run_once in queues:
        if stop is not None and stop.is_set():
            break
        try:
            done[name] = run_once(gw)
        except Exception:
            log.exception("queue %s failed; carrying on", name)
            done[name] = 0
    return done


def run(
    gw: Gateway,
    names: Sequence[str] | None = None,
    *,
    once: bool = False,
    interval: float = 1.0,
    stop: threading.Event | None = None,
) -> int:
    """Run until `stop` is set (or one pass with once=True); returns the number of jobs done."""
    queues = resolve(names)
    stop = stop or threading.Event()
    total = 0
    log.info("worker running queues: %s", ", ".join(name for name, _ in queues))
    measured = float("-inf")
    while not stop.is_set():
        if time.monotonic() - measured >= BACKLOG_EVERY_SECONDS:
            measure_backlog(gw, [name for name, _ in queues])
            measured = time.monotonic()
        done = run_pass(gw, queues, stop)
        total += sum(done.values())
        if once:
            break
        if not any(done.values()):
            stop.wait(interval)
    return total


def measure_backlog(gw: Gateway, names: Sequence[str]) -> None:
    """Set paygate_queue_depth and paygate_queue_oldest_age_seconds for these queues."""
    for name in names:
        backlog = BACKLOGS.get(name)
        if backlog is None:
            continue
        try:
            measured = backlog(gw)
        except Exception:
            log.exception("measuring queue %s failed; carrying on", name)
            continue
        QUEUE_DEPTH.labels(name).set(measured.depth)
        QUEUE_AGE.labels(name).set(measured.oldest_age_seconds)


def stop_on_signals(stop: threading.Event) -> None:
    """SIGTERM and SIGINT end the loop after the job in hand (main thread only)."""

    def handler(signum, _frame):
        log.info("signal %s: stopping after the current job", signum)
        stop.set()

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, handler)
