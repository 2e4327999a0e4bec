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


# The text fields' length limits, as LeadChanges declares them.
TEXT_LIMITS = {"name": 100, "company": 200, "phone": 50, "status": 50, "owner": 100, "source": 100, "notes": 10_000}
INT64 = 1 << 63  # custom-field integers fit a signed 64-bit int, as BSON and orjson hold them
# LeadChanges' fields in its order (model_dump's); a test checks they agree.
FIELD_ORDER = (
    "name", "email", "company", "phone", "status", "engaged", "current_stage", "owner", "source",
    "tags", "value", "notes", "follow_up_at", "last_contacted", "fields",
)  # fmt: skip


# (field, its length limit): text fields, current_stage unbounded; None for the others.
_ORDER_AND_LIMITS = tuple(
    (key, TEXT_LIMITS.get(key, float("inf") if key == "current_stage" else None)) for key in FIELD_ORDER
)


def plain_changes(data: dict[str, Any]) -> dict[str, Any] | None:
    """What `validate_changes` returns, for the common case that needs no conversion: text
    already trimmed and within its limit, exact types, a valid plain email. None for anything
    else, which then goes through LeadChanges (and gets its message). An import validates every
    row, and this is ~10x cheaper than a model; a property test holds it to the model's answers."""
    out: dict[str, Any] = {}
    for key, limit in _ORDER_AND_LIMITS:  # model_dump's order
        if key not in data:
            continue
        value = data[key]
        if value is None:
            out[key] = None
            continue
        if limit is not None:
            # _plain_text inlined (the hottest check of an import): exact str, non-empty,
            # trimmed, within the limit, printable (no control characters, no line breaks),
            # encodable
            if (
                type(value) is not str
                or not value
                or len(value) > limit
                or value != value.strip()
                or not value.isprintable()
                or (not value.isascii() and not _encodable(value))
            ):
                return None
            out[key] = value
        elif key == "email":
            if not _plain_text(value):
                return None
            try:
                out[key] = normalize_email(value)
            except ValueError:
                return None
        elif key == "engaged":
            if type(value) is not bool:
                return None
            out[key] = value
        elif key == "value":
            if type(value) is not float or not 0 <= value < float("inf"):
                return None
            out[key] = value
        elif key == "tags":
            if type(value) is not list or not all(_plain_text(tag) for tag in value):
                return None
            out[key] = unique_tags(value)
        elif key in ("follow_up_at", "last_contacted"):
            if type(value) is not datetime:
                return None
            out[key] = to_utc(value)
        elif key == "fields":
            if type(value) is not dict or not all(_plain_text(k) and _plain_field_value(v) for k, v in value.items()):
                return None
            out[key] = dict(value)
    return out if len(out) == len(data) else None  # else a key that is not a field: the model says so


def _plain_text(value: Any) -> bool:
    """A non-empty str that trimming would not change, printable (no control characters or line
    breaks: those go to the model, which knows where they are allowed), and that pydantic reads
    as it is (no lone surrogates)."""
    if type(value) is not str or not value or value != value.strip() or not value.isprintable():
        return False
    return value.isascii() or _encodable(value)


def _encodable(value: str) -> bool:
    """No lone surrogates (pydantic cannot read them)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _plain_field_value(value: Any) -> bool:
    kind = type(value)
    if kind is str:
        return _plain_text(value)
    if kind is int:
        return -INT64 <= value < INT64
    if kind is float:
        return math.isfinite(value)  # NaN and infinity are not JSON: the model refuses them
    return value is None or kind is bool
