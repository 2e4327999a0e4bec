"""Validation of what users type or import: one place that knows each field's rules (the
pydantic model in lead_model.py), a fast path for plain values, and one-line messages that
name the field."""

from __future__ import annotations

import functools
import math
import re
from datetime import datetime
from typing import Any

from leadcli.domain.dates import to_utc
from leadcli.domain.errors import InvalidInput
from leadcli.domain.schema import SETTABLE
from leadcli.domain.text import NOTE_LIMIT, TAG_LIMIT, encodable


def unique_tags(tags: list[str]) -> list[str]:
    out: list[str] = []
    for tag in tags:
        tag = tag.strip()
        if tag and tag not in out:
            out.append(tag)
    return out


def normalize_email(value: str) -> str:
    """Trimmed, validated, lowercased; raises ValueError with the validator's reason."""
    text = value.strip()
    local, _, domain = text.rpartition("@")
    # Fast path for the common case (bulk imports validate thousands): a plain dot-atom local
    # part is valid by the regex alone, and the domain's verdict is cached. Anything unusual
    # goes through the full validator.
    if len(text) <= 254 and _PLAIN_LOCAL.fullmatch(local) and _domain_is_valid(domain.lower()):
        return text.lower()
    _validate_email(text)
    return text.lower()


_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_PLAIN_LOCAL = re.compile(r"(?=.{1,64}$)" + _ATEXT + r"(?:\." + _ATEXT + ")*")


def _validate_email(text: str) -> None:
    from email_validator import EmailNotValidError, validate_email

    try:
        validate_email(text, check_deliverability=False, allow_smtputf8=True)
    except EmailNotValidError as exc:
        raise ValueError(f"{text!r} is not a valid email address: {exc}") from None


@functools.lru_cache(maxsize=4096)
def _domain_is_valid(domain: str) -> bool:
    try:
        _validate_email("a@" + domain)
    except ValueError:
        return False
    return True


def validate_changes(data: dict[str, Any]) -> dict[str, Any]:
    """Check user-supplied fields; returns only the keys given, normalized. InvalidInput (exit
    2) lists every bad field on one line."""
    plain = plain_changes(data)
    if plain is not None:
        return plain
    from pydantic import ValidationError

    from leadcli.domain.lead_model import LeadChanges, describe_validation_error

    try:
        model = LeadChanges.model_validate(data)
    except ValidationError as exc:
        raise InvalidInput(describe_validation_error(exc)) from None
    return model.model_dump(include=set(data))


INT64 = 1 << 63  # custom-field integers fit a signed 64-bit int, as BSON and orjson hold them
# Every value has a size both stores can hold, checked on every way in (add, edit, --json, log,
# move, import): a 100 MB custom field was accepted, and a lead over MongoDB's 16 MB document
# limit could never be written (or, imported into SQLite, never be edited on MongoDB).
# Text fields: their `max_length` in the schema (domain/schema.py); NOTE_LIMIT (domain/text.py):
# a history or activity note, a custom field's text (as `notes`).
MAX_TAGS = 100  # TAG_LIMIT, USER_LIMIT (--user): domain/text.py
FIELD_NAME_LIMIT, MAX_FIELDS = 100, 100
MAX_VALUE = 10**15  # a deal value; a million leads at the most still sum to a finite number
# A whole lead as JSON (UTF-8 bytes). An update's event holds the lead and the changed fields'
# old and new values, so an event stays under MongoDB's 16 MB too; fields alone top out at
# ~1 MB of characters, so what reaches this is history and activities piling up.
LEAD_BYTES = 4 * 1024 * 1024
# The settable fields in the schema's order (LeadChanges' and model_dump's order).
FIELD_ORDER = tuple(f.name for f in SETTABLE)

# (field, kind, length limit): text fields their schema limit, a stage unbounded.
_PLAIN = tuple(
    (f.name, "text" if f.kind in ("text", "stage") else f.kind, f.max_length if f.max_length is not None else float("inf"))
    for f in SETTABLE
)


def plain_changes(data: dict[str, Any]) -> dict[str, Any] | None:
    """What `validate_changes` returns, for the common case that needs no conversion: text
    already trimmed and within its limit, exact types, a valid plain email. None for anything
    else, which then goes through LeadChanges (and gets its message). An import validates every
    row, and this is ~10x cheaper than a model; both read each field's kind and limit from the
    schema, and a property test holds this to the model's answers."""
    out: dict[str, Any] = {}
    for key, kind, limit in _PLAIN:  # model_dump's order
        if key not in data:
            continue
        value = data[key]
        if value is None:
            out[key] = None
            continue
        if kind == "text":
            # _plain_text inlined (the hottest check of an import): exact str, non-empty,
            # trimmed, within the limit, printable (no control characters, no line breaks),
            # encodable
            if (
                type(value) is not str
                or not value
                or len(value) > limit
                or value != value.strip()
                or not value.isprintable()
                or (not value.isascii() and not encodable(value))
            ):
                return None
            out[key] = value
        elif kind == "email":
            if not _plain_text(value):
                return None
            try:
                out[key] = normalize_email(value)
            except ValueError:
                return None
        elif kind == "bool":
            if type(value) is not bool:
                return None
            out[key] = value
        elif kind == "number":
            if type(value) is not float or not 0 <= value <= MAX_VALUE:
                return None
            out[key] = value
        elif kind == "tags":
            if type(value) is not list or len(value) > MAX_TAGS or not all(_plain_text(tag) and len(tag) <= TAG_LIMIT for tag in value):
                return None
            out[key] = unique_tags(value)
        elif kind == "date":
            if type(value) is not datetime:
                return None
            out[key] = to_utc(value)
        elif kind == "custom":
            if (
                type(value) is not dict
                or len(value) > MAX_FIELDS
                or not all(_plain_text(k) and len(k) <= FIELD_NAME_LIMIT and _plain_field_value(v) for k, v in value.items())
            ):
                return None
            out[key] = dict(value)
        else:
            return None  # a kind only the model knows
    return out if len(out) == len(data) else None  # else a key that is not a field: the model says so


def _plain_text(value: Any) -> bool:
    """A non-empty str that trimming would not change, printable (no control characters or line
    breaks: those go to the model, which knows where they are allowed), and that pydantic reads
    as it is (no lone surrogates)."""
    if type(value) is not str or not value or value != value.strip() or not value.isprintable():
        return False
    return value.isascii() or encodable(value)


def _plain_field_value(value: Any) -> bool:
    kind = type(value)
    if kind is str:
        return len(value) <= NOTE_LIMIT and _plain_text(value)
    if kind is int:
        return -INT64 <= value < INT64
    if kind is float:
        return math.isfinite(value)  # NaN and infinity are not JSON: the model refuses them
    return value is None or kind is bool


def check_lead_size(lead: dict[str, Any]) -> None:
    """Exit 2 if the lead as a whole would be larger than LEAD_BYTES, or hold more tags or custom
    fields than allowed (an `edit --add-tag` or an import's history can get there)."""
    tags, fields = lead.get("tags") or (), lead.get("fields") or {}
    if len(tags) > MAX_TAGS:
        raise InvalidInput(f"tags: a lead holds at most {MAX_TAGS} tags, this one would have {len(tags)}")
    if len(fields) > MAX_FIELDS:
        raise InvalidInput(f"fields: a lead holds at most {MAX_FIELDS} custom fields, this one would have {len(fields)}")
    if _rough_chars(lead) * 4 + 65_536 <= LEAD_BYTES:
        return  # far below the limit whatever its characters: no need to encode it
    import orjson

    from leadcli.domain.lead import to_jsonable

    size = len(orjson.dumps(to_jsonable(lead)))
    if size > LEAD_BYTES:
        raise InvalidInput(
            f"the lead would be {size / 1048576:.1f} MB, over the {LEAD_BYTES // 1048576} MB a lead may hold "
            "(its history, activities, notes and custom fields together)"
        )


def _rough_chars(lead: dict[str, Any]) -> int:
    """An upper bound of the characters of a lead's long parts (each fixed part is small)."""
    total = len(lead.get("notes") or "")
    for key, value in (lead.get("fields") or {}).items():
        total += len(key) + (len(value) if type(value) is str else 32)
    for entries in (lead.get("stage_history") or (), lead.get("activities") or ()):
        total += 400 * len(entries)
        for entry in entries:
            for item in entry.values():
                if type(item) is str:
                    total += len(item)
    return total
