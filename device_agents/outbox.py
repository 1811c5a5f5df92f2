"""The agent's on-disk outbox (SQLite): every signed message stays here until the broker acked it.

Sequence numbers are allocated in the same transaction that stores the signed message, so a number
is never reused, even if the agent dies between signing and sending, and never skipped backwards.
"""
from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    envelope BLOB NOT NULL,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS answered (nonce TEXT PRIMARY KEY, answered_at REAL NOT NULL);
"""


@dataclass(frozen=True)
class Pending:
    seq: int
    kind: str
    envelope: bytes


class Outbox:
    def __init__(self, path: Path) -> None:
        # One connection, used from the agent's own thread (and guarded for the fleet's progress
        # reads); synchronous=FULL so an acked-by-us message is on disk before we send it.
        self._db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self._lock = threading.Lock()
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(SCHEMA)

    def close(self) -> None:
        self._db.close()

    def add(self, kind: str, seal: Callable[[int, int], bytes], answers: str | None = None) -> int | None:
        """Allocate the next sequence number, sign with seal(seq, ts_ms), store; the seq.
        With `answers` (a confirmation nonce), nothing is stored if that nonce was answered
        before (None is returned): the answer and its message are one transaction."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                if answers is not None and self._db.execute(
                        "INSERT OR IGNORE INTO answered (nonce, answered_at) VALUES (?, ?)",
                        (answers, time.time())).rowcount == 0:
                    self._db.execute("ROLLBACK")
                    return None
                row = self._db.execute("SELECT value FROM counters WHERE name = 'seq'").fetchone()
                seq = (row[0] if row else 0) + 1
                now = time.time()
                envelope = seal(seq, int(now * 1000))
                self._db.execute("INSERT OR REPLACE INTO counters (name, value) VALUES ('seq', ?)", (seq,))
                self._db.execute("INSERT INTO outbox (seq, kind, envelope, created_at) VALUES (?, ?, ?, ?)",
                                 (seq, kind, envelope, now))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return seq

    def pending(self, after: int, limit: int) -> list[Pending]:
        """Unacked messages with seq > after, oldest first."""
        with self._lock:
            rows = self._db.execute("SELECT seq, kind, envelope FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?",
                                    (after, limit)).fetchall()
        return [Pending(*row) for row in rows]

    def remove(self, seqs: list[int]) -> None:
        """The broker acked these (PUBACK): they are the broker's now. Losing this write in a
        crash only means sending them again, which the gateway dedupes."""
        if not seqs:
            return
        with self._lock:
            self._db.execute("BEGIN")
            self._db.executemany("DELETE FROM outbox WHERE seq = ?", [(seq,) for seq in seqs])
            self._db.execute("COMMIT")

    def count(self) -> int:
        with self._lock:
            return self._db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0]

    def last_seq(self) -> int:
        with self._lock:
            row = self._db.execute("SELECT value FROM counters WHERE name = 'seq'").fetchone()
        return row[0] if row else 0
