"""Pipeline commands: move, history, log, followups, stale, stats."""

from typing import Annotated

import typer

from leadcli.cli.app import app, workspace
from leadcli.cli.console import confirm, info, stdin_is_tty
from leadcli.cli.leads import (
    LeadArg,
    already_in_stage,
    confirm_each,
    confirming,
    print_changed,
    print_lead,
    print_leads,
    prints_record,
    read_refs,
    who,
)
from leadcli.cli.options import FieldsOpt, LimitOpt, OutputOpt, YesOpt, filter_options
from leadcli.domain.errors import InvalidInput
from leadcli.domain.query import LeadQuery
from leadcli.output import parse_fields
from leadcli.services import leads as leads_svc
from leadcli.services import pipeline as svc
from leadcli.services.context import Workspace
from leadcli.services.filters import FilterArgs, build_query
from leadcli.store.base import Lead

HISTORY_FIELDS = ("from_stage", "to_stage", "changed_at", "by", "notes")
# What a stale list is about: when each lead was last touched.
STALE_TABLE_FIELDS = ("id", "handle", "name", "email", "company", "current_stage", "owner", "last_contacted", "created_at")
NoteOpt = Annotated[str | None, typer.Option("--note", help="A note kept with the history entry or activity.", show_default=False)]


@app.command()
def move(
    ctx: typer.Context,
    leads: Annotated[list[str], typer.Argument(help="Leads (handles, ids, prefixes of either, or emails), or - to read them from stdin, one a line.", show_default=False)],
    to: Annotated[str, typer.Option("--to", help="The stage to move to (name or slug, e.g. proposal-sent).", show_default=False)],
    note: NoteOpt = None,
    output: OutputOpt = "table",
    fields: FieldsOpt = None,
) -> None:
    """Move leads to another stage, recording the move in their history (forward or back).

    Moving a lead to the stage it is already in changes nothing.

    **Examples**

        leadcli move ada@example.com --to proposal-sent --note "sent v2 pricing"
        leadcli list --stage negotiation --owner bob --all -o ids | leadcli move - --to closed-won
    """
    ws = workspace(ctx)
    results = svc.move_leads_detailed(ws, read_refs(leads), to, note)
    moved = [lead for lead, _changed in results]
    already = [lead for lead, changed in results if not changed]
    if already:
        already_in_stage(already, note)
    if confirming(output, fields):
        done = [lead for lead, changed in results if changed]
        target = ws.pipeline.match(to)
        confirm_each([f"moved {who(lead)} → {target}" for lead in done], f"moved {len(done)} leads → {target}")
    print_changed(moved, leads, output, fields, ws)


@app.command()
def history(ctx: typer.Context, lead: LeadArg, output: OutputOpt = "table", fields: FieldsOpt = None) -> None:
    """A lead's stage history, oldest first.

    **Examples**

        leadcli history ada@example.com
        leadcli history 6650f1c2 -o json
    """
    from leadcli.domain.lead import to_jsonable
    from leadcli.output import views

    ws = workspace(ctx)
    entries = to_jsonable({"stage_history": svc.stage_history(ws, lead)})["stage_history"] or []
    chosen = parse_fields(fields, HISTORY_FIELDS, HISTORY_FIELDS)
    views.history(entries, chosen, output, own_fields=fields is not None, pipeline=ws.pipeline, zone=ws.zone)


@app.command()
def log(
    ctx: typer.Context,
    lead: LeadArg,
    type_: Annotated[str, typer.Option("--type", "-t", help="call, email, meeting or note.", show_default=False)],
    note: NoteOpt = None,
    at: Annotated[str | None, typer.Option("--at", help="When it happened (default now): ISO time, YYYY-MM-DD, -2h, yesterday…", show_default=False)] = None,
    output: OutputOpt = "table",
    fields: FieldsOpt = None,
) -> None:
    """Record a call, email, meeting or note; a call, email or meeting also sets last_contacted.

    last_contacted never moves backwards: logging yesterday's call after today's email keeps today.

    **Examples**

        leadcli log ada@example.com --type call --note "wants a demo next week"
        leadcli log 6650f1c2 -t meeting --at yesterday --note "demo with the CFO"
    """
    logged = svc.log_activity(workspace(ctx), lead, type_, note, at)
    if confirming(output, fields):
        info(f"logged {type_.strip().lower()} for {who(logged)} <{logged['email']}>")
    if prints_record(output, fields):
        print_lead(svc.with_recent_activities(logged), output, fields, extra=("activities",))


@app.command()
def followups(
    ctx: typer.Context,
    due: Annotated[str, typer.Option("--due", help="today (end of today, overdue included), overdue (now), week (now + 7 days), or a DATE.")] = "today",
    owner: Annotated[str | None, typer.Option("--owner", help="Only this owner's leads.", show_default=False)] = None,
    output: OutputOpt = "table",
    fields: FieldsOpt = None,
    limit: LimitOpt = None,
) -> None:
    """Leads whose follow-up is due, most overdue first (every one: --limit N for the first N).

    **Examples**

        leadcli followups
        leadcli followups --due week --owner ada -o json
        leadcli followups --due overdue --limit 5
    """
    ws = workspace(ctx)
    # Streamed from the store; --limit is asked of the store too (one lead more: was it cut?).
    due_leads = svc.followups(ws, due, owner) if limit is None else _limited(ws, svc.followups_query(ws, due, owner), limit)
    print_leads(due_leads, output, fields, ws, keep=("follow_up_at",), empty=f"no follow-ups due ({'--due week' if due != 'week' else '--due +1mo'} looks further ahead)")


@app.command()
@filter_options
def stale(
    ctx: typer.Context,
    filters: FilterArgs,
    days: Annotated[int, typer.Option("--days", help="Not contacted (never contacted: created) in this many days.", show_default=False)],
    move_to: Annotated[str | None, typer.Option("--move-to", help="Move every stale lead to this stage (asks first; --yes in scripts).", show_default=False)] = None,
    yes: YesOpt = False,
    output: OutputOpt = "table",
    fields: FieldsOpt = None,
    limit: LimitOpt = None,
) -> None:
    """Open leads going cold: not in a closed stage and not contacted in --days days.

    With --move-to, moves them (the history notes why). Without a terminal, --move-to needs --yes.

    **Examples**

        leadcli stale --days 14 --owner ada
        leadcli stale --days 30 --limit 10
        leadcli stale --days 30 --move-to closed-lost --yes   # in cron
    """
    ws = workspace(ctx)
    stale_query = svc.stale_query(ws, build_query(ws, filters), days)
    found = leads_svc.list_leads(ws, stale_query)
    if move_to is None:
        shown = found if limit is None else _limited(ws, stale_query, limit)
        print_leads(shown, output, fields, ws, table_fields=STALE_TABLE_FIELDS, keep=("last_contacted",), empty=f"no open leads without contact for {days} days")
        return
    if limit is not None:
        raise InvalidInput("--limit lists the first N stale leads; --move-to moves every one (give one or the other)")
    target = ws.pipeline.match(move_to)
    leads = list(found)
    if not yes:
        # Refused even when nothing is stale today, so a cron line missing --yes fails on day one.
        if not stdin_is_tty():
            raise InvalidInput(f"refusing to move {len(leads)} stale lead(s) to {target} without confirmation: pass --yes")
        if leads and not confirm(f"Move {len(leads)} stale lead(s) to {target}?"):
            info("nothing moved")
            raise typer.Exit(1)
    after, moved = svc.move_stale(ws, leads, target, days)
    info(f"moved {moved} stale lead(s) to {target}")
    print_leads(after, output, fields, ws, table_fields=STALE_TABLE_FIELDS)


def _limited(ws: Workspace, query: LeadQuery, limit: int) -> list[Lead]:
    """The first `limit` leads of `query`, asked of the store as a page (one lead more tells
    whether the listing went on: the rest is never read); a listing cut short says so on stderr
    (how many, counted only then, and that without --limit it shows all) when a person is there."""
    if limit < 1:
        raise InvalidInput("--limit: must be at least 1")
    page = leads_svc.Page(leads_svc.list_leads(ws, query.replace(limit=limit + 1)), limit)
    leads = list(page)
    if page.more:
        import sys

        from leadcli.output import is_terminal

        if is_terminal(sys.stderr):
            total = leads_svc.count_leads(ws, query.unpaged())
            info(f"showing the first {limit} of {total} (--limit {limit}); without --limit, every one")
    return leads


@app.command()
@filter_options
def stats(ctx: typer.Context, filters: FilterArgs, output: OutputOpt = "table") -> None:
    """Pipeline report for the matching leads: leads and value per stage, engaged count, win rate.

    win_rate = won / (won + lost), empty when nothing is closed.

    avg_days = the average number of days a lead spends in each stage, from the stage history:
    a stay runs from the move into a stage to the move out of it; a lead's current stay counts
    up to now when its stage is open, and not at all when it is closed (time after a deal is won
    or lost is not pipeline time). A lead that was in a stage several times counts the sum of its
    stays, once; the average is over the leads that spent time in the stage.

    **Examples**

        leadcli stats
        leadcli stats --owner ada --created-after -90d -o json
    """
    from leadcli.output import views
    from leadcli.services.reports import pipeline_stats

    ws = workspace(ctx)
    views.stats(pipeline_stats(ws, build_query(ws, filters)), output, pipeline=ws.pipeline)
