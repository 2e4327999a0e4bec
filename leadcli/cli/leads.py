"""Commands on single leads and lists of them: add, show, edit, delete, list, search, count."""

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from leadcli.cli.app import app, workspace
from leadcli.cli.console import confirm, info, stdin_is_tty
from leadcli.cli.options import (
    FieldsOpt,
    Listing,
    OutputOpt,
    YesOpt,
    filter_options,
    lead_field_options,
    listing_options,
)
from leadcli.domain.errors import InvalidInput
from leadcli.domain.lead import LEAD_FIELDS, to_jsonable
from leadcli.output import Renderer, parse_fields
from leadcli.services import leads as svc
from leadcli.services.filters import FilterArgs, build_query, paged

TABLE_FIELDS = ("id", "name", "email", "company", "current_stage", "status", "owner", "value", "follow_up_at")
LeadArg = Annotated[str, typer.Argument(help="Lead id, unique id prefix (4+ characters) or email.", show_default=False)]


def lead_fields(fmt: str, fields: str | None, extra: tuple[str, ...] = ()) -> list[str]:
    default = TABLE_FIELDS if fmt == "table" else LEAD_FIELDS + extra
    return parse_fields(fields, LEAD_FIELDS + extra, default)


def print_leads(leads: Any, fmt: str, fields: str | None, ws: Any = None) -> int:
    """Leads in `fmt`; on a terminal, a table fitted to it with the workspace's stage colours."""
    from leadcli.output import views

    return views.leads(
        (to_jsonable(lead) for lead in leads),
        lead_fields(fmt, fields),
        fmt,
        pipeline=ws.pipeline if ws else None,
        zone=ws.zone if ws else None,
        fit=not fields,
    )


def print_lead(lead: dict[str, Any], fmt: str, fields: str | None, extra: tuple[str, ...] = ()) -> None:
    Renderer(fmt).one(to_jsonable(lead), lead_fields(fmt, fields, extra) if fmt != "table" or fields else list(to_jsonable(lead)))


def _read_json_object(source: str) -> dict[str, Any]:
    try:
        text = sys.stdin.read() if source == "-" else Path(source).read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidInput(f"--json: cannot read {source}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise InvalidInput(f"--json: {source} is not UTF-8 text") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"--json: not valid JSON ({exc.msg} at line {exc.lineno})") from None
    if not isinstance(data, dict):
        raise InvalidInput("--json: expected one JSON object")
    return data


@app.command()
@lead_field_options
def add(
    ctx: typer.Context,
    values: dict[str, Any],
    json_source: Annotated[str | None, typer.Option("--json", help="Read one JSON object from a file, or - for stdin; flags given beside it win.", show_default=False)] = None,
    output: OutputOpt = "table",
    fields: FieldsOpt = None,
) -> None:
    """Add a lead.

    **Examples**

        leadcli add --name "Katherine Johnson" --email katherine@example.com --company NASA --value 8000
        leadcli add --name "Dorothy Vaughan" --email dorothy@example.com --stage "initial contact" --follow-up +3d --tag vip
        echo '{"name": "Mary Jackson", "email": "mary@example.com"}' | leadcli add --json - -o json
        leadcli add                     # on a terminal, asks for name and email; in a script: exit 2
    """
    ws = workspace(ctx)
    raw = svc.changes_from_options(ws, values, _read_json_object(json_source) if json_source else None)
    if stdin_is_tty() and json_source != "-":
        for key in ("name", "email"):
            if not raw.get(key):
                raw[key] = typer.prompt(key.capitalize(), err=True)
    lead = svc.add_lead(ws, raw)
    if output == "table" and not fields:
        info(f"added {lead['name']} <{lead['email']}> as {lead['id']}")
    print_lead(lead, output, fields)


@app.command()
def show(ctx: typer.Context, lead: LeadArg, output: OutputOpt = "table", fields: FieldsOpt = None) -> None:
    """Show a lead with its stage history and recent activities.

    **Examples**

        leadcli show ada@example.com
        leadcli show 6650f1c2 -o json
        leadcli show ada@example.com | grep -i follow_up
    """
    from leadcli.output import views
    from leadcli.services.pipeline import with_recent_activities

    ws = workspace(ctx)
    record = to_jsonable(with_recent_activities(svc.resolve(ws, lead)))
    chosen = lead_fields(output, fields, ("activities",)) if output != "table" or fields else list(record)
    if fields:
        Renderer(output).one(record, chosen)
    else:
        views.lead_card(record, chosen, output, pipeline=ws.pipeline, zone=ws.zone)


@app.command()
@lead_field_options
def edit(
    ctx: typer.Context,
    leads: Annotated[list[str], typer.Argument(help="Leads (ids, prefixes or emails), or - to read ids from stdin.", show_default=False)],
    values: dict[str, Any],
    add_tag: Annotated[list[str] | None, typer.Option("--add-tag", help="Add a tag (repeatable).", show_default=False)] = None,
    remove_tag: Annotated[list[str] | None, typer.Option("--remove-tag", help="Remove a tag (repeatable).", show_default=False)] = None,
    unset: Annotated[list[str] | None, typer.Option("--unset", help="Clear a field (company, phone, owner, value, follow_up_at…) or a custom field (repeatable).", show_default=False)] = None,
    note: Annotated[str | None, typer.Option("--note", help="Note recorded with a stage change.", show_default=False)] = None,
    json_source: Annotated[str | None, typer.Option("--json", help="Read changes as one JSON object from a file, or - for stdin.", show_default=False)] = None,
    output: OutputOpt = "table",
    fields: FieldsOpt = None,
) -> None:
    """Change a lead's fields; a stage change is recorded in its history like `move`.

    With no field options on a terminal, asks for each main field (Enter keeps the current
    value, - clears it) and saves what changed in one write.

    **Examples**

        leadcli edit ada@example.com --company "Babbage & Co" --add-tag vip
        leadcli edit 6650f1c2 --stage negotiation --value 12000 --unset follow_up_at
        leadcli list --owner ann -o ids | leadcli edit - --owner bob
        leadcli edit ada@example.com    # on a terminal, asks for each field; in a script: exit 2
    """
    ws = workspace(ctx)
    if json_source == "-" and "-" in leads:
        raise InvalidInput("--json - and - for leads both read stdin; give the JSON in a file")
    raw = svc.changes_from_options(ws, values, _read_json_object(json_source) if json_source else None)
    if not (raw or add_tag or remove_tag or unset) and len(leads) == 1 and leads[0] != "-" and stdin_is_tty():
        from leadcli.cli.interactive import ask_changes

        values, unset = ask_changes(ws, svc.resolve(ws, leads[0]))
        raw = svc.changes_from_options(ws, values)
        if not (raw or unset):
            info("nothing changed")
            return
    if not (raw or add_tag or remove_tag or unset):
        raise InvalidInput("nothing to change: give at least one field option (see leadcli edit --help)")
    changed = svc.edit_leads(ws, read_refs(leads), raw, add_tags=add_tag or (), remove_tags=remove_tag or (), unset=unset or (), note=note)
    if len(changed) == 1 and "-" not in leads:
        print_lead(changed[0], output, fields)
    else:
        print_leads(changed, output, fields, ws)


@app.command()
def delete(
    ctx: typer.Context,
    leads: Annotated[list[str], typer.Argument(help="Leads (ids, prefixes or emails), or - to read ids from stdin.", show_default=False)],
    yes: YesOpt = False,
) -> None:
    """Delete leads (asks first on a terminal; needs --yes in scripts).

    **Examples**

        leadcli delete ada@example.com          # asks first; in a script it refuses: exit 2
        leadcli delete ada@example.com --yes
        leadcli list --stage closed-lost -o ids | leadcli delete - --yes
    """
    ws = workspace(ctx)
    # The same lead named twice (by id and by email, say) is deleted once.
    found = list({lead["id"]: lead for lead in (svc.resolve(ws, ref) for ref in read_refs(leads))}.values())
    if not yes:
        # Refused even when nothing matched, so a script missing --yes fails every day, not
        # only on the days there is something to delete.
        if not stdin_is_tty() or "-" in leads:
            raise InvalidInput("refusing to delete without confirmation: pass --yes")
        names = ", ".join(f"{lead['name']} <{lead['email']}>" for lead in found)
        if found and not confirm(f"Delete {len(found)} lead(s): {names}?"):
            info("nothing deleted")
            raise typer.Exit(1)
    for lead in found:
        svc.delete_lead(ws, lead)
    info(f"deleted {len(found)} lead(s)")


def read_refs(args: list[str]) -> list[str]:
    """LEAD arguments, with `-` replaced by the lines of stdin (blank lines skipped). Empty
    stdin gives no leads, not an error: `leadcli list … -o ids | leadcli delete - --yes` in a
    cron job must succeed on the day nothing matches."""
    refs: list[str] = []
    for arg in args:
        if arg == "-":
            refs += [line.strip() for line in sys.stdin if line.strip()]
        else:
            refs.append(arg)
    if not refs and "-" not in args:
        raise InvalidInput("no leads given")
    return refs


def _list(ctx: typer.Context, filters: FilterArgs, listing: Listing) -> None:
    ws = workspace(ctx)
    query = build_query(ws, filters, sort=listing.sort, descending=listing.descending)
    page_size = ws.settings.page_size if listing.page_size is None else listing.page_size
    query = paged(query, listing.page, page_size, listing.everything)
    print_leads(svc.list_leads(ws, query), listing.output, listing.fields, ws)


@app.command("list")
@filter_options
@listing_options
def list_(ctx: typer.Context, filters: FilterArgs, listing: Listing) -> None:
    """List leads, filtered, sorted and paged.

    **Examples**

        leadcli list
        leadcli list --stage "proposal sent" --owner sam --sort value
        leadcli list --tag vip --created-after -7d -o csv --all
        leadcli list --follow-up-before today --fields name,email,follow_up_at
    """
    _list(ctx, filters, listing)


@app.command()
@filter_options
@listing_options
def search(
    ctx: typer.Context,
    text: Annotated[str, typer.Argument(help="Text to find in name, email, company or notes (literal, case-insensitive).", show_default=False)],
    filters: FilterArgs,
    listing: Listing,
) -> None:
    """Find leads by text: the same as `list --search TEXT`.

    **Examples**

        leadcli search acme
        leadcli search "o'brien" --stage negotiation -o json
    """
    from dataclasses import replace

    _list(ctx, replace(filters, search=text), listing)


@app.command()
@filter_options
def count(ctx: typer.Context, filters: FilterArgs, output: OutputOpt = "table") -> None:
    """Print how many leads match the filters: a bare integer, which is also its JSON.

    **Examples**

        leadcli count
        leadcli count --stage new-lead --not-engaged
    """
    if output not in ("table", "json", "jsonl"):  # scripts pass -o json everywhere; a number has no csv or ids
        raise InvalidInput(f"--output: count prints a number (table, json or jsonl), not {output!r}")
    ws = workspace(ctx)
    print(svc.count_leads(ws, build_query(ws, filters)), flush=True)
