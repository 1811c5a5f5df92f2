"""The device's lock: OpenPAYGO Token credit kept on disk, enforced offline.

The device may be used until the start of `credit_end` (a Beijing calendar day). ADD_TIME tokens
push it out by whole days (counting from today if the credit already ran out, as the gateway
does); DISABLE_PAYG unlocks the device for good; COUNTER_SYNC realigns the token count. Tokens
arrive over the commands topic or are typed on the keypad; each is accepted once, and older
tokens are refused. Emergency calls are always allowed, locked or not.

The state file holds the device's OpenPAYGO secret: it is written 0600 and never logged. The agent
(`paygate-agent run`) and a keypad entry (`paygate-agent token`) may use it at the same time, so a
token is applied under an exclusive file lock on fresh state, and readers pick up a changed file."""
from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

from openpaygo import OpenPAYGOTokenDecoder, TokenType

try:
    import fcntl
except ImportError:  # not POSIX: one process at a time
    fcntl = None

BEIJING = timezone(timedelta(hours=8))
EMERGENCY = "emergency_call"
PAYG_FILE = "payg.json"  # in the agent's home


@dataclass
class PaygState:
    secret_hex: str = field(repr=False)  # never in a log line or a traceback
    starting_code: int
    count: int = 0
    used_counts: list[int] = field(default_factory=list)
    credit_end: str | None = None  # ISO date: first day the device is locked
    unlocked_for_good: bool = False


@dataclass(frozen=True)
class TokenResult:
    accepted: bool
    reason: str  # "add_time" | "disable_payg" | "counter_sync" | "invalid" | "already_used"
    days: int = 0


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


class PaygLock:
    def __init__(self, path: Path, clock: Callable[[], datetime] = utc_now) -> None:
        self.path, self.clock = Path(path), clock
        self._seen = None
        self._load()

    def _load(self) -> None:
        stat = os.stat(self.path)
        self.state = PaygState(**json.loads(self.path.read_text()))
        self._seen = (stat.st_ino, stat.st_mtime_ns, stat.st_size)

    def refresh(self) -> None:
        """Re-read the state if another process (a keypad entry) changed it."""
        stat = os.stat(self.path)
        if (stat.st_ino, stat.st_mtime_ns, stat.st_size) != self._seen:
            self._load()

    @classmethod
    def provision(cls, path: Path, secret_hex: str, starting_code: int, **kwargs) -> PaygLock:
        """Store the credentials the gateway gave at enrollment. A new device starts locked."""
        _write(path, PaygState(secret_hex, starting_code))
        return cls(path, **kwargs)

    def today(self) -> date:
        return self.clock().astimezone(BEIJING).date()

    @property
    def credit_end(self) -> date | None:
        self.refresh()
        return date.fromisoformat(self.state.credit_end) if self.state.credit_end else None

    @property
    def paid_until(self) -> date | None:
        """The last day the device may be used (the gateway's `paid_until`), None if never paid."""
        end = self.credit_end
        return end - timedelta(days=1) if end else None

    @property
    def unlocked_for_good(self) -> bool:
        self.refresh()
        return self.state.unlocked_for_good

    def locked(self) -> bool:
        self.refresh()
        if self.state.unlocked_for_good:
            return False
        return self.credit_end is None or self.today() >= self.credit_end

    def allows(self, action: str) -> bool:
        return action == EMERGENCY or not self.locked()

    def enter(self, token: str) -> TokenResult:
        """Apply a token from the commands topic or the keypad."""
        digits = token.strip().replace(" ", "")
        if not digits.isdigit() or len(digits) > 9:
            return TokenResult(False, "invalid")
        with self._exclusive():
            self._load()  # what another process may have applied meanwhile
            return self._apply(digits)

    @contextlib.contextmanager
    def _exclusive(self):
        if fcntl is None:
            yield
            return
        fd = os.open(self.path.with_suffix(".lock"), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # releases the lock

    def _apply(self, digits: str) -> TokenResult:
        value, kind, count, _ = OpenPAYGOTokenDecoder.decode_token(
            token=digits, secret_key=self.state.secret_hex, count=self.state.count,
            used_counts=list(self.state.used_counts), starting_code=self.state.starting_code,
        )
        if kind == TokenType.ALREADY_USED:
            return TokenResult(False, "already_used")
        if kind not in (TokenType.ADD_TIME, TokenType.DISABLE_PAYG, TokenType.COUNTER_SYNC):
            return TokenResult(False, "invalid")
        self._mark_used(count, kind)
        if kind == TokenType.ADD_TIME:
            base = max(self.credit_end or self.today(), self.today())
            self.state.credit_end = (base + timedelta(days=int(value))).isoformat()
            result = TokenResult(True, "add_time", int(value))
        elif kind == TokenType.DISABLE_PAYG:
            self.state.unlocked_for_good = True
            result = TokenResult(True, "disable_payg")
        else:
            result = TokenResult(True, "counter_sync")
        _write(self.path, self.state)
        self._load()
        return result

    def _mark_used(self, count: int, kind: int) -> None:
        # openpaygo's own bookkeeping of used counts returns nothing for an empty history, so
        # the device keeps it: the last 16 counts below the highest, as the decoder expects.
        highest = max(count, self.state.count)
        window = range(highest - OpenPAYGOTokenDecoder.MAX_UNUSED_OLDER_TOKENS, highest + 1)
        if kind == TokenType.ADD_TIME:
            used = {c for c in self.state.used_counts if c in window} | {count}
        else:  # any other token spends every older count
            used = set(window)
        self.state.used_counts = sorted(c for c in used if c >= 0)
        self.state.count = highest


def _write(path: Path, state: PaygState) -> None:
    """Write the state atomically (a crash mid-write must not lose paid credit), readable by the
    device's owner only: it holds the OpenPAYGO secret."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # also when a stale temp file was left with other permissions
    with os.fdopen(fd, "w") as handle:
        json.dump(asdict(state), handle)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
