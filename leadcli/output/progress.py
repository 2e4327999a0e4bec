"""A progress bar on stderr for long work (import, bulk moves), drawn only when stderr is a
terminal: in a pipe or under cron it does nothing and costs nothing (Rich is not loaded).

    from leadcli.output.progress import progress

    with progress(total=len(rows), description="importing") as advance:
        for row in rows:
            ...
            advance()        # or advance(n)

`total=None` (unknown, e.g. reading stdin) shows a spinner with a running count.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from leadcli.output import is_terminal, no_color


@contextmanager
def progress(total: int | None, description: str = "working") -> Iterator[Callable[..., None]]:
    if not is_terminal(sys.stderr):
        yield lambda n=1: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeRemainingColumn

    console = Console(file=sys.stderr, no_color=no_color())
    columns = [SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn()]
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task(description, total=total)
        yield lambda n=1: bar.advance(task, n)
