"""Pipeline reports: counts and values per stage, engagement, win rate, and time spent per stage."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from leadcli.domain.dates import now_utc
from leadcli.domain.pipeline import Pipeline
from leadcli.domain.query import LeadQuery
from leadcli.domain.stays import split_stays
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
    streamed pass, `domain.stays.stage_figures`); this shapes them into the report."""
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
    counts: dict[str, int] = {stage: 0 for stage in pipeline.stages}
    values: dict[str, float] = {stage: 0.0 for stage in pipeline.stages}
    # stage -> [sum over leads of each lead's days in the stage, number of such leads]
    days: dict[str, list[float]] = {}
    total = engaged = 0
    for lead in leads:
        stage = lead.get("current_stage")
        key = stage if stage is not None else "(none)"
        total += 1
        engaged += 1 if lead.get("engaged") else 0
        counts[key] = counts.get(key, 0) + 1
        values[key] = values.get(key, 0.0) + float(lead.get("value") or 0)
        for name, seconds in stage_durations(lead, pipeline, now).items():
            acc = days.setdefault(name, [0.0, 0])
            acc[0] += seconds / DAY_SECONDS
            acc[1] += 1
    return _shape(total, engaged, counts, values, days, pipeline)


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


def stage_durations(lead: Lead, pipeline: Pipeline, now: datetime) -> dict[str, float]:
    """Seconds this lead spent in each stage (`domain.stays`): its finished stays, and the
    running one up to `now` when its stage is open (not at all when it is closed)."""
    finished, running = split_stays(lead)
    out = dict(finished)
    if running is not None and not pipeline.is_closed(running[0]):
        stage, start = running
        out[stage] = out.get(stage, 0.0) + max(0.0, (now - start).total_seconds())
    return out


def _number(value: float) -> float | int:
    """Money as people write it: 3000, not 3000.0."""
    return int(value) if float(value).is_integer() else round(value, 2)
