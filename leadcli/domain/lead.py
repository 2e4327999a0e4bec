"""The lead record as every layer passes it: a plain dict in the contract's shape, with aware
UTC datetimes. Kept free of pydantic so read-only commands start fast; validation of user input
lives in `validation.py`."""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from leadcli.domain.dates import _iso, from_iso
from leadcli.domain.schema import FIELD_NAMES, TIMESTAMPS

# The contract's field order for `-o json` and the default `--fields`, and the timestamps:
# the schema's (domain/schema.py).
LEAD_FIELDS = FIELD_NAMES
TIMESTAMP_FIELDS = TIMESTAMPS
ENGAGED = "Engaged"
NOT_ENGAGED = "Not Engaged"


def new_id() -> str:
    """A 24-hex id shaped like a MongoDB ObjectId: 4 bytes of creation time (so ids sort roughly
    by creation and stay valid ObjectIds), then 8 random bytes. Random rather than ObjectId's
    process id + counter: leads added by one process (an import) would otherwise share all but
    their last characters, and no short prefix could name one of them."""
    return (int(time.time()).to_bytes(4, "big") + os.urandom(8)).hex()


def history_entry(from_stage: str | None, to_stage: str, at: datetime, by: str, notes: str | None) -> dict[str, Any]:
    return {"from_stage": from_stage, "to_stage": to_stage, "changed_at": at, "by": by, "notes": notes}


def new_lead(name: str | None, email: str | None, stage: str, at: datetime, by: str, /, **overrides: Any) -> dict[str, Any]:
    """A lead as it is created: every contract field present (the unset ones empty), version 1,
    its history the entry into `stage` at `at` by `by`. `overrides` replace any field (an
    import keeps the file's id, timestamps and history). The one place a record is built."""
    lead: dict[str, Any] = {
        "id": overrides.pop("id", None) or new_id(), "name": name, "email": email, "company": None,
        "phone": None, "status": NOT_ENGAGED, "engaged": False, "current_stage": stage,
        "stage_updated_at": at, "owner": None, "source": None, "tags": [], "value": None,
        "notes": None, "follow_up_at": None, "last_contacted": None, "created_at": at,
        "updated_at": at, "stage_history": [history_entry(None, stage, at, by, None)], "fields": {},
        "version": 1,
    }  # fmt: skip
    lead.update(overrides)
    return lead


def is_full_id(text: str) -> bool:
    return len(text) == 24 and all(c in "0123456789abcdef" for c in text)


def to_jsonable(lead: Mapping[str, Any]) -> dict[str, Any]:
    """The lead with datetimes as ISO strings, in the contract's field order (extra keys,
    such as `activities`, follow)."""
    get = lead.get
    out: dict[str, Any] = {key: get(key) for key in LEAD_FIELDS}
    for key in TIMESTAMP_FIELDS:
        value = out[key]
        if isinstance(value, datetime):
            out[key] = _iso(value)  # iso() without its None check
    if out["stage_history"]:
        out["stage_history"] = _entries(out["stage_history"], "changed_at")
    if out["tags"] is None:
        out["tags"] = []
    if out["fields"] is None:
        out["fields"] = {}
    if not _FIELD_SET.issuperset(lead.keys()):  # keys beyond the contract's (activities) follow
        for key, value in lead.items():
            if key not in out:
                if isinstance(value, datetime):
                    value = _iso(value)
                elif value and key in _ENTRY_LISTS:
                    value = _entries(value, _ENTRY_LISTS[key])
                out[key] = value
    return out


def _entries(value: Any, stamp: str) -> list[dict[str, Any]]:
    """History or activity entries, copied, their `stamp` (the one datetime) as ISO text."""
    return [{**entry, stamp: _iso(at)} if isinstance(at := entry.get(stamp), datetime) else dict(entry) for entry in value]


_FIELD_SET = frozenset(LEAD_FIELDS)
_ENTRY_LISTS = {"stage_history": "changed_at", "activities": "at"}  # each entry list and its timestamp


def from_jsonable(data: Mapping[str, Any]) -> dict[str, Any]:
    """The inverse of `to_jsonable`: ISO strings back to aware datetimes."""
    lead = dict(data)
    for key in TIMESTAMP_FIELDS:
        if isinstance(lead.get(key), str):
            lead[key] = from_iso(lead[key])
    for key, stamp in (("stage_history", "changed_at"), ("activities", "at")):
        if lead.get(key):
            lead[key] = [
                {**entry, stamp: from_iso(entry[stamp])} if isinstance(entry.get(stamp), str) else dict(entry)
                for entry in lead[key]
            ]
    return lead
