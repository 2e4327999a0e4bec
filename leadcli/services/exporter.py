"""Bulk export: every matching lead, oldest first, as complete records (ids, timestamps, stage
history, activities, custom fields) that `import` reads back into any store."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from leadcli.domain.lead import LEAD_FIELDS, to_jsonable
from leadcli.services.context import Workspace
from leadcli.services.filters import FilterArgs, build_query

EXPORT_FIELDS = (*LEAD_FIELDS, "activities")
EXPORT_FORMATS = ("csv", "tsv", "json", "jsonl")


def export_records(ws: Workspace, filters: FilterArgs) -> Iterator[dict[str, Any]]:
    """JSON-ready leads, streamed from the store (never a list), in creation order."""
    query = build_query(ws, filters, sort="created_at", descending=False).unpaged()
    for lead in ws.store.query(query):
        yield to_jsonable({**lead, "activities": lead.get("activities") or []})
