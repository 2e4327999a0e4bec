"""A lead's stays in stages, from its stage history: what `stats` averages as days per stage.

A stay runs from the move into a stage to the next move. The last stay is still running; the
report ends it at "now" when its stage is open and leaves it out when it is closed (time after
a deal is won or lost is not pipeline time), which depends on the pipeline at report time, so
it is kept apart here: `finished` sums the stays that ended, per stage, and `running` is the
last one (stage, start).

MongoDB computes the same in one aggregation (store/mongo_stats.py), SQLite from its
`lead_stays` table: a change to these rules is a change to both (tests/test_mongo_stats.py and
tests/test_stats.py hold them to `stage_figures`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from leadcli.domain.artisan import web_time


def stays(lead: dict[str, Any]) -> list[tuple[str, datetime]]:
    """(stage, start) of each stay, in history order: the entries with a stage and a time, then
    the current stage from stage_updated_at (else created_at) when the history does not end
    there (a record changed by a tool that keeps no history, as the Leads Artisan app may)."""
    found = [(entry.get("to_stage"), _moment(entry.get("changed_at"))) for entry in lead.get("stage_history") or []]
    out = [(stage, at) for stage, at in found if stage is not None and at is not None]
    current = lead.get("current_stage")
    if current is not None and (not out or out[-1][0] != current):
        since = _moment(lead.get("stage_updated_at") or lead.get("created_at"))
        if since is not None:
            out.append((current, since))
    return out


def _moment(value: Any) -> datetime | None:
    """A datetime, or the ISO text of one (a record in its JSON form, or the naive text the Leads
    Artisan backend writes into stage_history), as aware UTC (`domain.artisan.web_time`)."""
    moment = web_time(value)
    return moment if isinstance(moment, datetime) else None


def split_stays(lead: dict[str, Any]) -> tuple[dict[str, float], tuple[str, datetime] | None]:
    """(seconds of finished stays per stage — each stay at least 0, clocks of different writers
    disagree a little —, the running stay or None)."""
    found = stays(lead)
    finished: dict[str, float] = {}
    for (stage, start), (_next, end) in zip(found, found[1:], strict=False):
        finished[stage] = finished.get(stage, 0.0) + max(0.0, (end - start).total_seconds())
    return finished, (found[-1] if found else None)


def stage_figures(
    leads: Iterable[Mapping[str, Any]], closed: Sequence[str], now: datetime
) -> tuple[dict[str | None, tuple[int, float]], int, dict[str, tuple[float, int]]]:
    """What `stats` is made of, summed over `leads` in one pass (a store that cannot aggregate in
    its query language): per current stage (leads, value); the engaged leads; per stage spent in
    (seconds summed over the leads that spent time there, those leads), the running stay ended
    at `now` when its stage is open, left out when it is closed."""
    totals: dict[str | None, list[float]] = {}
    seconds: dict[str, list[float]] = {}
    engaged = 0
    for lead in leads:
        acc = totals.setdefault(lead.get("current_stage"), [0, 0.0])
        acc[0] += 1
        acc[1] += float(lead.get("value") or 0)
        engaged += 1 if lead.get("engaged") else 0
        finished, running = split_stays(dict(lead))
        spent = dict(finished)
        if running is not None and running[0] not in closed:
            spent[running[0]] = spent.get(running[0], 0.0) + max(0.0, (now - running[1]).total_seconds())
        for stage, stay in spent.items():
            total = seconds.setdefault(stage, [0.0, 0])
            total[0] += stay
            total[1] += 1
    return (
        {stage: (int(n), value) for stage, (n, value) in totals.items()},
        engaged,
        {stage: (total, int(n)) for stage, (total, n) in seconds.items()},
    )
