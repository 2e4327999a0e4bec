"""Pipeline reports: counts and values per stage."""

from __future__ import annotations

from typing import Any

from leadcli.domain.query import LeadQuery
from leadcli.services.context import Workspace


def stage_rows(ws: Workspace, query: LeadQuery) -> list[dict[str, Any]]:
    """`[{"stage", "count", "value"}]` in pipeline order; stages found in the store but not in
    the pipeline (e.g. written by another tool) follow, so no lead goes uncounted."""
    totals = ws.store.stage_totals(query)
    rows = []
    for stage in ws.pipeline.stages:
        n, value = totals.pop(stage, (0, 0.0))
        rows.append({"stage": stage, "count": n, "value": value})
    for stage, (n, value) in sorted(totals.items(), key=lambda item: str(item[0])):
        rows.append({"stage": stage, "count": n, "value": value})
    return rows
