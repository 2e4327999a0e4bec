"""Reading import files: CSV/TSV (the delimiter detected, the Leads Artisan web app's own
export recognised), a JSON array streamed item by item, JSON Lines; each record with its row
number as a spreadsheet shows it, what it held as it came, and its (key, value) pairs. Used by
services/importer.py."""

from __future__ import annotations

import csv
import io
import itertools
import json
import re
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any, cast

from leadcli.domain.errors import InvalidInput

FORMATS = ("csv", "tsv", "json", "jsonl")
EXTENSIONS = {".csv": "csv", ".tsv": "tsv", ".tab": "tsv", ".json": "json", ".jsonl": "jsonl", ".ndjson": "jsonl"}
# A cell may be this long (csv's default is 128 KiB): a longer notes cell is then rejected by
# validation, with its row, instead of stopping the CSV reader.
CSV_FIELD_LIMIT = 16 * 1024 * 1024
NOT_UTF8 = 'the file is not UTF-8 text; save it as UTF-8 ("CSV UTF-8" in Excel)'


def normalize_header(text: str) -> str:
    """Lowercase, words split on anything that is not a letter or digit (of any script: `Имя`
    and `Почта` must stay two names)."""
    return re.sub(r"[\W_]+", " ", text.lower()).strip()


def detect_format(name: str, explicit: str | None, first_char: str) -> str:
    if explicit:
        if explicit not in FORMATS:
            raise InvalidInput(f"--format: unknown format {explicit!r}; valid: {', '.join(FORMATS)}")
        return explicit
    for ext, fmt in EXTENSIONS.items():
        if name.lower().endswith(ext):
            return fmt
    # stdin or an unknown extension: what the data starts with
    return {"[": "json", "{": "jsonl"}.get(first_char, "csv")

# -- reading files ------------------------------------------------------------------------------


class RawLines(list[str]):
    """The file lines of a CSV row the reader could not split into cells, as they came."""


@dataclass(slots=True)
class Record:
    """One record of the file: its number as a spreadsheet shows it, what it held as it came
    (cells or an object), its (key, value) pairs, or why it could not be read at all."""

    row: int
    raw: Any
    pairs: list[tuple[str, Any]] = field(default_factory=list)
    error: str | None = None


class Source:
    """An open import file: its format, its CSV header, and its records, read lazily."""

    def __init__(self, binary: IO[bytes], name: str, fmt: str | None) -> None:
        self.binary = binary
        buffered: Any = binary if hasattr(binary, "peek") else io.BufferedReader(cast(Any, binary))
        head = buffered.peek(64)[:64]
        first = head.decode("utf-8", "ignore").lstrip("\ufeff \t\r\n")[:1]
        self.format = detect_format(name, fmt, first)
        self.text = io.TextIOWrapper(buffered, encoding="utf-8-sig", newline="")
        self.header: list[str] | None = None
        self.web_export = False  # the Leads Artisan web app's own CSV export (see web_export_cells)
        self.delimiter: str | None = None  # a CSV's, as detected (--rejects writes it back)
        self._raw: list[str] = []  # the file lines of the CSV record being read
        self._csv: Iterator[list[str]] | None = None
        if self.format in ("csv", "tsv"):
            self._open_csv(name)

    def _open_csv(self, name: str) -> None:
        first_line = self._decode(self.text.readline)
        self.header_row = 1  # as a spreadsheet numbers it: blank lines above the header count
        # Blank, or only delimiters: how Excel saves an empty row of the sheet (`,,,`).
        while first_line and not first_line.strip(",;\t \r\n"):
            first_line = self._decode(self.text.readline)
            self.header_row += 1
        if self.format == "tsv":
            delimiter = "\t"
        else:  # a semicolon-separated "CSV" is what a European Excel saves
            delimiter = max((",", ";", "\t"), key=first_line.count)
        # The text stream itself, not a generator over it: csv reads it at C speed, and a
        # decoding error surfaces from next() (see _csv_records). Strict: a quoted cell left
        # open would otherwise swallow every row after it without a word.
        self.delimiter = delimiter
        csv.field_size_limit(max(csv.field_size_limit(), CSV_FIELD_LIMIT))
        self._csv = csv.reader(self._tapped(itertools.chain((first_line,), self.text)), delimiter=delimiter, strict=True)
        try:
            header = next(self._csv, None)
        except UnicodeDecodeError:
            raise InvalidInput(NOT_UTF8) from None
        except csv.Error as exc:
            raise InvalidInput(f"{name}: cannot read the CSV header: {exc}") from None
        if not header or not any(h.strip() for h in header):
            raise InvalidInput(f"{name}: no header row; the first row must name the columns (Name, Email, …)")
        self.header = [h.strip() for h in header]
        self.web_export = tuple(normalize_header(h) for h in self.header) == WEB_EXPORT_HEADER

    def _tapped(self, lines: Iterator[str]) -> Iterator[str]:
        """The lines as the CSV reader takes them, the current record's kept in `_raw`: a row
        the reader cannot split goes to --rejects as those lines, exactly as they came."""
        append = self._raw.append
        for line in lines:
            append(line)
            yield line

    def _decode(self, read: Callable[[], str]) -> str:
        try:
            return read()
        except UnicodeDecodeError:
            raise InvalidInput(NOT_UTF8) from None

    def _decode_lines(self) -> Iterator[str]:
        while True:
            line = self._decode(self.text.readline)
            if not line:
                return
            yield line

    @property
    def bytes_read(self) -> int:
        try:
            return int(self.binary.tell())
        except (OSError, ValueError):
            return 0

    def records(self) -> Iterator[Record]:
        if self.format in ("csv", "tsv"):
            return self._csv_records()
        if self.format == "jsonl":
            return self._jsonl_records(self._decode_lines())
        return self._json_records()

    def _csv_records(self) -> Iterator[Record]:
        assert self._csv is not None and self.header is not None
        header = self.header
        width = len(header)
        row = self.header_row
        reader: Any = self._csv  # csv's reader type is not public; line_num is read below
        raw = self._raw
        while True:
            line = reader.line_num
            raw.clear()
            try:
                cells = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                # The reader goes on at the next line; this record is rejected with where it was.
                row += 1
                lines = f"line {line + 1}" if reader.line_num <= line + 1 else f"lines {line + 1}-{reader.line_num}"
                yield Record(row, RawLines(raw), error=f"cannot read this row ({lines} of the file): {_csv_problem(exc)}")
                continue
            except UnicodeDecodeError:
                raise InvalidInput(NOT_UTF8) from None
            row += 1
            if not "".join(cells).strip():  # no cells, or only blank ones (as any(c.strip()), in C)
                continue
            if len(cells) == width:  # the common case: nothing to pad or cut
                yield Record(row, cells, list(zip(header, cells, strict=True)))
                continue
            if len(cells) > width and any(c.strip() for c in cells[width:]):
                if self.web_export:  # its dates hold a comma, and it quotes nothing
                    fixed = web_export_cells(cells)
                    if isinstance(fixed, str):
                        yield Record(row, cells, error=fixed)
                    else:  # as the row is read: a rejected one goes to --rejects under its columns
                        yield Record(row, fixed, list(zip(header, fixed, strict=True)))
                    continue
                yield Record(row, cells, error=f"has {len(cells)} values but the header has {width} columns")
                continue
            yield Record(row, cells[:width] + [""] * (width - len(cells)), list(zip(header, cells, strict=False)))

    def _jsonl_records(self, lines: Iterator[str]) -> Iterator[Record]:
        row = 0
        for line in lines:
            if not line.strip():
                continue
            row += 1
            try:
                data = json.loads(line)
            except json.JSONDecodeError as exc:
                yield Record(row, {"line": line.rstrip("\r\n")}, error=f"not valid JSON ({exc.msg})")
                continue
            except (ValueError, RecursionError) as exc:  # a 5,000-digit number, nesting too deep
                yield Record(row, {"line": line.rstrip("\r\n")}, error=unreadable_json(exc))
                continue
            yield _object_record(row, data)

    def _json_records(self) -> Iterator[Record]:
        reader = _JsonArrayReader(self)
        # An array of objects; or one object, or objects one after another (read as JSONL)
        values = reader.objects() if reader.peek() == "{" else reader.items()
        for row, value in enumerate(values, start=1):
            if isinstance(value, _Unreadable):
                yield Record(row, {"value": value.text}, error=value.reason)
            else:
                yield _object_record(row, value)


def unreadable_json(exc: BaseException) -> str:
    if isinstance(exc, RecursionError):
        return "not readable: nested too deeply"
    if "digits" in str(exc):  # Python's limit on the digits of an integer it reads
        return f"not readable: a number longer than {sys.get_int_max_str_digits():,} digits"
    return f"not readable: {exc}"


@dataclass(slots=True)
class _Unreadable:
    """A JSON value the decoder could not build (nesting too deep, a number too long), skipped."""

    text: str
    reason: str


# The Leads Artisan web app's "Export All" CSV (built in the browser): this header, values
# joined with `,` and never quoted, `Last Contacted` written `Nov 1, 2026` (or `-`).
WEB_EXPORT_HEADER = ("name", "company", "stage", "engaged", "last contacted", "email")
_WEB_DAY = re.compile(r"[A-Z][a-z]{2} \d{1,2}")  # `Nov 1` of `Nov 1, 2026`
_WEB_YEAR = re.compile(r" \d{4}")  # ` 2026`
# What follows a comma inside a name (`Ada Lovelace, PhD`) or a company (`Acme, Inc.`).
_NAME_SUFFIXES = frozenset(("jr", "sr", "ii", "iii", "iv", "phd", "ph d", "md", "m d", "esq", "mba", "cpa"))
_COMPANY_SUFFIXES = frozenset((
    "inc", "incorporated", "llc", "l l c", "ltd", "limited", "co", "corp", "corporation", "gmbh", "plc",
    "llp", "lp", "ag", "sa", "s a", "sas", "bv", "b v", "nv", "pty ltd", "pvt ltd", "srl", "spa", "oy", "ab", "as",
))  # fmt: skip


def web_export_cells(cells: list[str]) -> list[str] | str:
    """A row of the web app's export that split into more cells than its 6 columns, put back
    into them: the email is the last cell, `Last Contacted` a `Nov 1`+` 2026` pair or `-`, then
    Engaged and Stage; the cells left are Name and Company, split where a comma can only belong
    to one of them (`Acme, Inc.`, `Ada Lovelace, PhD`). Otherwise why the row cannot be read."""
    rest = [*cells]
    if len(rest) < 6:
        return f"has {len(cells)} values, fewer than the 6 columns of a Leads Artisan export"
    email = rest.pop()
    if _WEB_YEAR.fullmatch(rest[-1]) and _WEB_DAY.fullmatch(rest[-2]):
        year, day = rest.pop(), rest.pop()
        contacted = f"{day},{year}"
    else:
        contacted = rest.pop()
    engaged, stage = rest.pop(), rest.pop()
    if len(rest) < 2:
        return f"has {len(cells)} values, fewer than the 6 columns of a Leads Artisan export"
    splits = [
        k for k in range(1, len(rest))
        if all(normalize_header(c) in _NAME_SUFFIXES for c in rest[1:k])
        and all(normalize_header(c) in _COMPANY_SUFFIXES for c in rest[k + 1 :])
    ]  # fmt: skip
    if len(splits) != 1:
        return (
            f"has {len(cells)} values but the header has 6 columns: the name or company holds a comma, and a "
            "Leads Artisan export does not quote it; put that name or company in double quotes"
        )
    k = splits[0]
    return [",".join(rest[:k]), ",".join(rest[k:]), stage, engaged, contacted, email]


def _csv_problem(exc: csv.Error) -> str:
    """What csv's strict mode says, in the terms of someone fixing a spreadsheet."""
    text = str(exc)
    if text == "unexpected end of data":
        return "a quoted cell is never closed"
    if text.endswith("expected after '\"'"):
        return 'a quote inside a quoted cell must be doubled ("")'
    return text


def _object_record(row: int, data: Any) -> Record:
    if not isinstance(data, dict):
        return Record(row, {"value": data}, error="expected a JSON object")
    return Record(row, data, list(data.items()))


class _JsonArrayReader:
    """Streams the items of a top-level JSON array (or of objects one after another) without
    loading the whole file. Linear in the size of each item: when an item does not fit what is
    buffered, as much again is read before decoding it again from its start, so a 60 MB item is
    decoded a handful of times, not once per 64 KiB read (that was quadratic: 15 MB 3 s, 60 MB
    47 s). An item the decoder cannot build (nesting too deep, a number of 5,000 digits) is
    skipped to its end and comes out as `_Unreadable`, a rejected row, not the end of the import."""

    CHUNK = 1 << 16

    def __init__(self, source: Source) -> None:
        self.source = source
        self.buf = ""
        self.pos = 0
        self.eof = False
        self.decoder = json.JSONDecoder()
        self.array = True

    def _fill(self, size: int = CHUNK) -> bool:
        chunk = self.source._decode(lambda: self.source.text.read(size))
        self.buf = self.buf[self.pos :] + chunk
        self.pos = 0
        self.eof = not chunk
        return bool(chunk)

    def peek(self) -> str:
        while True:
            while self.pos < len(self.buf) and self.buf[self.pos] in " \t\r\n":
                self.pos += 1
            if self.pos < len(self.buf) or not self._fill():
                return self.buf[self.pos : self.pos + 1]

    def _fail(self, what: str) -> InvalidInput:
        if not self.array:
            return InvalidInput(f"not valid JSON: {what}")
        return InvalidInput(f"not a JSON array of objects: {what}")

    def _value(self) -> Any:
        """The value starting at `pos` (after `peek`), reading more of the file as it needs."""
        while True:
            try:
                value, end = self.decoder.raw_decode(self.buf, self.pos)
                if end < len(self.buf) or self.eof:  # else a number at the end may go on
                    self.pos = end
                    return value
            except json.JSONDecodeError as exc:
                if self.eof:
                    raise self._fail(exc.msg) from None
            except (ValueError, RecursionError) as exc:
                return self._skip(unreadable_json(exc))
            if not self._fill(max(self.CHUNK, len(self.buf) - self.pos)):
                self.eof = True

    def _skip(self, reason: str) -> _Unreadable:
        """Past the value at `pos` by its brackets and strings alone (no decoding)."""
        i, depth, in_string, escaped = 0, 0, False, False
        while True:
            if self.pos + i >= len(self.buf) and not self._fill(max(self.CHUNK, len(self.buf) - self.pos)):
                raise self._fail("it ends inside an item")
            c = self.buf[self.pos + i]
            i += 1
            if in_string:
                if escaped:
                    escaped = False
                elif c == "\\":
                    escaped = True
                elif c == '"':
                    in_string = False
            elif c == '"':
                in_string = True
            elif c in "[{":
                depth += 1
            elif c in "]}" or (c == "," and depth == 0):
                if depth == 0:
                    i -= 1  # the array's own , or ]: not part of the value
                    break
                depth -= 1
                if depth == 0:
                    break
        text = self.buf[self.pos : self.pos + i]
        self.pos += i
        return _Unreadable(text, reason)

    def items(self) -> Iterator[Any]:
        if self.peek() != "[":
            raise self._fail("it does not start with [")
        while True:  # arrays one after another (`export -o json >> all.json` twice): all read
            yield from self._array()
            after = self.peek()
            if not after:
                return
            if after != "[":
                raise self._fail(f"expected the end of the file or another [ after its closing ] but found {after!r}")

    def _array(self) -> Iterator[Any]:
        """The items of the array starting at `pos`, which ends past its closing ]."""
        self.pos += 1
        if self.peek() == "]":
            self.pos += 1
            return
        while True:
            if not self.peek():
                raise self._fail("it ends before its closing ]")
            yield self._value()
            sep = self.peek()
            self.pos += 1
            if sep == "]":
                return
            if sep != ",":
                raise self._fail(f"expected , or ] but found {sep!r}" if sep else "it ends before its closing ]")

    def objects(self) -> Iterator[Any]:
        self.array = False
        while self.peek():
            yield self._value()

