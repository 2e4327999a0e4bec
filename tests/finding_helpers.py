"""Leads with chosen timestamps for the filter, search and paging tests, written straight into
a store (the CLI stamps `now`, and these tests need the past and exact ties)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from leadcli.domain.lead import new_id
from leadcli.store import open_store

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def lead(name: str, **fields: Any) -> dict[str, Any]:
    created = fields.pop("created_at", T0)
    stage = fields.pop("current_stage", "New Lead")
    record: dict[str, Any] = {
        "id": new_id(),
        "name": name,
        "email": fields.pop("email", None) or f"{new_id()}@example.com",
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
        "updated_at": fields.pop("updated_at", created),
        "stage_history": [{"from_stage": None, "to_stage": stage, "changed_at": created, "by": "seed", "notes": None}],
        "fields": {},
        "version": 1,
    }
    record.update(fields)
    return record


def seed(store_uri: str, leads: list[dict[str, Any]]) -> list[dict[str, Any]]:
    store = open_store(store_uri)
    try:
        for record in leads:
            store.insert(record, {"type": "lead_created", "by": "seed", "at": record["created_at"], "changes": {}})
    finally:
        store.close()
    return leads
