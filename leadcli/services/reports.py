"""Pipeline reports: counts and values per stage, engagement, win rate, and time spent per stage."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from leadcli.domain.dates import now_utc
from leadcli.domain.pipeline import Pipeline
from leadcli.domain.query import LeadQuery
from leadcli.domain.stays import stage_figures
from leadcli.services.context import Workspace
from leadcli.store.base import Lead

DAY_SECONDS = 86_400.0


def stage_rows(ws: Workspace, query: LeadQuery, values: bool = True) -> list[dict[str, Any]]:
    """`[{"stage", "count", "value"}]` in pipeline order; stages found in the store but not in
    the pipeline (e.g. written by another tool) follow, so no lead goes uncounted. Without
    `values`, every value is 0 (the store need not sum them)."""
    totals = ws.store.stage_totals(query, values=values)
    rows = []
    for stage in ws.pipeline.stages:
        n, value = totals.pop(stage, (0, 0.0))
        rows.append({"stage": stage, "count": n, "value": value})
    for other, (n, value) in sorted(totals.items(), key=lambda item: str(item[0])):
        rows.append({"stage": other, "count": n, "value": value})
    return rows


def pipeline_stats(ws: Workspace, query: LeadQuery, now: datetime | None = None) -> dict[str, Any]:
    """`{"total", "engaged", "win_rate", "value", "stages": [{"stage", "count", "value",
    "avg_days"}]}` over the leads matching `query`. `now` ends the stays still running (passed
    in by tests). The store sums the figures (`stage_stats`: SQLite in SQL, MongoDB in one
    aggregation, FerretDB in one streamed pass, `domain.stays.stage_figures`); this shapes them
    into the report."""
    now = now or now_utc()
    query = query.unpaged()
    totals, engaged, days = ws.store.stage_stats(query, ws.pipeline.closed, now)
    return _report(totals, engaged, days, ws.pipeline)


def _report(
    totals: dict[str | None, tuple[int, float]], engaged: int, days: dict[str, tuple[float, int]], pipeline: Pipeline
) -> dict[str, Any]:
    """The report from aggregates: (leads, value) per current stage, the engaged leads, and
    (seconds summed, leads) per stage spent in."""
    counts: dict[str, int] = {stage: 0 for stage in pipeline.stages}
    values: dict[str, float] = {stage: 0.0 for stage in pipeline.stages}
    total = 0
    for stage, (n, value) in totals.items():
        key = stage if stage is not None else "(none)"
        counts[key] = counts.get(key, 0) + n
        values[key] = values.get(key, 0.0) + value
        total += n
    spent = {stage: [seconds / DAY_SECONDS, n] for stage, (seconds, n) in days.items()}
    return _shape(total, engaged, counts, values, spent, pipeline)


def summarize(leads: Iterable[Lead], pipeline: Pipeline, now: datetime) -> dict[str, Any]:
    """The report from the leads themselves, summed in Python (`domain.stays.stage_figures`,
    what a store without aggregation uses): the reference the SQL path is tested against."""
    totals, engaged, days = stage_figures(leads, pipeline.closed, now)
    return _report(totals, engaged, days, pipeline)


def _shape(
    total: int,
    engaged: int,
    counts: dict[str, int],
    values: dict[str, float],
    days: dict[str, list[float]],
    pipeline: Pipeline,
) -> dict[str, Any]:
    ordered = list(pipeline.stages) + sorted(k for k in counts if k not in pipeline.stages)
    won = counts.get(pipeline.won, 0) if pipeline.won else 0
    lost = counts.get(pipeline.lost, 0) if pipeline.lost else 0
    closed = won + lost
    return {
        "total": total,
        "engaged": engaged,
        "win_rate": round(won / closed, 2) if closed and pipeline.won else None,
        "value": _number(sum(values.values())),
        "stages": [
            {
                "stage": stage,
                "count": counts[stage],
                "value": _number(values[stage]),
                "avg_days": round(days[stage][0] / days[stage][1], 2) if stage in days else None,
            }
            for stage in ordered
        ],
    }


def _number(value: float) -> float | int:
    """Money as people write it: 3000, not 3000.0."""
    return int(value) if float(value).is_integer() else round(value, 2)
