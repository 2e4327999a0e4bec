"""Pipeline reports: counts and values per stage, engagement, win rate, and time spent per stage."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from leadcli.domain.artisan import stage_since, web_time
from leadcli.domain.dates import now_utc
from leadcli.domain.pipeline import Pipeline
from leadcli.domain.query import LeadQuery
from leadcli.services.context import Workspace
from leadcli.store.base import Lead

DAY_SECONDS = 86_400.0


def stage_rows(ws: Workspace, query: LeadQuery) -> list[dict[str, Any]]:
    """`[{"stage", "count", "value"}]` in pipeline order; stages found in the store but not in
    the pipeline (e.g. written by another tool) follow, so no lead goes uncounted."""
    totals = ws.store.stage_totals(query)
    rows = []
    for stage in ws.pipeline.stages:
        n, value = totals.pop(stage, (0, 0.0))
        rows.append({"stage": stage, "count": n, "value": value})
    for other, (n, value) in sorted(totals.items(), key=lambda item: str(item[0])):
        rows.append({"stage": other, "count": n, "value": value})
    return rows


def pipeline_stats(ws: Workspace, query: LeadQuery, now: datetime | None = None) -> dict[str, Any]:
    """`{"total", "engaged", "win_rate", "value", "stages": [{"stage", "count", "value",
    "avg_days"}]}` over the leads matching `query`, all from one pass over them so the figures
    agree with each other. `now` ends the stays still running (passed in by tests)."""
    return summarize(ws.store.query(query.unpaged()), ws.pipeline, now or now_utc())


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
    """Seconds this lead spent in each stage, from its stage history. A stay runs from the move
    into a stage to the next move; the last stay runs to `now` when its stage is open and is not
    counted when it is closed (time after a deal is won or lost is not pipeline time)."""
    # web_time: the Leads Artisan backend writes `changed_at` as naive ISO text (UTC).
    stays = [(entry.get("to_stage"), web_time(entry.get("changed_at"))) for entry in lead.get("stage_history") or []]
    stays = [(stage, at) for stage, at in stays if stage is not None and isinstance(at, datetime)]
    current = lead.get("current_stage")
    if current is not None and (not stays or stays[-1][0] != current):
        # A record changed by a tool that keeps no history (the Leads Artisan backend may): the
        # current stay starts at stage_updated_at, as far as anyone knows.
        since = web_time(stage_since(lead) or lead.get("created_at"))
        if isinstance(since, datetime):
            stays.append((current, since))
    out: dict[str, float] = {}
    for index, (stage, start) in enumerate(stays):
        if index + 1 < len(stays):
            end = stays[index + 1][1]
        elif not pipeline.is_closed(stage):
            end = now
        else:
            continue
        # Clocks of different writers disagree a little; a stay is never negative.
        out[stage] = out.get(stage, 0.0) + max(0.0, (end - start).total_seconds())
    return out


def _number(value: float) -> float | int:
    """Money as people write it: 3000, not 3000.0."""
    return int(value) if float(value).is_integer() else round(value, 2)
