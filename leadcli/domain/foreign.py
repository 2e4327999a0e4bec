"""Changes made outside leadcli (the Leads Artisan web app, or any other writer of a shared
MongoDB `leads` collection), shown as events in the contract's shape: `seq` None (they are in no
log, so `--since` cannot replay them) and `by` FOREIGN_BY."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from leadcli.domain.dates import from_iso, iso, to_utc
from leadcli.domain.lead import LEAD_FIELDS

FOREIGN_BY = "(outside leadcli)"
# Fields every write changes; a diff of them says nothing.
_NOT_CHANGES = frozenset({"id", "updated_at", "version", "stage_history", "activities"})
# The backend stamps a stage change's history entry and `updated_at` in one synchronous step
# (microseconds apart; `updated_at` is cut to milliseconds in BSON). Wider, an edit made soon
# after a create or a move (whose history entry is then that recent) would read as a move.
_SAME_WRITE = timedelta(milliseconds=50)


def foreign_event(op: str, lead: Mapping[str, Any], before: Mapping[str, Any] | None, at: datetime | str | None) -> dict[str, Any]:
    """The event for another app's `op` ("insert"/"create", "update", "delete") of `lead` (the
    lead after it; before it for a delete), `before` the last version seen (for `changes`)."""
    lead_id = str(lead.get("id"))
    full = {key: lead.get(key) for key in LEAD_FIELDS} | dict(lead)
    full.setdefault("tags", [])
    changes: dict[str, list[Any]]
    if op == "delete":
        kind, changes = "lead_deleted", {}
    elif op in ("insert", "create"):
        kind, changes = "lead_created", {}
    else:
        changes = _diff(before, lead) if before is not None else _stage_move(lead)
        kind = "lead_stage_changed" if "current_stage" in changes else "lead_updated"
    when = at if at is not None else lead.get("updated_at")
    if isinstance(when, str):
        when = from_iso(when)
    return {
        "seq": None,
        "type": kind,
        "at": iso(to_utc(when)) if isinstance(when, datetime) else None,
        "by": FOREIGN_BY,
        "lead_id": lead_id,
        "lead": full,
        "changes": changes,
    }


def _plain(value: Any) -> Any:
    return iso(value) if isinstance(value, datetime) else value


def _diff(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, list[Any]]:
    changes: dict[str, list[Any]] = {}
    for key in dict.fromkeys([*before, *after]):
        if key in _NOT_CHANGES:
            continue
        old, new = _plain(before.get(key)), _plain(after.get(key))
        if isinstance(old, str) and isinstance(new, str) and key.endswith("_at"):
            old, new = iso(from_iso(old)), iso(from_iso(new))
        if old != new:
            changes[key] = [old, new]
    return changes


def _stage_move(lead: Mapping[str, Any]) -> dict[str, list[Any]]:
    """Without the lead as it was: a stage change shows as a history entry made by this write."""
    history = lead.get("stage_history") or []
    updated = _when(lead.get("updated_at"))
    if not history or updated is None or not isinstance(history[-1], Mapping):
        return {}
    entry = history[-1]
    changed = _when(entry.get("changed_at"))
    if changed is None or abs(updated - changed) > _SAME_WRITE or entry.get("to_stage") != lead.get("current_stage"):
        return {}
    return {"current_stage": [entry.get("from_stage"), entry.get("to_stage")]}


def _when(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return to_utc(value)
    if isinstance(value, str):
        try:
            return from_iso(value)
        except ValueError:
            return None
    return None
