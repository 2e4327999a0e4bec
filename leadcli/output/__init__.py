"""Output, written once: every format (table, json, jsonl, csv, tsv, ids) for every command.

Records arrive as JSON-ready dicts and are streamed: `export` of a million leads never builds
a list (except `table`, which must measure its columns). Data goes to stdout; messages go to
stderr through `leadcli.cli.console`.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import re
import sys
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, TextIO

from leadcli.domain.errors import InvalidInput
from leadcli.domain.text import one_line, spreadsheet_safe

FORMATS = ("table", "json", "jsonl", "csv", "tsv", "ids")


# Names a person may type for a field: the tables call current_stage "stage".
FIELD_ALIASES = {"stage": "current_stage"}


def parse_fields(text: str | None, valid: Sequence[str], default: Sequence[str], aliases: Mapping[str, str] | None = None) -> list[str]:
    """`--fields a,b,c` checked against `valid` (exit 2 naming the valid ones); `aliases` maps
    other names to valid ones."""
    if not text:
        return list(default)
    fields = [f.strip() for f in text.split(",") if f.strip()]
    fields = [(aliases or {}).get(f, f) if f not in valid else f for f in fields]
    unknown = [f for f in fields if f not in valid]
    if unknown or not fields:
        raise InvalidInput(f"--fields: unknown field(s) {', '.join(unknown) or '(none)'}; valid fields: {', '.join(valid)}")
    return fields


def force_terminal() -> bool:
    """LEADCLI_FORCE_TERMINAL=1 makes leadcli draw as on a terminal (of COLUMNS width, default
    100) even into a pipe: for tests and snapshots only, never for scripts."""
    return os.environ.get("LEADCLI_FORCE_TERMINAL", "") not in ("", "0")


def terminal_width(default: int = 100) -> int:
    """COLUMNS when forced (tests), else the real terminal's width."""
    if force_terminal():
        try:
            return int(os.environ.get("COLUMNS", default))
        except ValueError:
            return default
    import shutil

    return shutil.get_terminal_size((default, 24)).columns


def is_terminal(stream: TextIO) -> bool:
    if force_terminal():
        return True
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
    if isinstance(value, list) and all(isinstance(v, str) and "," not in v and ";" not in v for v in value):
        joined = ", ".join(value)
        if not joined.startswith("["):
            return joined
        # else JSON below: an import splits words on "," and ";" and reads a cell in [...] as a
        # JSON list, so tags holding either come back whole
    if isinstance(value, (list, dict)):
        return to_json(value, separators=(",", ":"))
    return str(value)


def to_json(value: Any, **options: Any) -> str:
    """JSON text, always valid: a number past what a double holds (a `stats` total summing
    values near 1e308; a value an older store holds) is written as null, never as `Infinity`
    or `NaN`, which no JSON reader accepts."""
    try:
        return json.dumps(value, ensure_ascii=False, allow_nan=False, **options)
    except ValueError:
        return json.dumps(_finite(value), ensure_ascii=False, **options)


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


class Renderer:
    """Writes records in one format through that format's writer (`WRITERS`). `many` streams a
    sequence; `one` writes a single object."""

    def __init__(self, fmt: str, *, stream: TextIO | None = None, title: str | None = None, live: bool = False) -> None:
        if fmt not in FORMATS:
            raise InvalidInput(f"--output: unknown format {fmt!r}; valid formats: {', '.join(FORMATS)}")
        self.fmt = fmt
        self.stream = stream or sys.stdout
        self.title = title
        # Live: records arrive over time (`watch`), so each is flushed as soon as it is written.
        self.live = live

    def many(self, records: Iterable[Mapping[str, Any]], fields: Sequence[str]) -> int:
        if self.live and self.fmt == "table":
            from leadcli.output.events import write_event_lines

            return write_event_lines(self.stream, self._flushing(records))
        out = writer(self.fmt, self.stream, fields, title=self.title)
        for record in records:
            # `ids` prints ids whatever --fields says (picking would drop the id).
            out.write(dict(record) if self.fmt == "ids" else _pick(record, fields))
            if self.live:
                self.stream.flush()
        return out.close()

    def one(self, record: Mapping[str, Any], fields: Sequence[str]) -> None:
        picked = _pick(record, fields)
        if self.fmt == "json":
            # default=str: a report may hold values JSON has no type for (e.g. a server's timestamps).
            self.stream.write(to_json(picked, indent=2, default=str) + "\n")
        elif self.fmt == "table":
            self._card(picked)
        else:
            self.many([record], fields)
        self.stream.flush()

    def _flushing(self, records: Iterable[Mapping[str, Any]]) -> Iterable[Mapping[str, Any]]:
        for record in records:
            yield record
            self.stream.flush()  # runs once the writer has written `record` and asks for the next

    def _card(self, record: dict[str, Any]) -> None:
        width = max((len(k) for k in record), default=0)
        buffer = io.StringIO()
        for key, value in record.items():
            if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
                # history, activities: one entry a line, its non-empty values in order
                buffer.write(f"{key}\n")
                for entry in value:
                    buffer.write(f"  {entry_line(entry)}\n")
                continue
            # A multi-line value (notes) continues indented, so no line of it reads as a key.
            text = ("\n" + " " * (width + 2)).join(one_line(line) for line in cell(value).splitlines())
            buffer.write(f"{key.ljust(width)}  {text}".rstrip() + "\n")
        self.stream.write(buffer.getvalue())


# -- one writer per format ------------------------------------------------------------------
# Every command's list output (through Renderer), `export` and `import --rejects` write through
# these: `write` one record as it comes (nothing is collected, but for `table`, which must
# measure its columns), `close` at the end, which finishes the format, flushes and returns how
# many records were written.


class Writer:
    def __init__(self, stream: TextIO, fields: Sequence[str]) -> None:
        self.stream = stream
        self.fields = list(fields)
        self.count = 0

    def write(self, record: Mapping[str, Any]) -> None:
        raise NotImplementedError

    def close(self) -> int:
        self.stream.flush()
        return self.count


class JsonWriter(Writer):
    """One JSON array, an object a line: `[` at once, `]` at the end (`[]` when empty)."""

    def __init__(self, stream: TextIO, fields: Sequence[str]) -> None:
        super().__init__(stream, fields)
        stream.write("[")

    def write(self, record: Mapping[str, Any]) -> None:
        self.stream.write(("," if self.count else "") + "\n" + to_json(record))
        self.count += 1

    def close(self) -> int:
        self.stream.write("\n]\n" if self.count else "]\n")
        return super().close()


class JsonlWriter(Writer):
    def write(self, record: Mapping[str, Any]) -> None:
        self.stream.write(to_json(record) + "\n")
        self.count += 1


class CsvWriter(Writer):
    """A header row, then a row a record. Values with the delimiter, quotes or newlines are
    quoted the way spreadsheets and Python's csv module read them back; a cell a spreadsheet
    would run as a formula is prefixed with ' (domain/text.py; import takes it off again)."""

    delimiter = ","

    def __init__(self, stream: TextIO, fields: Sequence[str], delimiter: str | None = None) -> None:
        super().__init__(stream, fields)
        self._csv = csv.writer(stream, delimiter=delimiter or self.delimiter, lineterminator="\n")
        self._row(self.fields)

    def write(self, record: Mapping[str, Any]) -> None:
        self._row([_csv_cell(record.get(f)) for f in self.fields])
        self.count += 1

    def write_cells(self, cells: Sequence[Any]) -> None:
        """A row of cells as given, not neutralised: `import --rejects` gives back the input's
        own rows, so that importing the rejects file reads them exactly as the input."""
        self._row([cell(v) for v in cells])
        self.count += 1

    def _row(self, cells: list[str]) -> None:
        """csv quotes a cell holding the line terminator (LF) but not one holding a lone CR, which
        every reader (import too) takes for the end of the row: such a row is quoted here."""
        if not any("\r" in c for c in cells):
            self._csv.writerow(cells)
            return
        delimiter = self._csv.dialect.delimiter
        self.stream.write(delimiter.join(_quoted(c, delimiter) for c in cells) + "\n")

    def write_raw(self, text: str) -> None:
        """Text as it is, on lines of its own (a CSV row that could not be split into cells)."""
        self.stream.write(text if text.endswith(("\n", "\r")) else text + "\n")
        self.count += 1


def _quoted(text: str, delimiter: str) -> str:
    """A cell as csv's minimal quoting writes it, CR counted among the characters that need quotes."""
    if any(c in text for c in (delimiter, '"', "\r", "\n")):
        return '"' + text.replace('"', '""') + '"'
    return text


# A number an import reads two ways: `1.125` is 1.125, or 1125 with a European grouping dot
# (services/import_rows.py refuses to guess). With a zero added only the decimal reading is left.
_TWO_READINGS = re.compile(r"-?[1-9]\d{0,2}\.\d{3}")


def _csv_cell(value: Any) -> str:
    text = cell(value)
    if isinstance(value, float) and _TWO_READINGS.fullmatch(text):
        return text + "0"  # 1.1250: the same number, read back as written
    return spreadsheet_safe(text)


class TsvWriter(CsvWriter):
    delimiter = "\t"


class IdsWriter(Writer):
    """One id a line (`lead_id` for events, else `id`), to pipe into `delete -`, `move -`…"""

    def write(self, record: Mapping[str, Any]) -> None:
        key = "lead_id" if "lead_id" in record else "id"
        if key not in record:  # stages, history entries: a blank line each would feed `delete -` nothing
            raise InvalidInput("--output ids: these rows have no ids; use table, json, jsonl, csv or tsv")
        self.stream.write(f"{record[key]}\n")
        self.count += 1


class TableWriter(Writer):
    """Aligned columns: drawn by Rich on a terminal, plain text in a pipe (`plain_table`)."""

    def __init__(self, stream: TextIO, fields: Sequence[str], title: str | None = None) -> None:
        super().__init__(stream, fields)
        self.title = title
        self.rows: list[Mapping[str, Any]] = []

    def write(self, record: Mapping[str, Any]) -> None:
        self.rows.append(record)
        self.count += 1

    def close(self) -> int:
        if is_terminal(self.stream):
            from leadcli.output.rich_view import rich_table

            rich_table(self.stream, self.rows, self.fields, title=self.title)
        else:
            self.stream.write(plain_table(self.rows, self.fields))
        return super().close()


def writer(fmt: str, stream: TextIO, fields: Sequence[str], *, title: str | None = None, delimiter: str | None = None) -> Writer:
    """The writer of `fmt` (one of FORMATS) on `stream`, its header (csv, tsv) or `[` (json)
    written at once; `delimiter` overrides csv/tsv's own (rejects in the input's delimiter)."""
    if fmt == "table":
        return TableWriter(stream, fields, title)
    if fmt in ("csv", "tsv"):
        return (TsvWriter if fmt == "tsv" else CsvWriter)(stream, fields, delimiter)
    writers: dict[str, type[Writer]] = {"json": JsonWriter, "jsonl": JsonlWriter, "ids": IdsWriter}
    if fmt not in writers:
        raise InvalidInput(f"cannot write {fmt!r}; formats: {', '.join(FORMATS)}")
    return writers[fmt](stream, fields)


def entry_line(entry: Mapping[str, Any]) -> str:
    """A history entry or an activity as one line of plain text (`show` in a pipe)."""
    if "to_stage" in entry:
        parts = [cell(entry.get("changed_at")), f"{cell(entry.get('from_stage')) or '-'} -> {cell(entry.get('to_stage'))}", f"by {cell(entry.get('by'))}"]
        rest = {k: v for k, v in entry.items() if k not in ("changed_at", "from_stage", "to_stage", "by")}
    elif "type" in entry and "at" in entry:
        parts = [cell(entry.get("at")), cell(entry.get("type")), f"by {cell(entry.get('by'))}"]
        rest = {k: v for k, v in entry.items() if k not in ("at", "type", "by")}
    else:
        parts, rest = [], dict(entry)
    parts += [cell(v) for v in rest.values() if v not in (None, "")]
    return "  ".join(one_line(p) for p in parts)


def plain_table(rows: Sequence[Mapping[str, Any]], fields: Sequence[str]) -> str:
    """Columns aligned with spaces: no ANSI, no box drawing, nothing truncated (for pipes)."""
    cells = [[one_line(cell(r[f])) for f in fields] for r in rows]
    widths = [max([len(f)] + [len(c[i]) for c in cells]) for i, f in enumerate(fields)]
    lines = ["  ".join(f.upper().ljust(w) for f, w in zip(fields, widths, strict=True)).rstrip()]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells]
    return "\n".join(lines) + "\n"


def _pick(record: Mapping[str, Any], fields: Sequence[str]) -> dict[str, Any]:
    return {f: record.get(f) for f in fields}


def no_color() -> bool:
    return "NO_COLOR" in os.environ
