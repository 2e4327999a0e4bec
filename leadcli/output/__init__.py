"""Output, written once: every format (table, json, jsonl, csv, tsv, ids) for every command.

Records arrive as JSON-ready dicts and are streamed: `export` of a million leads never builds
a list (except `table`, which must measure its columns). Data goes to stdout; messages go to
stderr through `leadcli.cli.console`.
"""

from __future__ import annotations

import csv
import io
import json
import os
import sys
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, TextIO

from leadcli.domain.errors import InvalidInput

FORMATS = ("table", "json", "jsonl", "csv", "tsv", "ids")


def parse_fields(text: str | None, valid: Sequence[str], default: Sequence[str]) -> list[str]:
    """`--fields a,b,c` checked against `valid` (exit 2 naming the valid ones)."""
    if not text:
        return list(default)
    fields = [f.strip() for f in text.split(",") if f.strip()]
    unknown = [f for f in fields if f not in valid]
    if unknown or not fields:
        raise InvalidInput(f"--fields: unknown field(s) {', '.join(unknown) or '(none)'}; valid fields: {', '.join(valid)}")
    return fields


def is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def cell(value: Any) -> str:
    """One value as plain text: lists of words joined, nested data as compact JSON."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return ", ".join(value)
    if isinstance(value, (list, dict)):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return str(value)


class Renderer:
    """Writes records in one format. `many` streams a sequence; `one` writes a single object."""

    def __init__(self, fmt: str, *, stream: TextIO | None = None, title: str | None = None, live: bool = False) -> None:
        if fmt not in FORMATS:
            raise InvalidInput(f"--output: unknown format {fmt!r}; valid formats: {', '.join(FORMATS)}")
        self.fmt = fmt
        self.stream = stream or sys.stdout
        self.title = title
        # Live: records arrive over time (`watch`), so each is flushed as soon as it is written.
        self.live = live

    def many(self, records: Iterable[Mapping[str, Any]], fields: Sequence[str]) -> int:
        if self.live:
            records = self._flushing(records)
            if self.fmt == "table":
                from leadcli.output.events import write_event_lines

                return write_event_lines(self.stream, records)
        writer = getattr(self, f"_many_{self.fmt}")
        count: int = writer((_pick(r, fields) for r in records), fields)
        self.stream.flush()
        return count

    def one(self, record: Mapping[str, Any], fields: Sequence[str]) -> None:
        picked = _pick(record, fields)
        if self.fmt == "json":
            self.stream.write(json.dumps(picked, ensure_ascii=False, indent=2) + "\n")
        elif self.fmt == "table":
            self._card(picked)
        else:
            self.many([record], fields)
        self.stream.flush()

    def _flushing(self, records: Iterable[Mapping[str, Any]]) -> Iterable[Mapping[str, Any]]:
        for record in records:
            yield record
            self.stream.flush()  # runs once the writer has written `record` and asks for the next

    # -- formats ----------------------------------------------------------------------------

    def _many_json(self, rows: Iterable[dict[str, Any]], fields: Sequence[str]) -> int:
        count = 0
        self.stream.write("[")
        for row in rows:
            self.stream.write(("," if count else "") + "\n" + json.dumps(row, ensure_ascii=False))
            count += 1
        self.stream.write("\n]\n" if count else "]\n")
        return count

    def _many_jsonl(self, rows: Iterable[dict[str, Any]], fields: Sequence[str]) -> int:
        count = 0
        for row in rows:
            self.stream.write(json.dumps(row, ensure_ascii=False) + "\n")
            count += 1
        return count

    def _many_csv(self, rows: Iterable[dict[str, Any]], fields: Sequence[str]) -> int:
        writer = csv.writer(self.stream, lineterminator="\n")
        writer.writerow(fields)
        count = 0
        for row in rows:
            writer.writerow([cell(row[f]) for f in fields])
            count += 1
        return count

    def _many_tsv(self, rows: Iterable[dict[str, Any]], fields: Sequence[str]) -> int:
        def clean(text: str) -> str:
            return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")

        self.stream.write("\t".join(fields) + "\n")
        count = 0
        for row in rows:
            self.stream.write("\t".join(clean(cell(row[f])) for f in fields) + "\n")
            count += 1
        return count

    def _many_ids(self, rows: Iterable[dict[str, Any]], fields: Sequence[str]) -> int:
        count = 0
        for row in rows:
            key = "lead_id" if "lead_id" in row else "id"
            self.stream.write(f"{row.get(key, '')}\n")
            count += 1
        return count

    def _many_table(self, rows: Iterable[dict[str, Any]], fields: Sequence[str]) -> int:
        materialized = list(rows)
        if is_terminal(self.stream):
            from leadcli.output.rich_view import rich_table

            rich_table(self.stream, materialized, fields, title=self.title)
        else:
            self.stream.write(plain_table(materialized, fields))
        return len(materialized)

    def _card(self, record: dict[str, Any]) -> None:
        width = max((len(k) for k in record), default=0)
        buffer = io.StringIO()
        for key, value in record.items():
            text = cell(value)
            buffer.write(f"{key.ljust(width)}  {text}\n")
        self.stream.write(buffer.getvalue())


def plain_table(rows: Sequence[Mapping[str, Any]], fields: Sequence[str]) -> str:
    """Columns aligned with spaces: no ANSI, no box drawing, nothing truncated (for pipes)."""
    cells = [[cell(r[f]).replace("\n", " ") for f in fields] for r in rows]
    widths = [max([len(f)] + [len(c[i]) for c in cells]) for i, f in enumerate(fields)]
    lines = ["  ".join(f.upper().ljust(w) for f, w in zip(fields, widths)).rstrip()]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in cells]
    return "\n".join(lines) + "\n"


def _pick(record: Mapping[str, Any], fields: Sequence[str]) -> dict[str, Any]:
    return {f: record.get(f) for f in fields}


def no_color() -> bool:
    return "NO_COLOR" in os.environ
