"""Engines and units of work, the same code on SQLite (WAL) and PostgreSQL (psycopg 3)."""
from __future__ import annotations

import select
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, DisconnectionError, OperationalError
from sqlalchemy.orm import Session, sessionmaker


def normalise_url(url: str) -> str:
    """Accept plain postgresql:// URLs and route them to psycopg 3."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def make_engine(url: str, pool_size: int = 5) -> Engine:
    """hide_parameters: a failed statement's message (and so any log of it) never carries the
    values it was given, which may be personal data."""
    url = normalise_url(url)
    if url.startswith("sqlite"):
        return _sqlite_engine(url)
    # No pre-ping: it costs a round trip on every transaction (a third of a payment's time here).
    # A pooled connection the server closed is found without one instead (see
    # _discard_connections_the_server_closed), and any disconnect still met invalidates the pool.
    engine = create_engine(url, pool_size=pool_size, max_overflow=pool_size, pool_recycle=1800, hide_parameters=True)
    event.listen(engine, "checkout", _discard_connections_the_server_closed)
    event.listen(engine, "handle_error", _treat_lost_server_as_disconnect)
    return engine


def _discard_connections_the_server_closed(dbapi_connection, _record, _proxy) -> None:
    """An idle pooled connection has nothing to read: if its socket is readable, the server sent
    its goodbye (a restart's "terminating connection") or closed it. A poll of the socket, no round
    trip; raising DisconnectionError makes the pool drop it and check out a fresh one."""
    try:
        readable, _, _ = select.select([dbapi_connection.fileno()], [], [], 0)
    except (OSError, ValueError):  # already closed on our side
        readable = True
    if readable:
        raise DisconnectionError("the server closed this pooled connection")


# SQLSTATEs of a server going away: class 08 (connection exception), and a shutdown or a
# crash restart terminating the session, or a server still starting.
_SERVER_GONE = ("57P01", "57P02", "57P03")


def _treat_lost_server_as_disconnect(context) -> None:
    """psycopg's dialect calls an error a disconnect only when the connection object says so; a
    refused connect or a server shutting down mid-statement is one too. A disconnect invalidates
    the connection and every other one pooled before it (SQLAlchemy's pool-wide invalidation),
    so no later request is handed a dead connection."""
    if context.is_disconnect or not isinstance(context.sqlalchemy_exception, OperationalError):
        return
    sqlstate = getattr(context.original_exception, "sqlstate", None)
    # No SQLSTATE: no server answered at all (refused, reset, closed mid-read).
    if sqlstate is None or sqlstate.startswith("08") or sqlstate in _SERVER_GONE:
        context.is_disconnect = True


def database_unavailable(exc: BaseException) -> bool:
    """True for an error meaning the database could not be reached or went away mid-request (a
    retry later may succeed), as opposed to a bug or bad data."""
    return isinstance(exc, DBAPIError) and exc.connection_invalidated


def _sqlite_engine(url: str) -> Engine:
    database = make_url(url).database
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": 30}, hide_parameters=True)

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection, _record):
        # Let SQLAlchemy, not the driver, decide when transactions begin (see the "begin" hook).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin_immediate(conn):
        # SQLite has no row locks: taking the write lock when the transaction starts makes
        # read-check-write sequences (refund limits, state transitions) safe across processes.
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


class Database:
    def __init__(self, url: str, pool_size: int = 5) -> None:
        self.url = normalise_url(url)
        self.engine = make_engine(self.url, pool_size=pool_size)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        # The gateway's clock (set by Gateway), for timestamps the data layer writes itself
        # (ledger transactions): a unit of work carries it in session.info["clock"].
        self.clock: Callable[[], datetime] | None = None

    @contextmanager
    def unit_of_work(self) -> Iterator[Session]:
        """One transaction: committed when the block ends normally, rolled back otherwise; then
        the callables the block put in session.info["after_commit"] run."""
        session = self._sessions()
        if self.clock is not None:
            session.info["clock"] = self.clock
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()
        # What waits for the commit (metrics of what was just committed: see on_commit).
        for hook in session.info.pop("after_commit", ()):
            hook()

    @contextmanager
    def autocommit(self) -> Iterator[Connection]:
        """A connection for one read, or for writes that need no transaction around them, each
        statement on its own: on PostgreSQL in autocommit, so a statement costs one round trip
        instead of BEGIN, it and COMMIT; on SQLite one transaction, committed at the end (its
        lock serialises writers anyway)."""
        with self.engine.connect() as connection:
            if connection.dialect.name == "postgresql":
                yield connection.execution_options(isolation_level="AUTOCOMMIT")
                return
            yield connection
            connection.commit()

    def reachable(self) -> str | None:
        """None when the database answers a trivial query, else what went wrong."""
        try:
            with self.engine.connect() as connection:
                connection.exec_driver_sql("SELECT 1")
        except Exception as exc:  # any failure to reach the database is the answer here
            return type(exc).__name__
        return None

    def dispose(self) -> None:
        self.engine.dispose()
