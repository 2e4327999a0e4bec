"""Bulk export: every matching lead, oldest first, as complete records (ids, timestamps, stage
history, activities, custom fields) that `import` reads back into any store."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

from leadcli.domain.lead import LEAD_FIELDS
from leadcli.services.context import Workspace
from leadcli.services.filters import FilterArgs, build_query

EXPORT_FIELDS = (*LEAD_FIELDS, "activities")
EXPORT_FORMATS = ("csv", "tsv", "json", "jsonl")


def export_records(ws: Workspace, filters: FilterArgs) -> Iterator[dict[str, Any]]:
    """JSON-ready leads, streamed from the store (never a list), in creation order. Not a
    generator itself: a bad filter or an unreachable store fails here, before any output
    (a consumer of stdout then gets nothing, not a lone `[` or a header row)."""
    query = build_query(ws, filters, sort="created_at", descending=False).unpaged()
    stored = iter(ws.store.query_records(query))
    first = next(stored, None)
    if first is None:
        return iter(())
    return (_with_activities(record) for record in itertools.chain((first,), stored))


def _with_activities(record: dict[str, Any]) -> dict[str, Any]:
    """A stored JSON record as `to_jsonable` shapes an exported lead: activities always present."""
    if not record.get("activities"):
        record["activities"] = []  # where `{**lead, "activities": …}` puts it: in place, else last
    return record
