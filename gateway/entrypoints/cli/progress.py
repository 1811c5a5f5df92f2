"""Progress for long commands (`rich`): a bar on stderr while a terminal watches, nothing when
output goes to a file or a pipe (logs and scripts stay clean).

    with progress("re-encrypting", total=rows) as advance:
        for batch in batches:
            ...
            advance(len(batch))

For any long command: settlement, vault re-encryption, fund accrual, credit training. A service
takes the `advance` callable as an optional argument, so it stays free of the terminal.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn


@contextmanager
def progress(description: str, total: int | None = None, console: Console | None = None) -> Iterator[Callable[[int], None]]:
    """Yields advance(n=1); total None shows a spinner and a count instead of a bar."""
    console = console or Console(stderr=True)
    columns = [SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()]
    with Progress(*columns, console=console, transient=False, disable=not console.is_terminal) as bar:
        task = bar.add_task(description, total=total)
        yield lambda n=1: bar.advance(task, n)
