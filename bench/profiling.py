"""Profile the requests to one path in one gunicorn worker (the first to claim it), for
`bench/payments.py --profile`:

- pyinstrument, a sampling profiler that counts wall-clock time, so time spent waiting on
  PostgreSQL (round trips, row locks, commit flushes) shows up as such, at low overhead;
- a tally of what each request sends to the database: SQL statements (count and time), commits
  (time of the COMMIT itself, i.e. the WAL flush) and connection-pool checkouts.

Both are written to <dir> when the worker exits (gunicorn stopped with SIGTERM) and read back
by the bench. pyinstrument is not a project
dependency; install it next to the gateway's: `.venv/bin/pip install pyinstrument`.
"""
from __future__ import annotations

import atexit
import json
import os
import time
from pathlib import Path

from flask import Flask
from sqlalchemy import event
from sqlalchemy.orm import Session


class SqlTally:
    def __init__(self, engine) -> None:
        self.active = False
        self.requests = 0
        self.checkouts = 0
        self.statements: dict[str, list] = {}  # first 70 chars of the SQL -> [count, seconds]
        self._started: dict[int, float] = {}
        event.listen(engine, "before_cursor_execute", self._before)
        event.listen(engine, "after_cursor_execute", self._after)
        event.listen(engine, "commit", self._before_commit)
        event.listen(Session, "after_commit", self._after_commit)
        event.listen(engine.pool, "checkout", self._checkout)

    def _before(self, conn, cursor, statement, *args) -> None:
        self._started[id(conn)] = time.perf_counter()

    def _after(self, conn, cursor, statement, *args) -> None:
        self._add(" ".join(statement.split())[:70], time.perf_counter() - self._started.pop(id(conn)))

    def _before_commit(self, conn) -> None:
        self._started[-1] = time.perf_counter()

    def _after_commit(self, session) -> None:
        if -1 in self._started:
            self._add("COMMIT", time.perf_counter() - self._started.pop(-1))

    def _checkout(self, *args) -> None:
        if self.active:
            self.checkouts += 1

    def _add(self, key: str, seconds: float) -> None:
        if self.active:
            entry = self.statements.setdefault(key, [0, 0.0])
            entry[0] += 1
            entry[1] += seconds

    def as_dict(self) -> dict:
        return {"requests": self.requests, "checkouts": self.checkouts, "statements": self.statements}


def profile_one_worker(app: Flask, directory: str, path: str) -> None:
    from pyinstrument import Profiler

    out = Path(directory)
    inner = app.wsgi_app
    state: dict = {"mine": None}

    def claim() -> bool:
        if state["mine"] is None:
            try:
                os.close(os.open(out / "claimed", os.O_CREAT | os.O_EXCL | os.O_WRONLY))
            except FileExistsError:
                state["mine"] = False
            else:
                state.update(mine=True, profiler=Profiler(), tally=SqlTally(app.extensions["paygate"].db.engine))
                atexit.register(save)
        return state["mine"]

    def save() -> None:
        if state["profiler"].last_session is not None:
            state["profiler"].last_session.save(out / "pyinstrument.json")
            (out / "sql.json").write_text(json.dumps(state["tally"].as_dict()))

    def wsgi(environ, start_response):
        if environ.get("PATH_INFO") != path or not claim():
            return inner(environ, start_response)
        profiler, tally = state["profiler"], state["tally"]
        tally.requests += 1
        tally.active = True
        profiler.start()
        try:
            return list(inner(environ, start_response))  # render the body inside the profile
        finally:
            profiler.stop()
            tally.active = False

    app.wsgi_app = wsgi
