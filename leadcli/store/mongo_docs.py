"""MongoDB documents: a lead as the Leads Artisan backend's document shape and back, and
events as stored. Used by store/mongo.py and store/mongo_changes.py."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any
from urllib.parse import unquote

from bson import ObjectId

from leadcli.domain.artisan import WEB_STAGES, stage_since, web_time
from leadcli.domain.dates import iso, to_utc
from leadcli.domain.handle import handle_of
from leadcli.domain.lead import LEAD_FIELDS, TIMESTAMP_FIELDS, from_jsonable
from leadcli.store.base import Event, Lead

# Defaults for fields a Leads Artisan document (or an older leadcli one) may lack: the
# backend's own defaults for status and stage, so leadcli shows what the web app shows.
DEFAULTS: dict[str, Any] = {
    "phone": None, "status": "Not Engaged", "engaged": False, "current_stage": WEB_STAGES[0], "owner": None,
    "source": None, "value": None, "notes": None, "follow_up_at": None, "last_contacted": None,
}  # fmt: skip


def to_document(lead: Mapping[str, Any]) -> dict[str, Any]:
    """A lead as a Leads Artisan-shaped document: `_id` ObjectId, datetimes as BSON dates,
    custom field names made storable (no `.` or leading `$`, which FerretDB refuses)."""
    lead = from_jsonable(lead)
    doc: dict[str, Any] = {"_id": ObjectId(lead["id"]), "handle": handle_of(lead["id"])}
    for key, value in lead.items():
        if key == "id":
            continue
        if key == "fields":
            value = _encode_keys(value)
        elif key == "stage_history" and value:
            # An entry the backend wrote (no `by`) is written back exactly as it was.
            value = [{k: v for k, v in e.items() if not (k == "by" and v is None)} for e in value]
        doc[key] = value
    return doc


def from_document(doc: Mapping[str, Any]) -> Lead:
    """A stored document as a lead: defaults for fields another app did not write, aware UTC
    datetimes (naive ones are UTC), documents without `version` at version 0."""
    lead: Lead = {"id": str(doc["_id"])}
    for key in LEAD_FIELDS[1:]:
        value = doc.get(key, DEFAULTS.get(key))
        lead[key] = utc(value) if key in TIMESTAMP_FIELDS else value
    lead["engaged"] = bool(lead["engaged"])
    lead["tags"] = list(doc.get("tags") or [])
    lead["fields"] = _decode_keys(doc.get("fields") or {})
    lead["version"] = int(doc.get("version") or 0)
    lead["stage_history"] = [_history_entry(entry) for entry in doc.get("stage_history") or [] if isinstance(entry, Mapping)]
    lead["stage_updated_at"] = stage_since(lead)
    if "activities" in doc:
        lead["activities"] = [
            {**entry, "at": utc(entry.get("at"))} for entry in doc.get("activities") or [] if isinstance(entry, Mapping)
        ]
    for key, value in doc.items():
        # Other plain fields (another app's, or a newer leadcli's) pass through unchanged;
        # ones only BSON can hold (ObjectIds, binary…) stay in the database untouched.
        if key not in lead and key not in ("_id", "handle") and _is_plain(value):
            lead[key] = _utc_all(value)
    return lead


def _history_entry(entry: Mapping[str, Any]) -> dict[str, Any]:
    out = {
        "from_stage": entry.get("from_stage"),
        "to_stage": entry.get("to_stage"),
        # The backend writes naive ISO text (UTC, microseconds); leadcli a BSON date.
        "changed_at": web_time(entry.get("changed_at")),
        "by": entry.get("by"),
        "notes": entry.get("notes"),
    }
    for key, value in entry.items():
        if key not in out:
            out[key] = value
    return out


def event_key(seq: int) -> str:
    """An event's `_id`, derived from its seq so the next event can be looked up by `_id` alone."""
    return f"seq:{seq}"


def event_from_document(doc: Mapping[str, Any]) -> Event:
    """A stored event in the shape `events_after` returns (also for change-stream readers)."""
    at, changes = doc.get("at"), doc.get("changes")
    return {
        "seq": int(doc["seq"]),
        "type": doc.get("type"),
        "at": iso(at) if isinstance(at, datetime) else at,
        "by": doc.get("by"),
        "lead_id": doc.get("lead_id"),
        "lead": from_document(doc["lead"]) if doc.get("lead") else None,
        "changes": json.loads(changes) if isinstance(changes, str) else (changes or {}),
    }


def utc(value: Any) -> Any:
    return to_utc(value) if isinstance(value, datetime) else value


def _utc_all(value: Any) -> Any:
    if isinstance(value, datetime):
        return to_utc(value)
    if isinstance(value, list):
        return [_utc_all(v) for v in value]
    if isinstance(value, dict):
        return {k: _utc_all(v) for k, v in value.items()}
    return value


def _is_plain(value: Any) -> bool:
    if value is None or isinstance(value, (str, bool, int, float, datetime)):
        return True
    if isinstance(value, list):
        return all(_is_plain(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _is_plain(v) for k, v in value.items())
    return False


_KEY_ESCAPES = {"%": "%25", ".": "%2E", "$": "%24", "\x00": "%00"}
_KEY_UNESCAPE = re.compile(r"%(25|2E|24|00)")


def _encode_key(key: str) -> str:
    if not any(c in key for c in _KEY_ESCAPES):
        return key
    return "".join(_KEY_ESCAPES.get(c, c) for c in key)


def _decode_key(key: str) -> str:
    return _KEY_UNESCAPE.sub(lambda m: unquote(m.group(0)), key) if "%" in key else key


def _encode_keys(value: Any) -> Any:
    return _map_keys(value, _encode_key)


def _decode_keys(value: Any) -> Any:
    return _map_keys(value, _decode_key)


def _map_keys(value: Any, rename: Callable[[str], str]) -> Any:
    """`value` with `rename` applied to the keys of every object in it, at any depth."""
    if isinstance(value, dict):
        return {rename(k): _map_keys(v, rename) for k, v in value.items()}
    if isinstance(value, list):
        return [_map_keys(v, rename) for v in value]
    return value
