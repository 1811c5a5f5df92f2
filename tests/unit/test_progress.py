"""The progress helper long commands share: a bar for a terminal, silence for a pipe."""
from __future__ import annotations

import io

from rich.console import Console

from gateway.entrypoints.cli.progress import progress


def test_a_terminal_sees_the_count_reach_the_total():
    out = io.StringIO()
    with progress("re-encrypting", total=3, console=Console(file=out, force_terminal=True, width=100)) as advance:
        advance()
        advance(2)
    assert "re-encrypting" in out.getvalue() and "3/3" in out.getvalue()


def test_a_pipe_gets_nothing():
    out = io.StringIO()
    with progress("settling", console=Console(file=out, force_terminal=False)) as advance:
        advance(5)
    assert out.getvalue() == ""
