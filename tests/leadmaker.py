"""Leads written straight through a store with chosen timestamps and histories, so tests of
stale leads and stats need no sleeping and no patched clock."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from leadcli.domain.lead import new_id


def at(when: str | datetime) -> datetime:
    """`2026-03-01` or `2026-03-01T12:00` as an aware UTC datetime (datetimes pass through)."""
    if isinstance(when, datetime):
        return when
    return datetime.fromisoformat(when).replace(tzinfo=UTC)


def make_lead(
    email: str,
    *,
    moves: list[tuple[str, str | datetime]] | None = None,
    created: str | datetime = "2026-01-01",
    **fields: Any,
) -> dict[str, Any]:
    """A lead whose history is `moves` [(stage, when), …]; the first move is its creation
    (defaults to New Lead at `created`). Other keyword arguments set fields as they are."""
    moves = moves or [("New Lead", created)]
    history, previous = [], None
    for stage, when in moves:
        history.append({"from_stage": previous, "to_stage": stage, "changed_at": at(when), "by": "fixture", "notes": None})
        previous = stage
    created_at = at(moves[0][1])
    lead: dict[str, Any] = {
        "id": new_id(), "name": email.split("@")[0].title(), "email": email, "company": None,
        "phone": None, "status": "Not Engaged", "engaged": False, "current_stage": previous,
        "stage_updated_at": history[-1]["changed_at"], "owner": None, "source": None, "tags": [],
        "value": None, "notes": None, "follow_up_at": None, "last_contacted": None,
        "created_at": created_at, "updated_at": history[-1]["changed_at"], "stage_history": history,
        "fields": {}, "version": 1,
    }  # fmt: skip
    if fields.get("engaged"):
        lead["status"] = "Engaged"
    for key, value in fields.items():
        lead[key] = at(value) if key in ("last_contacted", "follow_up_at") and value is not None else value
    return lead


def insert(store: Any, lead: dict[str, Any]) -> dict[str, Any]:
    return store.insert(lead, {"type": "lead_created", "by": "fixture", "at": lead["created_at"], "changes": {}})
