"""gunicorn's configuration under `paygate serve` (`-c python:gateway.entrypoints.gunicorn_conf`).

gunicorn reads this module's lowercase globals as its settings: keep helpers underscored.
- Its own log lines (boot, worker exits, timeouts) go through the same structlog formatting as
  ours (PAYGATE_LOG_FORMAT), on stderr; its access log stays off: the app writes one line per
  request with the request id, merchant and duration (entrypoints/api/observability.py).
- when_ready: says where to sign in to the dashboard, once the sockets are bound.
- child_exit: a dead worker's live gauges leave the shared metrics directory
  (prometheus-client's multiprocess mode; `paygate serve` sets PROMETHEUS_MULTIPROC_DIR).
"""
from __future__ import annotations

import os as _os

_HANDLER = {"class": "logging.StreamHandler", "formatter": "paygate", "stream": "ext://sys.stderr"}

logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    # The app adds its own root handler (gateway.observability.logs.configure).
    "root": {"level": "INFO", "handlers": []},
    "loggers": {
        "gunicorn.error": {"level": "INFO", "handlers": ["console"], "propagate": False, "qualname": "gunicorn.error"},
        "gunicorn.access": {"level": "INFO", "handlers": [], "propagate": False, "qualname": "gunicorn.access"},
    },
    "handlers": {"console": _HANDLER, "error_console": _HANDLER},
    "formatters": {"paygate": {"()": "gateway.observability.logs.formatter_from_env"}},
}


def when_ready(server) -> None:
    for listener in server.LISTENERS:  # str() is the address gunicorn bound, e.g. http://127.0.0.1:8000
        server.log.info("dashboard sign-in at %s/dashboard/sign-in (create a user with `paygate user create`)", listener)


def child_exit(server, worker) -> None:
    if _os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
