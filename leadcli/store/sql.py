"""SQL helpers shared by the SQLite store and the scratch tables (store/ only)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

IN_CHUNK = 500  # keys per `IN (…)`: under SQLite's bound-parameter limit


def select_in(execute: Callable[[str, Sequence[Any]], Any], sql: str, keys: Sequence[Any]) -> Iterator[tuple[Any, ...]]:
    """The rows of `sql` (whose `{}` is where the `?, ?, …` of an IN list goes) for every key,
    a chunk of keys per statement."""
    for start in range(0, len(keys), IN_CHUNK):
        chunk = keys[start : start + IN_CHUNK]
        yield from execute(sql.format(", ".join("?" * len(chunk))), chunk)
