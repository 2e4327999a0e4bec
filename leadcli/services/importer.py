"""Bulk import: CSV, JSON or JSONL files as CRMs and spreadsheets write them, mapped onto lead
fields, validated row by row, and written in batches (one transaction each on SQLite).

Memory stays flat whatever the file size: records are read one at a time, written a batch at a
time, and the emails seen so far (to reject duplicates within the file) live in a temporary
on-disk table (store/scratch.py) rather than in a Python set.
"""

from __future__ import annotations

import csv
import functools
import gc
import io
import itertools
import json
import re
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, time, tzinfo
from typing import IO, Any, cast

from leadcli.domain.artisan import stage_since
from leadcli.domain.dates import from_iso, now_utc, to_utc
from leadcli.domain.errors import Conflict, InvalidInput, LeadError, VersionConflict
from leadcli.domain.lead import LEAD_FIELDS, is_full_id, new_lead
from leadcli.domain.query import LeadQuery
from leadcli.domain.schema import FIELD, FIELDS
from leadcli.domain.text import NO_WORDS, NOTE_LIMIT, USER_LIMIT, YES_WORDS, from_spreadsheet_safe
from leadcli.services.context import Workspace
from leadcli.services.leads import diff, fit_for_store, reconcile_engagement, set_stage, update_lead
from leadcli.store.base import Lead
from leadcli.store.scratch import Drafts, FirstRows

# Rows per write (one SQLite transaction). Larger batches update each index page, the FTS index
# and the WAL fewer times (10,000 against 5,000: a 50,000-row import ~7% faster) at ~30 MB more
# peak memory (~150 MB, the same for any file size: see bench/bench_import.py).
BATCH_SIZE = 10_000
FORMATS = ("csv", "tsv", "json", "jsonl")
EXTENSIONS = {".csv": "csv", ".tsv": "tsv", ".tab": "tsv", ".json": "json", ".jsonl": "jsonl", ".ndjson": "jsonl"}

# Header spellings seen in CRM and spreadsheet exports, normalized (lowercase, words split on
# anything that is not a letter or digit): each field's name and its aliases (domain/schema.py),
# and the columns an import reads into fields (first and last name, a CRM's lead status).
ALIASES: dict[str, str] = {
    **{f.replace("_", " "): f for f in (*LEAD_FIELDS, "activities")},
    **{alias: f.name for f in FIELDS for alias in f.aliases},
    **dict.fromkeys(("first name", "firstname", "first", "given name"), "first_name"),
    **dict.fromkeys(("last name", "lastname", "last", "surname", "family name"), "last_name"),
    **dict.fromkeys(("lead status", "hs lead status"), "lead_status"),
}
# The column a --rejects file adds, last: ignored, so fixed rows re-import as they are. Anywhere
# else a `Reason` column is the file's own data (a custom field).
REJECTS_COLUMN = "reason"
# A cell may be this long (csv's default is 128 KiB): a longer notes cell is then rejected by
# validation, with its row, instead of stopping the CSV reader.
CSV_FIELD_LIMIT = 16 * 1024 * 1024
TEXT_FIELDS = frozenset((*(f.name for f in FIELDS if f.kind in ("text", "email")), "first_name", "last_name"))
TARGETS = (*LEAD_FIELDS, "activities", "first_name", "last_name", "lead_status")
BLANK_DATES = {"", "-", "n/a", "na", "none", "null", "never"}
# The engaged column: the yes/no words, or the status each answer stands for.
TRUE_WORDS = YES_WORDS | {"engaged"}
FALSE_WORDS = NO_WORDS | {"not engaged"}
# Day-first only with dots (26.11.2026); slashes are month-first, as US CRM exports write them.
DATE_FORMATS = (
    "%m/%d/%Y", "%m/%d/%y", "%d.%m.%Y", "%Y/%m/%d", "%d %b %Y", "%d %B %Y", "%b %d %Y", "%B %d %Y",
    "%b %d, %Y", "%B %d, %Y", "%d-%b-%Y", "%d-%b-%y",
)  # fmt: skip
NOT_UTF8 = 'the file is not UTF-8 text; save it as UTF-8 ("CSV UTF-8" in Excel)'
TIME_FORMATS = ("", " %H:%M", " %H:%M:%S", " %I:%M %p", " %I:%M:%S %p", " %I:%M%p")


def normalize_header(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", " ", text.lower()).strip()


def parse_maps(maps: Sequence[str]) -> dict[str, str]:
    """`--map SOURCE=FIELD` options: FIELD is a lead field, `fields.KEY` (a custom field), or `-`
    (ignore the column)."""
    out: dict[str, str] = {}
    for item in maps:
        source, sep, target = item.rpartition("=")
        target = target.strip()
        if not sep or not source.strip() or not target:
            raise InvalidInput(f"--map: expected SOURCE=FIELD, got {item!r}")
        if target.lower() in TARGETS:
            target = target.lower()  # Email=email; a custom field's KEY keeps its case
        elif target != "-" and not (target[:7].lower() == "fields." and target[7:].strip()):
            raise InvalidInput(f"--map: unknown field {target!r}; valid: {', '.join(TARGETS)}, fields.KEY or - (ignore)")
        elif target != "-":
            target = "fields." + target[7:].strip()
        out[source.strip()] = target
    return out


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


def parse_date(text: str, zone: tzinfo) -> datetime | None:
    """ISO dates and timestamps, and the common spreadsheet forms: 11/26/2026 (month first),
    26.11.2026, 26 Nov 2026, Nov 26, 2026, each with an optional time. No zone: `zone`."""
    raw = " ".join(text.split())
    if raw.lower() in BLANK_DATES:
        return None
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        value = None
        for date_format in DATE_FORMATS:
            for time_format in TIME_FORMATS:
                try:
                    value = datetime.strptime(raw, date_format + time_format)
                    break
                except ValueError:
                    continue
            if value is not None:
                break
    if value is None:
        raise ValueError(
            f"cannot read {text!r} as a date (use YYYY-MM-DD, an ISO timestamp, 11/26/2026 (month first), "
            "26.11.2026 or 26 Nov 2026)"
        )
    if value.tzinfo is None:
        value = value.replace(tzinfo=zone)
    try:
        return to_utc(value)
    except OverflowError:  # 0001-01-01 east of UTC, 9999-12-31 23:59 west of it
        raise ValueError(f"{text!r} is out of range (in UTC it falls outside the years 1-9999)") from None


# A file repeats its dates (a column of days, not instants): each distinct text is read once.
# Bounded, so memory stays flat however many distinct dates a file has; errors are not cached.
_parse_date_cached = functools.lru_cache(maxsize=4096)(parse_date)


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
        while first_line and not first_line.strip():
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
                    else:
                        yield Record(row, cells, list(zip(header, fixed, strict=True)))
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
        self.pos += 1
        if self.peek() == "]":
            return
        while True:
            if not self.peek():
                raise self._fail("it ends before its closing ]")
            yield self._value()
            sep = self.peek()
            if sep == "]":
                return
            if sep != ",":
                raise self._fail(f"expected , or ] but found {sep!r}" if sep else "it ends before its closing ]")
            self.pos += 1

    def objects(self) -> Iterator[Any]:
        self.array = False
        while self.peek():
            yield self._value()


# -- turning a record into lead fields -----------------------------------------------------------


@dataclass(slots=True)
class Row:
    record: Record
    email: str
    user: dict[str, Any]  # user-settable fields, validated
    system: dict[str, Any]  # id, timestamps, history, activities, version: kept as they came
    derived_status: bool = False  # `status` came from the engaged column, not a status column


class RowParser:
    def __init__(self, ws: Workspace, maps: dict[str, str], header: list[str] | None = None, *, decimal: str | None = None) -> None:
        self.ws = ws
        self.decimal = decimal  # the files's decimal mark, "." or ","; None: read from each number
        self.zone = ws.zone
        self.maps = {normalize_header(source): target for source, target in maps.items()}
        self.plans: dict[str, str] = {}
        rejects_column = header[-1] if header else REJECTS_COLUMN  # JSON: the key, wherever it is
        if normalize_header(rejects_column) == REJECTS_COLUMN and REJECTS_COLUMN not in self.maps:
            self.plans[rejects_column] = "-"
        self.stages: dict[str, str] = {}  # stage text as written -> the pipeline's stage
        # CSV/TSV (a header): a cell leadcli's export prefixed with ' against spreadsheet
        # formulas is read back without it (domain/text.py).
        self.spreadsheet = header is not None
        from leadcli.domain.validation import validate_changes

        self.validate = validate_changes

    def target(self, key: str) -> str:
        plan = self.plans.get(key)
        if plan is None:
            norm = normalize_header(key)
            if norm in self.maps:
                plan = self.maps[norm]
            elif key.startswith("fields.") and key[7:].strip():
                plan = "fields." + key[7:].strip()
            else:
                plan = ALIASES.get(norm) or ("fields." + key.strip() if key.strip() else "-")
            self.plans[key] = plan
        return plan

    def stage(self, text: str) -> str:
        """`Pipeline.match`, remembered: a file names the same few stages on every row. Only
        matches are kept (an unknown one raises each time), and at most 1,000 of them."""
        found = self.stages.get(text)
        if found is None:
            found = self.ws.pipeline.match(text)
            if len(self.stages) < 1000:
                self.stages[text] = found
        return found

    def parse(self, record: Record) -> Row:
        user: dict[str, Any] = {}
        system: dict[str, Any] = {}
        custom: dict[str, Any] = {}
        lead_status = None
        plans = self.plans
        for key, value in record.pairs:
            target = plans.get(key) or self.target(key)
            if target == "-" or value is None:
                continue
            if isinstance(value, str):  # the common case first: text, trimmed once
                if value[:1] == "'" and self.spreadsheet:
                    value = from_spreadsheet_safe(value)
                text = value.strip()
                if not text:
                    continue
                if target in TEXT_FIELDS:
                    user[target] = text
                    continue
                if target.startswith("fields."):
                    custom[target[7:]] = text
                    continue
                if target == "lead_status":
                    lead_status = text
                    continue
            elif target in TEXT_FIELDS:
                user[target] = _text(target, value)
                continue
            elif target.startswith("fields."):
                custom[target[7:]] = value
                continue
            elif target == "lead_status":
                lead_status = _text(target, value)
                continue
            self._convert(target, value, user, system)
        if lead_status is not None:
            try:
                user.setdefault("current_stage", self.stage(lead_status))
            except InvalidInput:
                user.setdefault("status", lead_status)
        first, last = user.pop("first_name", None), user.pop("last_name", None)
        if "name" not in user and (first or last):
            user["name"] = " ".join(p for p in (first, last) if p)
        if custom:
            user["fields"] = {**user.get("fields", {}), **custom}
        if "email" not in user:
            raise InvalidInput("email is required (an Email, Email Address or E-mail column)")
        stage = user.pop("current_stage", None)
        changes = self.validate(user)
        if stage is not None:
            changes["current_stage"] = stage
        status_given = "status" in changes
        reconcile_engagement(changes, names=("status", "engaged"))
        return Row(record, changes["email"], changes, system, derived_status=not status_given and "status" in changes)

    def _convert(self, target: str, value: Any, user: dict[str, Any], system: dict[str, Any]) -> None:
        """A cell (or JSON value) into the field `target`, by the field's kind in the schema:
        what users set goes to `user` (validated next), the system's fields to `system`."""
        if target == "activities":
            system[target] = self._entries(target, value, "at", ("type", "at", "by", "note"))
            return
        field = FIELD.get(target)
        if field is None:  # first_name, last_name, lead_status (text, read in `parse`)
            user[target] = _text(target, value)
            return
        kind = field.kind
        into = user if field.settable else system
        if kind in ("text", "email"):
            into[target] = _text(target, value)
        elif kind == "stage":
            into[target] = self.stage(_text("stage", value))
        elif kind == "bool":
            into[target] = _boolean(value)
        elif kind == "number":
            into[target] = _number(value, self.decimal)
        elif kind == "tags":
            into[target] = _tags(value)
        elif kind == "date":
            into[target] = self._date(target, value)
        elif kind == "custom":
            data = _json_value(target, value)
            if not isinstance(data, dict):
                raise InvalidInput(f"{target}: expected an object of custom fields")
            into[target] = data
        elif kind == "id":
            text = _text(target, value).lower()
            if not is_full_id(text):
                raise InvalidInput(f"{target}: {value!r} is not a leadcli id (24 hex characters)")
            into[target] = text
        elif kind == "version":
            try:
                version = int(value)
            except (TypeError, ValueError):
                version = -1
            # 0: a lead no leadcli has written yet (the Leads Artisan web app keeps no version);
            # it is inserted at version 1 like any new lead.
            if version < 0 or isinstance(value, bool):
                raise InvalidInput(f"{target}: {value!r} is not a whole number of 0 or more")
            into[target] = version
        elif kind == "history":
            into[target] = self._entries(target, value, "changed_at", ("from_stage", "to_stage", "changed_at", "by", "notes"))

    def _date(self, target: str, value: Any) -> datetime | None:
        if not isinstance(value, str):
            raise InvalidInput(f"{target}: expected a date, got {value!r}")
        try:
            return _parse_date_cached(value, self.zone)
        except ValueError as exc:
            raise InvalidInput(f"{target}: {exc}") from None

    def _entries(self, target: str, value: Any, stamp: str, keys: tuple[str, ...]) -> list[dict[str, Any]]:
        data = _json_value(target, value)
        if not isinstance(data, list):
            raise InvalidInput(f"{target}: expected a list")
        entries = []
        for n, item in enumerate(data, start=1):
            if not isinstance(item, dict) or not isinstance(item.get(stamp), str):
                raise InvalidInput(f"{target}: entry {n} needs {stamp!r} as an ISO timestamp")
            try:
                at = from_iso(item[stamp].replace("Z", "+00:00"))
            except (ValueError, OverflowError):
                raise InvalidInput(f"{target}: entry {n}: {item[stamp]!r} is not an ISO timestamp") from None
            extra = [k for k in item if k not in keys]
            bad = [k for k in keys if item.get(k) is not None and not isinstance(item[k], str)]
            if extra or bad:
                raise InvalidInput(f"{target}: entry {n}: unexpected {', '.join(extra + bad)}")
            for key in keys:
                limit = NOTE_LIMIT if key in ("notes", "note") else USER_LIMIT
                if key != stamp and isinstance(item.get(key), str) and len(item[key]) > limit:
                    raise InvalidInput(f"{target}: entry {n}: {key} has more than {limit:,} characters")
            entry = {k: item.get(k) for k in keys}
            entry[stamp] = at
            entries.append(entry)
        if target == "stage_history":
            for n, entry in enumerate(entries, start=1):
                if not entry["to_stage"]:
                    raise InvalidInput(f"stage_history: entry {n} has no to_stage")
        return entries


def _text(target: str, value: Any) -> str:
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    raise InvalidInput(f"{target}: expected text, got {value!r}")


def _boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    word = str(value).strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise InvalidInput(f"engaged: cannot read {value!r} as yes or no (yes/no, true/false, 1/0)")


def _number(value: Any, decimal: str | None = None) -> float:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            return float(value)
        except OverflowError:  # an integer past a double
            raise InvalidInput(f"value: {value} is too large") from None
    if not isinstance(value, str):
        raise InvalidInput(f"value: cannot read {value!r} as a number")
    try:
        return read_number(value, decimal)
    except ValueError as exc:
        raise InvalidInput(f"value: {exc}") from None


# Numbers as spreadsheets and CRMs write them: a currency symbol or ISO code before or after
# (`USD 1,000`, `€1.200,50`, `12.500,00 €`), digit groups of three split by `,` `.` spaces or `'`,
# and one decimal mark. The decimal mark is what `--decimal-comma` / `--decimal-point` say;
# without either it is read from the number when only one reading is possible, and a number
# that reads two ways is refused with both readings, never guessed:
#   1,000 -> 1000 (a comma then three digits: US grouping, the common case)
#   12,5 -> refused (a decimal comma? say --decimal-comma)
#   1.200 -> refused (1.2, or 1200 with a European grouping dot?)
#   1.234,56 / 1,234.56 -> both marks: the last one is the decimal mark
_SYMBOLS = "$€£¥₹₽₩₺₪฿₫₴₦₱¢"
_AFFIX = rf"(?:[A-Z]{{3}}|[A-Z]{{1,2}}[{_SYMBOLS}]|[{_SYMBOLS}])"  # USD, US$, R$, €
_NUMBER_CELL = re.compile(
    rf"(?:{_AFFIX}\s*)?(?P<sign>[-+])?\s*(?:[{_SYMBOLS}]\s*)?(?P<num>\d[\d.,' \u00a0\u202f\u2009]*?)(?:\s*{_AFFIX})?"
)
_SCIENTIFIC = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)[eE][-+]?\d+")
_GROUP_SPACES = re.compile(r"[' \u00a0\u202f\u2009]")
_PLAIN_INTEGER = re.compile(r"\d{1,15}")
DECIMAL_HINT = "pass --decimal-comma if the file writes 1.234,56, --decimal-point if it writes 1,234.56"


def read_number(cell: str, decimal: str | None = None) -> float:
    """`cell` as a number (see above); ValueError saying why not. `decimal`: "." or ",", or
    None to read the mark from each number when only one reading is possible."""
    text = cell.strip()
    if _PLAIN_INTEGER.fullmatch(text):  # most cells: no marks at all
        return float(text)
    if _SCIENTIFIC.fullmatch(text):
        return float(text)
    match = _NUMBER_CELL.fullmatch(text)
    if match is None:
        raise ValueError(f"cannot read {cell!r} as a number")
    body = _GROUP_SPACES.sub("_", match["num"])
    mark, group = _marks(cell, body, decimal)
    whole, _, fraction = body.partition(mark) if mark else (body, "", "")
    groups = re.split("[_" + re.escape(group or "_") + "]", whole)
    if len(groups) > 1 and (not 1 <= len(groups[0]) <= 3 or any(len(g) != 3 for g in groups[1:])):
        raise ValueError(f"cannot read {cell!r} as a number: its digit groups are not groups of three")
    if mark and not fraction.isdigit():
        raise ValueError(f"cannot read {cell!r} as a number")
    number = float("".join(groups) + ("." + fraction if mark else ""))
    return -number if match["sign"] == "-" else number


def _marks(cell: str, body: str, decimal: str | None) -> tuple[str | None, str | None]:
    """(decimal mark, grouping mark) of one number; ValueError when it reads two ways."""
    dots, commas = body.count("."), body.count(",")
    if dots and commas:
        mark = "." if body.rfind(".") > body.rfind(",") else ","
        if body.count(mark) > 1 or (decimal is not None and decimal != mark):
            said = f"; the import reads {decimal!r} as the decimal mark" if decimal and decimal != mark else ""
            raise ValueError(f"cannot read {cell!r} as a number: its marks are not consistent{said}")
        return mark, ("," if mark == "." else ".")
    if not dots and not commas:
        return None, None
    sep = "." if dots else ","
    if body.count(sep) > 1:  # 1.200.000: only grouping repeats
        if decimal == sep:
            raise ValueError(f"cannot read {cell!r} as a number: {sep!r} is the decimal mark and appears more than once")
        return None, sep
    if decimal == sep:
        return sep, None
    if decimal is not None:  # the other mark is the decimal one: this one groups
        return None, sep
    if "_" in body:  # grouped by spaces or ': the one mark there is is the decimal one (1 234,56)
        return sep, None
    head, tail = body.split(sep)
    grouped = len(tail) == 3 and 1 <= len(head.split("_")[-1]) <= 3 and not head.startswith("0")
    if sep == "," and grouped:
        return None, ","  # 1,000
    if sep == "." and not grouped:
        return ".", None  # 12.5, 0.125, 1234.567
    if sep == ",":
        raise ValueError(f"{cell!r} has a decimal comma or a misplaced grouping comma; {DECIMAL_HINT}")
    whole = head.replace("_", "")
    raise ValueError(f"{cell!r} reads as {float(whole + '.' + tail):g} or as {whole}{tail}; {DECIMAL_HINT}")


def _tags(value: Any) -> list[str]:
    if isinstance(value, list):
        return [_text("tags", v) for v in value]
    text = _text("tags", value)
    if text.startswith("["):
        data = _json_value("tags", text)
        if isinstance(data, list):
            return [_text("tags", v) for v in data]
    return [t.strip() for t in re.split(r"[,;]", text) if t.strip()]


def _json_value(target: str, value: Any) -> Any:
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except json.JSONDecodeError:
        raise InvalidInput(f"{target}: not valid JSON") from None
    except (ValueError, RecursionError) as exc:
        raise InvalidInput(f"{target}: {unreadable_json(exc)}") from None


# -- writing -------------------------------------------------------------------------------------


@dataclass
class Summary:
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    rows: int = 0


@dataclass
class Rejected:
    row: int
    raw: Any
    reason: str


class _GcOff:
    """While importing, the cyclic garbage collector would walk every object of the process
    (Typer's, pydantic's…) and every row of the batch in hand again and again as rows are made:
    ~15% of an import's CPU, still ~8% with rarer passes (perf). The objects alive at the start
    are set aside (gc.freeze) and the collector is off until the import ends: rows make no
    reference cycles, refcounting frees them (a 20,000-row file with 16,000 rejected rows left
    139 unreachable objects in all), so memory stays flat. Undone at the end."""

    def __init__(self) -> None:
        self.enabled = gc.isenabled()
        gc.freeze()
        gc.disable()

    def end(self) -> None:
        if self.enabled:
            gc.enable()
        gc.unfreeze()


class Importer:
    """Runs one import. `run()` yields each rejected row as it is found (the caller reports it
    and may write it to a rejects file); `summary` holds the counts."""

    def __init__(
        self,
        ws: Workspace,
        source: Source,
        *,
        maps: dict[str, str] | None = None,
        upsert: bool = False,
        dry_run: bool = False,
        batch_size: int = BATCH_SIZE,
        on_batch: Callable[[Summary, int], None] | None = None,
        decimal: str | None = None,
    ) -> None:
        self.ws = ws
        self.source = source
        self.maps = maps or {}
        self.upsert = upsert
        self.dry_run = dry_run
        self.batch_size = batch_size
        self.on_batch = on_batch
        self.summary = Summary()
        self.parser = RowParser(ws, self.maps, source.header, decimal=decimal)
        from leadcli.domain.validation import check_lead_size

        self.check_size = check_lead_size
        self._drafts: Drafts | None = None
        self._check_maps()

    def _check_maps(self) -> None:
        if self.source.header is None:
            return
        present = {normalize_header(h) for h in self.source.header}
        missing = [source for source in self.maps if normalize_header(source) not in present]
        if missing:
            raise InvalidInput(f"--map: no column {missing[0]!r} in the file; columns: {', '.join(self.source.header)}")

    def run(self) -> Iterator[Rejected]:
        """Rejected rows come out in row order, a batch at a time."""
        seen = FirstRows()
        self._drafts = Drafts() if self.dry_run and self.upsert else None
        gc_off = _GcOff()
        try:
            batch: list[Row] = []
            held: list[Rejected] = []  # rejected while reading this batch
            pending: dict[str, int] = {}
            for record in self.source.records():
                self.summary.rows += 1
                if record.error:
                    held.append(self._reject(record.row, record.raw, record.error))
                    continue
                try:
                    row = self.parser.parse(record)
                except InvalidInput as exc:
                    held.append(self._reject(record.row, record.raw, exc.message))
                    continue
                if row.email in pending:
                    if not self.upsert:
                        reason = f"duplicate of row {pending[row.email]} (email {row.email})"
                        held.append(self._reject(record.row, record.raw, reason))
                        continue
                    yield from self._flush(batch, held, seen)  # the later row updates what the earlier one wrote
                    batch, held, pending = [], [], {}
                batch.append(row)
                pending[row.email] = record.row
                if len(batch) >= self.batch_size:
                    yield from self._flush(batch, held, seen)
                    batch, held, pending = [], [], {}
            yield from self._flush(batch, held, seen)
        finally:
            gc_off.end()
            seen.close()
            if self._drafts is not None:
                self._drafts.close()

    def _flush(self, batch: list[Row], held: list[Rejected], seen: FirstRows) -> Iterator[Rejected]:
        rejected = held + list(self._write_batch(batch, seen))
        yield from sorted(rejected, key=lambda r: r.row)
        if self.on_batch:
            self.on_batch(self.summary, self.source.bytes_read)

    def _reject(self, row: int, raw: Any, reason: str) -> Rejected:
        self.summary.rejected += 1
        return Rejected(row, raw, reason)

    def _write_batch(self, batch: list[Row], seen: FirstRows) -> Iterator[Rejected]:
        if not batch:
            return
        store = self.ws.store
        emails = [row.email for row in batch]
        earlier = {} if self.upsert else seen.rows(emails)
        existing = {lead["email"].lower(): lead for lead in store.find_by_emails(emails)}
        if self._drafts is not None:  # a dry run: what the rows before these would have written
            existing.update(self._drafts.get(emails))
        ids = tuple(row.system["id"] for row in batch if "id" in row.system)
        by_id = {lead["id"]: lead for lead in store.query(LeadQuery(ids=ids))} if ids else {}
        now = now_utc()
        inserts: list[tuple[Row, Lead]] = []
        updates: list[tuple[Row, Lead, Lead]] = []
        for row in batch:
            current = existing.get(row.email)
            owner = by_id.get(row.system.get("id", ""))
            if row.email in earlier:
                yield self._reject(row.record.row, row.record.raw, f"duplicate of row {earlier[row.email]} (email {row.email})")
            elif owner is not None and owner["email"] != row.email:
                reason = f"id {owner['id']} belongs to another lead ({owner['email']})"
                yield self._reject(row.record.row, row.record.raw, reason)
            elif current is None:
                if not row.user.get("name"):
                    yield self._reject(row.record.row, row.record.raw, "name is required (a Name column, or First Name and Last Name)")
                    continue
                try:
                    inserts.append((row, fit_for_store(self.ws, self._new_lead(row, now), "column")))
                except InvalidInput as exc:  # over a size limit, or a lead the web app sharing the store could not read
                    yield self._reject(row.record.row, row.record.raw, exc.message)
            elif not self.upsert:
                reason = f"a lead with email {row.email} already exists (id {current['id']}); use --upsert to update it"
                yield self._reject(row.record.row, row.record.raw, reason)
            else:
                try:
                    draft = self._apply(row, current, now)
                except InvalidInput as exc:  # over a size limit
                    yield self._reject(row.record.row, row.record.raw, exc.message)
                    continue
                if draft is None:
                    self.summary.unchanged += 1
                    continue
                try:
                    updates.append((row, current, fit_for_store(self.ws, draft, "column")))
                except InvalidInput as exc:
                    yield self._reject(row.record.row, row.record.raw, exc.message)
        if not self.dry_run:
            yield from self._write(inserts, updates, now)
        else:
            self.summary.inserted += len(inserts)
            self.summary.updated += len(updates)
            if self._drafts is not None:
                self._drafts.put([lead for _, lead in inserts] + [draft for _, _, draft in updates])
        if not self.upsert:
            seen.add([(row.email, row.record.row) for row, _ in inserts])

    def _write(self, inserts: list[tuple[Row, Lead]], updates: list[tuple[Row, Lead, Lead]], now: datetime) -> Iterator[Rejected]:
        user = self.ws.user
        results = self.ws.store.write_batch(
            [(lead, {"type": "lead_created", "by": user, "at": now, "changes": {}}) for _, lead in inserts],
            [
                (draft, before["version"], {"type": _event_type(changes), "by": user, "at": now, "changes": changes})
                for _, before, draft in updates
                for changes in [diff(before, draft)]
            ],
        )
        for (row, _), error in zip(inserts, results[: len(inserts)], strict=True):
            if error is None:
                self.summary.inserted += 1
            else:
                yield self._reject(row.record.row, row.record.raw, _message(error))
        for (row, before, _), error in zip(updates, results[len(inserts) :], strict=True):
            if error is None:
                self.summary.updated += 1
            elif isinstance(error, VersionConflict):  # changed meanwhile: re-read and retry alone
                try:
                    _, changed = update_lead(self.ws, before["id"], functools.partial(self._apply, row))
                except LeadError as exc:
                    yield self._reject(row.record.row, row.record.raw, exc.message)
                    continue
                if changed:
                    self.summary.updated += 1
                else:
                    self.summary.unchanged += 1
            else:
                yield self._reject(row.record.row, row.record.raw, _message(error))

    def _new_lead(self, row: Row, now: datetime) -> Lead:
        user, system = row.user, row.system
        stage = user.get("current_stage") or self.ws.pipeline.first
        created = system.get("created_at") or now
        lead: Lead = new_lead(
            None, None, stage, created, self.ws.user,
            id=system.get("id"), stage_updated_at=system.get("stage_updated_at") or created,
            updated_at=system.get("updated_at") or now, version=system.get("version") or 1,
        )  # fmt: skip
        if "stage_history" in system:
            lead["stage_history"] = system["stage_history"]
            if "stage_updated_at" not in system:  # a Leads Artisan lead has none: its history says
                lead["stage_updated_at"] = stage_since({**lead, "stage_updated_at": None}) or created
        if "activities" in system:
            lead["activities"] = system["activities"]
        for key, value in user.items():
            if value is not None and key != "current_stage":
                lead[key] = value
        self.check_size(lead)
        return lead

    def _same_day(self, value: Any, stored: Any) -> bool:
        """`value` is a bare day (midnight in the import's zone) that `stored` falls on."""
        if not isinstance(value, datetime) or not isinstance(stored, datetime):
            return False
        local, kept = value.astimezone(self.ws.zone), stored.astimezone(self.ws.zone)
        return local.time() == time(0) and local.date() == kept.date() and value != stored

    def _apply(self, row: Row, lead: Lead, now: datetime) -> Lead | None:
        """`lead` with the row's fields over it (blank cells change nothing), or None if that
        changes nothing. Ids, timestamps and history of the stored lead are kept."""
        draft = {**lead, "fields": dict(lead.get("fields") or {})}
        for key, value in row.user.items():
            if key == "fields":
                draft["fields"].update(value)
            elif key == "email" and str(lead.get("email", "")).lower() == value:
                continue  # the address it matched: keep the stored spelling (another app's may keep case)
            elif key == "status" and row.derived_status and row.user.get("engaged") == lead.get("engaged"):
                continue  # engagement unchanged: a status of the lead's own stays
            elif key == "last_contacted" and self._same_day(value, lead.get("last_contacted")):
                continue  # a day only (the web app's export) on the stored moment's day: keep the moment
            elif key != "current_stage" and value is not None:
                draft[key] = value
        stage = row.user.get("current_stage")
        if stage is not None and stage != lead.get("current_stage"):
            set_stage(draft, stage, now, self.ws.user)
        if draft == lead:
            return None
        draft["updated_at"] = now
        self.check_size(draft)
        return draft


def _event_type(changes: dict[str, Any]) -> str:
    return "lead_stage_changed" if "current_stage" in changes else "lead_updated"


def _message(error: Exception) -> str:
    return error.message if isinstance(error, (Conflict, LeadError)) else str(error)
