"""Background queues run by `paygate worker`.

A queue is a function `run_once(gw) -> int` that does one batch of due jobs and returns how many
it did (0: nothing due). It must be safe to run in several processes at once: claim jobs with row
locks (SELECT ... FOR UPDATE SKIP LOCKED) or make them idempotent. To add a queue, add one line
below: its name and "module:function" (imported only when the queue runs).
"""
from __future__ import annotations

import importlib
from collections.abc import Callable

QUEUES: dict[str, str] = {
    "webhooks": "gateway.entrypoints.workers.webhooks:run_once",
    "maintenance": "gateway.entrypoints.workers.maintenance:run_once",
    "reconciliation": "gateway.entrypoints.workers.reconciliation:run_once",
    "installments": "gateway.entrypoints.workers.installments:run_once",
    "confirmations": "gateway.entrypoints.workers.confirmations:run_once",
    "fund": "gateway.entrypoints.workers.fund:run_once",
    "credit": "gateway.entrypoints.workers.credit:run_once",
}


def load(name: str) -> Callable:
    """The run_once function of a registered queue."""
    module, _, function = QUEUES[name].partition(":")
    return getattr(importlib.import_module(module), function)
