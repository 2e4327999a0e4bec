"""Rich tables for a terminal; imported only when a table is drawn on one."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TextIO

from leadcli.output import cell, no_color


def rich_table(stream: TextIO, rows: Sequence[Mapping[str, Any]], fields: Sequence[str], title: str | None = None) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(file=stream, no_color=no_color())
    table = Table(title=title, header_style="bold", show_lines=False)
    for name in fields:
        table.add_column(name.replace("_", " "), overflow="fold")
    for row in rows:
        table.add_row(*(cell(row[f]) for f in fields))
    console.print(table)
