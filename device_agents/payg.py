"""The device's lock: OpenPAYGO Token credit kept on disk, enforced offline.

The device may be used until the start of `credit_end` (a Beijing calendar day). ADD_TIME tokens
push it out by whole days (counting from today if the credit already ran out, as the gateway
does); DISABLE_PAYG unlocks the device for good; COUNTER_SYNC realigns the token count. Tokens
arrive over the commands topic or are typed on the keypad; each is accepted once, and older
tokens are refused. Emergency calls are always allowed, locked or not."""
from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

from openpaygo import OpenPAYGOTokenDecoder, TokenType

BEIJING = timezone(timedelta(hours=8))
EMERGENCY = "emergency_call"


@dataclass
class PaygState:
    secret_hex: str
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


class PaygLock:
    def __init__(self, path: Path, clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc)) -> None:
        self.path, self.clock = path, clock
        self.state = PaygState(**json.loads(path.read_text()))

    @classmethod
    def provision(cls, path: Path, secret_hex: str, starting_code: int, **kwargs) -> PaygLock:
        """Store the credentials the gateway gave at enrollment. A new device starts locked."""
        _write(path, PaygState(secret_hex, starting_code))
        return cls(path, **kwargs)

    def today(self) -> date:
        return self.clock().astimezone(BEIJING).date()

    @property
    def credit_end(self) -> date | None:
        return date.fromisoformat(self.state.credit_end) if self.state.credit_end else None

    def locked(self) -> bool:
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
    """Write the state atomically: a crash mid-write must not lose paid credit."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w") as handle:
        json.dump(asdict(state), handle)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
