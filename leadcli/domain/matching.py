"""A LeadQuery's filters applied to one lead in Python, for events that are not in a store
(`watch` filters the event's lead). Same semantics as the stores' translations: stages any-of,
tags all-of, status/owner/source equal ignoring ASCII case, company and search substrings
ignoring case and accents (`domain.folding`, as both stores search), date bounds as in `store/sqlite.py` `_where`."""

from __future__ import annotations

from collections.abc import Mapping
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
    stage = lead.get("current_stage")
    if q.ids is not None and lead.get("id") not in q.ids:
        return False
    if q.stages and stage not in q.stages:
        return False
    if q.exclude_stages and stage is not None and stage in q.exclude_stages:
        return False
    for key, wanted in (("status", q.status), ("owner", q.owner), ("source", q.source)):
        if wanted is not None:
            value = lead.get(key)
            if not isinstance(value, str) or _fold(value) != _fold(wanted):
                return False
    if q.engaged is not None and bool(lead.get("engaged")) != q.engaged:
        return False
    tags = lead.get("tags") or []
    if any(tag not in tags for tag in q.tags):
        return False
    if q.company and not _contains(lead.get("company"), q.company):
        return False
    if q.search:
        if not any(_contains(lead.get(k), q.search) for k in ("name", "email", "company", "notes")):
            return False
    created = _when(lead.get("created_at"))
    contacted = _when(lead.get("last_contacted"))
    if q.created_after is not None and (created is None or created < to_utc(q.created_after)):
        return False
    if q.created_before is not None and (created is None or created >= to_utc(q.created_before)):
        return False
    if q.contacted_before is not None and contacted is not None and contacted >= to_utc(q.contacted_before):
        return False
    if q.follow_up_before is not None:
        follow_up = _when(lead.get("follow_up_at"))
        if follow_up is None or follow_up > to_utc(q.follow_up_before):
            return False
    if q.idle_since is not None:
        idle_from = contacted or created
        if idle_from is None or idle_from >= to_utc(q.idle_since):
            return False
    return True
