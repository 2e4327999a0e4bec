"""The `stats` report in every format: one JSON object, stage rows for csv/tsv, and a table
with a bar per stage on a terminal (plain columns in a pipe)."""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from typing import Any, TextIO

from leadcli.domain.errors import InvalidInput
from leadcli.output import Renderer, cell, is_terminal, no_color, plain_table

STAGE_FIELDS = ("stage", "count", "value", "avg_days")


def render_stats(report: Mapping[str, Any], fmt: str, stream: TextIO | None = None) -> None:
    stream = stream or sys.stdout
    if fmt == "json":
        stream.write(json.dumps(report, ensure_ascii=False, indent=2) + "\n")
    elif fmt == "jsonl":
        stream.write(json.dumps(report, ensure_ascii=False) + "\n")
    elif fmt in ("csv", "tsv"):
        Renderer(fmt, stream=stream).many(report["stages"], STAGE_FIELDS)
    elif fmt == "table":
        if is_terminal(stream):
            _rich_stats(report, stream)
        else:
            stream.write(plain_table(report["stages"], STAGE_FIELDS))
            stream.write(summary_line(report) + "\n")
    else:
        raise InvalidInput(f"--output: stats prints table, json, jsonl, csv or tsv, not {fmt!r}")
    stream.flush()


def summary_line(report: Mapping[str, Any]) -> str:
    rate = report["win_rate"]
    win = "n/a (nothing closed)" if rate is None else f"{rate:.0%}"
    return f"total {report['total']}  engaged {report['engaged']}  value {cell(report['value'])}  win rate {win}"


def _rich_stats(report: Mapping[str, Any], stream: TextIO) -> None:
    from rich.bar import Bar
    from rich.console import Console
    from rich.table import Table

    console = Console(file=stream, no_color=no_color())
    table = Table(header_style="bold", caption=summary_line(report))
    for name, justify in (("stage", "left"), ("count", "right"), ("", "left"), ("value", "right"), ("avg days", "right")):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    most = max((row["count"] for row in report["stages"]), default=0) or 1
    for row in report["stages"]:
        table.add_row(
            cell(row["stage"]),
            str(row["count"]),
            Bar(size=most, begin=0, end=row["count"], width=24, color="cyan"),
            cell(row["value"]),
            cell(row["avg_days"]),
        )
    console.print(table)
