"""The sandbox clock (test mode only): the time every process of a deployment sees, kept in the
database as an offset from the base clock (one row), so that `POST /v1/sandbox/clock` moves due
dates, grace periods and retries for the API, the workers and ingest alike.

An offset rather than a frozen instant: after a jump time keeps flowing, so what waits in real
time (a device's answer, a webhook retry, a confirmation's expiry) still happens; a frozen clock
would stop those. The jump itself is what makes due dates testable.
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone

from sqlalchemy import BigInteger, DateTime, Integer
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Mapped, Session, mapped_column

from gateway.adapters.db.engine import Database
from gateway.adapters.db.models import Base

log = logging.getLogger(__name__)

ROW_ID = 1
MAX_AGE_SECONDS = 1.0


def system_clock() -> datetime:
    return datetime.now(timezone.utc)


class SandboxClockRow(Base):
    __tablename__ = "sandbox_clock"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    offset_us: Mapped[int] = mapped_column(BigInteger)  # microseconds added to the base clock
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class SandboxClock:
    """A clock (call it for the time) reading `base() + offset`, the offset stored in the database.

    Each process keeps the offset it last read. Reading the row on every call would cost a query
    per timestamp (a payment takes several) and, inside a unit of work, a second pooled
    connection. Instead the offset is re-read
      - by `refresh()`, which the app calls at the start of every request and the worker runner
        at the start of every pass: a POST is committed before its response, so the next request
        (or pass) of every process sees it;
      - when the value read is older than MAX_AGE_SECONDS, for loops without such a start
        (ingest): they see a move within a second.
    The process that moved the clock refreshes at once.
    """

    def __init__(self, db: Database, base: Callable[[], datetime] = system_clock) -> None:
        self.db, self.base = db, base
        self._offset = timedelta(0)
        self._read_at: float | None = None  # time.monotonic() of the last read
        self._lock = threading.Lock()

    def __call__(self) -> datetime:
        return self.base() + self.offset()

    def offset(self) -> timedelta:
        read_at = self._read_at
        if read_at is None or time.monotonic() - read_at > MAX_AGE_SECONDS:
            # One thread re-reads; the others keep the value they have meanwhile.
            if self._lock.acquire(blocking=read_at is None):
                try:
                    self.refresh()
                finally:
                    self._lock.release()
        return self._offset

    def refresh(self) -> None:
        """Re-read the stored offset. A plain SELECT on a raw connection: outside any transaction
        on SQLite (a unit of work there begins IMMEDIATE and takes the write lock, which the
        calling thread may already hold). With the database out of reach the last value stays for
        another MAX_AGE_SECONDS: nothing can be written then anyway, and /healthz must still answer."""
        try:
            connection = self.db.engine.raw_connection()
            try:
                cursor = connection.cursor()
                cursor.execute(f"SELECT offset_us FROM sandbox_clock WHERE id = {ROW_ID}")
                row = cursor.fetchone()
                cursor.close()
            finally:
                connection.close()
        except (DBAPIError, self.db.engine.dialect.loaded_dbapi.Error) as exc:
            log.warning("sandbox clock: could not read the offset (%s); keeping %s", exc.__class__.__name__, self._offset)
        else:
            self._offset = timedelta(microseconds=row[0])
        self._read_at = time.monotonic()

    def locked_offset(self, session: Session) -> timedelta:
        """The stored offset, its row (made by the migration) locked for this unit of work."""
        return timedelta(microseconds=session.get(SandboxClockRow, ROW_ID, with_for_update=True).offset_us)

    def store(self, session: Session, offset: timedelta) -> None:
        """Set the offset in this unit of work (call `locked_offset` first); `refresh()` once it
        is committed, and this process sees it at once, the others at their next refresh."""
        row = session.get(SandboxClockRow, ROW_ID)
        row.offset_us = offset // timedelta(microseconds=1)
        row.updated_at = self.base()
        session.flush()
