"""A connector whose calls to the bank or wallet are timed (paygate_bank_call_duration_seconds,
by connector, operation and whether it answered), wrapped around any connector by the
composition root; everything else passes through."""
from __future__ import annotations

import functools

from gateway.observability.metrics import timed_bank_call

BANK_CALLS = frozenset({"authorize", "authorize_batch", "capture", "void", "refund", "status", "refund_status",
                        "start_binding", "confirm_binding"})


class TimedConnector:
    def __init__(self, inner) -> None:
        self._inner = inner

    def __getattr__(self, name: str):
        value = getattr(self._inner, name)
        if name not in BANK_CALLS or not callable(value):
            return value

        @functools.wraps(value)
        def timed(*args, **kwargs):
            with timed_bank_call(self._inner.name, name):
                return value(*args, **kwargs)

        return timed

    def __repr__(self) -> str:
        return f"TimedConnector({self._inner!r})"
