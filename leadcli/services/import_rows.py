"""Turning an import record into lead fields: column names (the schema's names and aliases,
`--map`), then each value converted by its field's kind (domain/schema.py): dates as
spreadsheets write them, numbers with their currency and decimal marks, yes/no words, tags,
JSON entries; then validated as `add` validates. Used by services/importer.py."""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any

from leadcli.domain.dates import from_iso, to_utc
from leadcli.domain.errors import InvalidInput
from leadcli.domain.lead import LEAD_FIELDS, is_full_id
from leadcli.domain.schema import FIELD, FIELDS
from leadcli.domain.text import NO_WORDS, NOTE_LIMIT, USER_LIMIT, YES_WORDS, from_spreadsheet_safe
from leadcli.services.context import Workspace
from leadcli.services.import_files import Record, normalize_header, unreadable_json
from leadcli.services.leads import reconcile_engagement

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
TEXT_FIELDS = frozenset((*(f.name for f in FIELDS if f.kind in ("text", "email")), "first_name", "last_name"))
TARGETS = (*LEAD_FIELDS, "activities", "first_name", "last_name", "lead_status")
_SKIP, _TEXT, _CUSTOM, _STATUS, _CONVERT = range(5)  # RowParser.action
BLANK_DATES = {"", "-", "n/a", "na", "none", "null", "never"}
# The engaged column: the yes/no words, or the status each answer stands for.
TRUE_WORDS = YES_WORDS | {"engaged"}
FALSE_WORDS = NO_WORDS | {"not engaged"}
# Day-first only with dots (26.11.2026); slashes are month-first, as US CRM exports write them.
DATE_FORMATS = (
    "%m/%d/%Y", "%m/%d/%y", "%d.%m.%Y", "%Y/%m/%d", "%d %b %Y", "%d %B %Y", "%b %d %Y", "%B %d %Y",
    "%b %d, %Y", "%B %d, %Y", "%d-%b-%Y", "%d-%b-%y",
)  # fmt: skip
TIME_FORMATS = ("", " %H:%M", " %H:%M:%S", " %I:%M %p", " %I:%M:%S %p", " %I:%M%p")


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
        # Each key (a CSV column, a JSON key) -> what parse does with its value, worked out once
        # per key rather than once per cell: (_TEXT, field), (_CUSTOM, key), (_STATUS, ""),
        # (_CONVERT, field: by its kind in the schema) or (_SKIP, "").
        self.actions: dict[str, tuple[int, str]] = {}
        self.converters: dict[str, tuple[bool, Callable[[Any], Any]]] = {}  # field -> _converter's answer
        rejects_column = header[-1] if header else REJECTS_COLUMN  # JSON: the key, wherever it is
        if normalize_header(rejects_column) == REJECTS_COLUMN and REJECTS_COLUMN not in self.maps:
            self.plans[rejects_column] = "-"
        self.stages: dict[str, str] = {}  # stage text as written -> the pipeline's stage
        # CSV/TSV (a header): a cell leadcli's export prefixed with ' against spreadsheet
        # formulas is read back without it (domain/text.py).
        self.spreadsheet = header is not None
        # Targets two or more columns fill (`Email` twice, `Email` and `E-mail`), with those
        # columns' positions: a row where they differ is rejected rather than one value dropped.
        columns: dict[str, list[int]] = {}
        for i, key in enumerate(header or ()):
            if (plan := self.target(key)) != "-":
                columns.setdefault(plan, []).append(i)
        self.shared = {plan: found for plan, found in columns.items() if len(found) > 1}
        # Columns without a name: a value under one has no field to go to (as one past the last column).
        self.unnamed = [i for i, key in enumerate(header or ()) if not key.strip()]
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

    def action(self, key: str) -> tuple[int, str]:
        found = self.actions.get(key)
        if found is None:
            target = self.target(key)
            if target == "-":
                found = (_SKIP, "")
            elif target in TEXT_FIELDS:
                found = (_TEXT, target)
            elif target.startswith("fields."):
                found = (_CUSTOM, target[7:])
            elif target == "lead_status":
                found = (_STATUS, "")
            else:
                found = (_CONVERT, target)
            self.actions[key] = found
        return found

    def parse(self, record: Record) -> Row:
        if self.shared:
            self._check_shared(record.pairs)
        for i in self.unnamed:
            if i < len(record.pairs) and isinstance(value := record.pairs[i][1], str) and value.strip():
                shown = value.strip() if len(value.strip()) <= 40 else value.strip()[:40] + "…"
                raise InvalidInput(f"column {i + 1} has no name in the header but holds {shown!r}; name it or empty it")
        user: dict[str, Any] = {}
        system: dict[str, Any] = {}
        custom: dict[str, Any] = {}
        lead_status = None
        actions = self.actions
        spreadsheet = self.spreadsheet
        for key, value in record.pairs:
            action, name = actions.get(key) or self.action(key)
            if action == _SKIP or value is None:
                continue
            if isinstance(value, str):  # the common case first: text, trimmed once
                if spreadsheet and value[:1] == "'":
                    value = from_spreadsheet_safe(value)
                text = value.strip()
                if not text:
                    continue
                if action == _TEXT:
                    user[name] = text
                elif action == _CUSTOM:
                    custom[name] = text
                elif action == _STATUS:
                    lead_status = text
                else:
                    self._convert(name, value, user, system)
            elif action == _TEXT:
                user[name] = _text(name, value)
            elif action == _CUSTOM:
                custom[name] = value
            elif action == _STATUS:
                lead_status = _text("lead_status", value)
            else:
                self._convert(name, value, user, system)
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

    def _check_shared(self, pairs: list[tuple[str, Any]]) -> None:
        """InvalidInput when two columns filling one field hold different values in this row."""
        for plan, found in self.shared.items():
            given: dict[str, str] = {}  # value (as parse reads it) -> its first column
            for i in found:
                if i < len(pairs) and isinstance(pairs[i][1], str):
                    key, value = pairs[i]
                    text = (from_spreadsheet_safe(value) if value[:1] == "'" else value).strip()
                    if text:
                        given.setdefault(text, key)
            if len(given) > 1:
                (first, a), (second, b) = list(given.items())[:2]
                raise InvalidInput(f"columns {a!r} and {b!r} both give {plan}, with different values: {first!r} and {second!r}")

    def _convert(self, target: str, value: Any, user: dict[str, Any], system: dict[str, Any]) -> None:
        """A cell (or JSON value) into the field `target`, by the field's kind in the schema:
        what users set goes to `user` (validated next), the system's fields to `system`."""
        found = self.converters.get(target)
        if found is None:
            found = self.converters[target] = self._converter(target)
        settable, convert = found
        (user if settable else system)[target] = convert(value)

    def _converter(self, target: str) -> tuple[bool, Callable[[Any], Any]]:
        """(whether users set it, the function reading its values): chosen once per field, by
        its kind in the schema."""
        if target == "activities":
            return False, lambda value: self._entries(target, value, "at", ("type", "at", "by", "note"))
        field = FIELD.get(target)
        if field is None:  # first_name, last_name, lead_status (text, read in `parse`)
            return True, functools.partial(_text, target)
        kind = field.kind
        convert: Callable[[Any], Any]
        if kind in ("text", "email"):
            convert = functools.partial(_text, target)
        elif kind == "stage":
            convert = lambda value: self.stage(_text("stage", value))  # noqa: E731
        elif kind == "bool":
            convert = _boolean
        elif kind == "number":
            convert = lambda value: _number(value, self.decimal)  # noqa: E731
        elif kind == "tags":
            convert = _tags
        elif kind == "date":
            convert = functools.partial(self._date, target)
        elif kind == "custom":
            convert = functools.partial(_custom, target)
        elif kind == "id":
            convert = functools.partial(_id, target)
        elif kind == "version":
            convert = functools.partial(_version, target)
        elif kind == "history":
            convert = lambda value: self._entries(target, value, "changed_at", ("from_stage", "to_stage", "changed_at", "by", "notes"))  # noqa: E731
        else:
            raise AssertionError(f"{target}: no import reading for kind {kind!r}")
        return field.settable, convert

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


def _custom(target: str, value: Any) -> dict[str, Any]:
    data = _json_value(target, value)
    if not isinstance(data, dict):
        raise InvalidInput(f"{target}: expected an object of custom fields")
    return data


def _id(target: str, value: Any) -> str:
    text = _text(target, value).lower()
    if not is_full_id(text):
        raise InvalidInput(f"{target}: {value!r} is not a leadcli id (24 hex characters)")
    return text


# A version both stores hold (64-bit integers) with room for every later edit, and every JSON
# reader reads exactly (2**53).
VERSION_LIMIT = 1 << 53


def _version(target: str, value: Any) -> int:
    try:
        version = int(value)
    except (TypeError, ValueError, OverflowError):  # OverflowError: 1e400, read as infinity
        version = -1
    # 0: a lead no leadcli has written yet (the Leads Artisan web app keeps no version);
    # it is inserted at version 1 like any new lead.
    if version < 0 or isinstance(value, bool):
        raise InvalidInput(f"{target}: {value!r} is not a whole number of 0 or more")
    if version > VERSION_LIMIT:  # else the store's write fails and ends the whole import
        raise InvalidInput(f"{target}: {value!r} is more than {VERSION_LIMIT:,}")
    return version


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

