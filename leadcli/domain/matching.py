"""A LeadQuery's filters applied to one lead in Python, for events that are not in a store
(`watch` filters the event's lead). Same semantics as the stores' translations: stages any-of,
tags all-of, status/owner/source equal ignoring ASCII case, company and search substrings
ignoring case and accents (`domain.folding`, as both stores search), date bounds as in `store/sqlite.py` `_where`. One function per
schema op (`domain/schema.py`), as each store has one translation per op."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from leadcli.domain.dates import from_iso, to_utc
from leadcli.domain.folding import fold
from leadcli.domain.query import LeadQuery

_ASCII_FOLD = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def _fold(text: str) -> str:
    """SQLite's NOCASE and LIKE fold only ASCII letters; do the same so both agree."""
    return text.translate(_ASCII_FOLD)


def _when(value: Any) -> datetime | None:
    if value is None:
        return None
    return to_utc(value) if isinstance(value, datetime) else from_iso(str(value))


def _contains(haystack: Any, needle: str) -> bool:
    if not isinstance(haystack, str):
        return False
    folded = fold(needle)
    return bool(folded) and folded in fold(haystack)  # combining marks alone fold away: no match, as in the stores


def matches(lead: Mapping[str, Any] | None, q: LeadQuery) -> bool:
    """Whether `lead` (datetimes or ISO strings) passes every filter of `q`."""
    if lead is None:
        return False
    return all(_OPS[spec.op](lead, spec.fields, value) for spec, value in q.conditions())


def _in(lead: Mapping[str, Any], fields: tuple[str, ...], value: Any) -> bool:
    return lead.get(fields[0]) in value


def _not_in(lead: Mapping[str, Any], fields: tuple[str, ...], value: Any) -> bool:
    return lead.get(fields[0]) not in value  # an empty field too


def _equals(lead: Mapping[str, Any], fields: tuple[str, ...], value: Any) -> bool:
    found = lead.get(fields[0])
    return isinstance(found, str) and _fold(found) == _fold(value)


def _is(lead: Mapping[str, Any], fields: tuple[str, ...], value: Any) -> bool:
    return bool(lead.get(fields[0])) == value


def _has_all(lead: Mapping[str, Any], fields: tuple[str, ...], value: Any) -> bool:
    held = lead.get(fields[0]) or []
    return all(item in held for item in value)


def _contains_any(lead: Mapping[str, Any], fields: tuple[str, ...], value: Any) -> bool:
    return any(_contains(lead.get(name), value) for name in fields)


def _bound(test: Callable[[datetime, datetime], bool], never: bool) -> Callable[[Mapping[str, Any], tuple[str, ...], Any], bool]:
    """A date bound: `test(the field's date, the bound)`; an empty date passes when `never`."""

    def check(lead: Mapping[str, Any], fields: tuple[str, ...], value: Any) -> bool:
        found = _when(lead.get(fields[0]))
        return never if found is None else test(found, to_utc(value))

    return check


def _idle(lead: Mapping[str, Any], fields: tuple[str, ...], value: Any) -> bool:
    since = _when(lead.get(fields[0])) or _when(lead.get(fields[1]))
    return since is not None and since < to_utc(value)


def _id_in(lead: Mapping[str, Any], fields: tuple[str, ...], value: Any) -> bool:
    return lead.get("id") in value


_OPS: dict[str, Callable[[Mapping[str, Any], tuple[str, ...], Any], bool]] = {
    "in": _in,
    "not_in": _not_in,
    "equals": _equals,
    "is": _is,
    "has_all": _has_all,
    "contains": _contains_any,
    "at_or_after": _bound(lambda found, bound: found >= bound, never=False),
    "before": _bound(lambda found, bound: found < bound, never=False),
    "at_or_before": _bound(lambda found, bound: found <= bound, never=False),
    "before_or_never": _bound(lambda found, bound: found < bound, never=True),
    "idle_before": _idle,
    "id_in": _id_in,
}
