"""Events as the contract shows them (`watch -o jsonl`, `serve`): one per lead a write changed."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from leadcli.domain.dates import iso
from leadcli.domain.lead import to_jsonable

EVENT_FIELDS = ("seq", "type", "at", "by", "lead_id", "lead", "changes")


def event_to_jsonable(event: Mapping[str, Any]) -> dict[str, Any]:
    """The event in the contract's key order, the lead through `to_jsonable`."""
    at = event.get("at")
    lead = event.get("lead")
    seq = event.get("seq")
    return {
        "seq": int(seq) if seq is not None else None,  # None: another app's change, in no log
        "type": event["type"],
        "at": iso(at) if isinstance(at, datetime) else at,
        "by": event.get("by"),
        "lead_id": event.get("lead_id") or (lead or {}).get("id"),
        "lead": to_jsonable(lead) if lead is not None else None,
        "changes": dict(event.get("changes") or {}),
    }
