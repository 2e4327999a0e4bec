"""The pipeline workflow: moving leads between stages, their history, logging activities, and
finding the leads that need attention (follow-ups due, leads gone stale)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from leadcli.domain.dates import now_utc, parse_when, to_utc
from leadcli.domain.errors import InvalidInput, NotFound
from leadcli.domain.query import LeadQuery
from leadcli.domain.text import check_note
from leadcli.services.context import Workspace
from leadcli.services.leads import check_before_writing, resolve, set_stage, update_lead
from leadcli.store.base import Lead

ACTIVITY_TYPES = ("call", "email", "meeting", "note")
# Activities that are a contact with the lead, and so move `last_contacted`.
CONTACT_TYPES = ("call", "email", "meeting")
# How many activities `show` and `log` print; the lead keeps all of them.
RECENT_ACTIVITIES = 20
# A logged time a little ahead of this machine's clock is another machine's clock, not the future.
CLOCK_SKEW = timedelta(minutes=5)
# The words `followups --due` takes (offered by shell completion).
DUE_WORDS = ("today", "overdue", "week")


def move_leads_detailed(ws: Workspace, refs: Sequence[str], stage: str, note: str | None = None) -> list[tuple[Lead, bool]]:
    """Move each lead to `stage` (every ref is resolved first, so a typo moves nothing): (the
    lead after, whether it moved) for each. A lead already in `stage` is not changed, so its
    history gets no entry and a note has nowhere to go: the caller says so."""
    target = ws.pipeline.match(stage)
    check_note("--note", note)
    leads = {lead["id"]: lead for lead in (resolve(ws, ref) for ref in refs)}  # a lead named twice moves once

    def moved(copy: Lead, now: datetime) -> Lead:
        set_stage(copy, target, now, ws.user, note or None)
        return copy

    check_before_writing(ws, list(leads.values()), moved)
    return [_move(ws, lead, target, note) for lead in leads.values()]


def _move(ws: Workspace, lead: Lead | str, stage: str, note: str | None = None) -> tuple[Lead, bool]:
    def change(copy: Lead, now: datetime) -> Lead:
        set_stage(copy, stage, now, ws.user, note or None)
        return copy

    return update_lead(ws, lead, change, event_type="lead_stage_changed")


def stage_history(ws: Workspace, ref: str) -> list[dict[str, Any]]:
    return list(resolve(ws, ref).get("stage_history") or [])


def recent_activities(lead: Lead, limit: int = RECENT_ACTIVITIES) -> list[dict[str, Any]]:
    """The lead's latest activities, newest first (ties: the one logged last first)."""
    activities = list(lead.get("activities") or [])
    indexed = sorted(enumerate(activities), key=lambda item: (_sort_time(item[1].get("at")), item[0]), reverse=True)
    return [activity for _index, activity in indexed[:limit]]


def with_recent_activities(lead: Lead) -> Lead:
    """The lead as `show` prints it: the record with its recent activities."""
    return {**lead, "activities": recent_activities(lead)}


def _sort_time(value: Any) -> datetime:
    return to_utc(value) if isinstance(value, datetime) else datetime.min.replace(tzinfo=UTC)


def log_activity(
    ws: Workspace,
    ref: str,
    kind: str,
    note: str | None = None,
    at: str | None = None,
    *,
    now: datetime | None = None,
) -> Lead:
    """Record a call, email, meeting or note on the lead. A contact sets `last_contacted` to the
    activity's time, but an activity logged late never moves it backwards."""
    kind = kind.strip().lower()
    check_note("--note", note)
    if kind not in ACTIVITY_TYPES:
        raise InvalidInput(f"--type: unknown activity {kind!r}; valid: {', '.join(ACTIVITY_TYPES)}")
    when = parse_when(at, flag="--at", zone=ws.zone, now=now) if at else None
    if when is not None and when > (now or now_utc()) + CLOCK_SKEW:
        raise InvalidInput("--at: an activity cannot be in the future (plan the next one with `edit --follow-up`)")

    def change(lead: Lead, moment: datetime) -> Lead:
        happened = when or moment
        lead["activities"] = [*(lead.get("activities") or []), {"type": kind, "at": happened, "by": ws.user, "note": note or None}]
        last = lead.get("last_contacted")
        if kind in CONTACT_TYPES and (last is None or happened > last):
            lead["last_contacted"] = happened
        return lead

    logged, _changed = update_lead(ws, ref, change, event_type="activity_logged")
    return logged


def due_bound(ws: Workspace, due: str, now: datetime | None = None) -> datetime:
    """`--due`: today = the end of today (overdue ones included), overdue = now, week = now + 7
    days, or any DATE (a bare day means its end)."""
    now = now or now_utc()
    word = due.strip().lower()
    if word == "overdue":
        return now
    if word == "week":
        return now + timedelta(days=7)
    return parse_when(word, flag="--due", zone=ws.zone, end_of_day=True, now=now)


def followups_query(ws: Workspace, due: str = "today", owner: str | None = None, now: datetime | None = None) -> LeadQuery:
    """Leads whose follow-up is due by the bound, soonest (most overdue) first."""
    return LeadQuery(follow_up_before=due_bound(ws, due, now), owner=owner or None, sort="follow_up_at", descending=False)


def followups(ws: Workspace, due: str = "today", owner: str | None = None, now: datetime | None = None) -> Iterator[Lead]:
    """`followups_query`'s leads, streamed from the store in follow-up order (SQLite walks its
    follow-up index), never gathered in memory."""
    return ws.store.query(followups_query(ws, due, owner, now))


def stale_query(ws: Workspace, query: LeadQuery, days: int, now: datetime | None = None) -> LeadQuery:
    """Open leads (not in a closed stage) not contacted (never contacted: created) in `days` days,
    oldest first."""
    if days < 1:
        raise InvalidInput("--days: must be at least 1")
    try:
        since = (now or now_utc()) - timedelta(days=days)
    except OverflowError:
        raise InvalidInput(f"--days: {days} days ago is before the year 1; give fewer days") from None
    return query.unpaged().replace(
        exclude_stages=tuple(dict.fromkeys((*query.exclude_stages, *ws.pipeline.closed))),
        idle_since=since,
        sort="created_at",
        descending=False,
    )


def move_stale(ws: Workspace, leads: Sequence[Lead], stage: str, days: int) -> tuple[list[Lead], int]:
    """Move stale leads to `stage`, noting why in their history. A lead contacted or closed
    since it was found stale is left alone (it is re-checked on every compare-and-set try), and
    so is one already in `stage`; one deleted meanwhile is skipped. Returns every lead still
    there as it is now, and how many moved."""
    target = ws.pipeline.match(stage)
    note = f"stale: no contact for {days} days"
    after_all, moved = [], 0
    for lead in leads:

        def change(copy: Lead, now: datetime) -> Lead | None:
            if copy.get("current_stage") == target or not _is_stale(ws, copy, now - timedelta(days=days)):
                return None
            set_stage(copy, target, now, ws.user, note)
            return copy

        try:
            after, changed = update_lead(ws, lead, change, event_type="lead_stage_changed")
        except NotFound:
            continue  # deleted since it was found stale (by another user): nothing left to move
        after_all.append(after)
        moved += bool(changed)
    return after_all, moved


def _is_stale(ws: Workspace, lead: Lead, since: datetime) -> bool:
    last = lead.get("last_contacted") or lead.get("created_at")
    return not ws.pipeline.is_closed(lead.get("current_stage")) and last is not None and last < since
