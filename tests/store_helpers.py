"""Building leads for store-level tests (the shape services hand to a store), and a reference
implementation of LeadQuery ordering to check stores against."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from leadcli.domain.lead import new_id

PIPELINE = ("New Lead", "Initial Contact", "Meeting Scheduled", "Proposal Sent", "Negotiation", "Closed Won", "Closed Lost")
BASE = datetime(2026, 1, 5, 9, 30, 0, 123000, tzinfo=UTC)


def make_lead(**overrides: Any) -> dict[str, Any]:
    created = overrides.pop("created_at", BASE)
    stage = overrides.pop("current_stage", "New Lead")
    lead: dict[str, Any] = {
        "id": new_id(),
        "name": "Ada Lovelace",
        "email": f"{new_id()}@example.com",
        "company": None,
        "phone": None,
        "status": "Not Engaged",
        "engaged": False,
        "current_stage": stage,
        "stage_updated_at": created,
        "owner": None,
        "source": None,
        "tags": [],
        "value": None,
        "notes": None,
        "follow_up_at": None,
        "last_contacted": None,
        "created_at": created,
        "updated_at": created,
        "stage_history": [
            {"from_stage": None, "to_stage": stage, "changed_at": created, "by": "tester", "notes": None}
        ],
        "fields": {},
        "version": 1,
    }
    lead.update(overrides)
    return lead


def event(kind: str = "lead_created", **changes: Any) -> dict[str, Any]:
    return {"type": kind, "by": "tester", "at": BASE + timedelta(hours=1), "changes": changes}


def _key(value: Any) -> tuple[int, Any]:
    # SQLite (and MongoDB) order: NULL before any value.
    return (0, "") if value is None else (1, value)


def reference_order(leads: list[dict[str, Any]], sort: str, descending: bool, stage_order: tuple[str, ...] = ()) -> list[str]:
    """The ids of `leads` in the order the contract defines: by `sort` (current_stage in
    pipeline order, unknown or no stage after every pipeline stage), ties by id."""

    def key(lead: dict[str, Any]) -> tuple[Any, str]:
        if sort == "current_stage" and stage_order:
            stage = lead.get("current_stage")
            primary: Any = stage_order.index(stage) if stage in stage_order else len(stage_order)
        else:
            primary = _key(lead.get(sort))
        return (primary, lead["id"])

    return [lead["id"] for lead in sorted(leads, key=key, reverse=descending)]
