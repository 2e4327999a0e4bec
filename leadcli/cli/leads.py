"""Commands on single leads and lists of them: add, show, edit, delete, list, search, count."""

import json
import sys
from collections.abc import Callable
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
from leadcli.domain.handle import handle_of
from leadcli.domain.lead import LEAD_FIELDS, to_jsonable
from leadcli.output import FIELD_ALIASES, Renderer, parse_fields
from leadcli.services import leads as svc
from leadcli.services.filters import FilterArgs, build_query, paged

# The table's default columns. In a pipe the id stays first (scripts read it); on a terminal
# the handle leads and the id is the first column to give way (output/views.py).
TABLE_FIELDS = ("id", "handle", "name", "email", "company", "current_stage", "status", "owner", "value", "follow_up_at")
LeadArg = Annotated[
    str,
    typer.Argument(metavar="LEAD", help="Lead handle (first column of a table), id, unique prefix (4+ characters) of either, or email.", show_default=False),
]
# How many one-line confirmations a command prints before it sums them up in one line.
CONFIRM_EACH = 10


def lead_fields(fmt: str, fields: str | None, extra: tuple[str, ...] = ()) -> list[str]:
    """--fields checked against the record's fields, `handle` and `stage` (= current_stage)."""
    default = TABLE_FIELDS if fmt == "table" else LEAD_FIELDS + extra
    return parse_fields(fields, (*LEAD_FIELDS, "handle", *extra), default, aliases=FIELD_ALIASES)


def jsonable(lead: dict[str, Any], fields: Any = ("handle",)) -> dict[str, Any]:
    """The lead as JSON-ready data, with its handle when a chosen field asks for it (the record
    itself has no handle: it is computed from the id, so an export never stores it)."""
    record = to_jsonable(lead)
    if "handle" in fields:
        record["handle"] = handle_of(record["id"])
    return record


def print_leads(
    leads: Any,
    fmt: str,
    fields: str | None,
    ws: Any = None,
    *,
    table_fields: tuple[str, ...] = TABLE_FIELDS,
    empty: str | Callable[[], str] = "no leads match",
    keep: tuple[str, ...] = (),
) -> int:
    """Leads in `fmt`; on a terminal, a table fitted to it with the workspace's stage colours
    (`keep`: columns that give way last on a narrow one)."""
    from leadcli.output import views

    chosen = lead_fields(fmt, fields) if fields or fmt != "table" else list(table_fields)
    return views.leads(
        (jsonable(lead, chosen) for lead in leads),
        chosen,
        fmt,
        pipeline=ws.pipeline if ws else None,
        zone=ws.zone if ws else None,
        fit=not fields,
        empty=empty,
        keep=keep,
    )


def print_lead(lead: dict[str, Any], fmt: str, fields: str | None, extra: tuple[str, ...] = ()) -> None:
    chosen = lead_fields(fmt, fields, extra) if fmt != "table" or fields else None
    record = jsonable(lead, chosen or ())
    Renderer(fmt).one(record, chosen or list(record))


def views_drawing(output: str) -> bool:
    from leadcli.output import views

    return views.drawing(output)


def confirming(output: str, fields: str | None) -> bool:
    """Whether a change is confirmed in a line on stderr (the table format, no --fields)."""
    return output == "table" and not fields


def print_changed(changed: list[dict[str, Any]], refs: list[str], output: str, fields: str | None, ws: Any) -> None:
    """The leads an `edit` or `move` wrote: one lead named on the command line as a record, else
    a list (`-` may have read any number); nothing where the confirmation says it."""
    if not prints_record(output, fields):
        return
    if len(changed) == 1 and "-" not in refs:
        print_lead(changed[0], output, fields)
    else:
        print_leads(changed, output, fields, ws)


def prints_record(output: str, fields: str | None) -> bool:
    """Whether a change prints the changed lead on stdout: always, except on a terminal in the
    default table format, where the one-line confirmation says it (`-o json` gives the record)."""
    from leadcli.output import views

    return not (confirming(output, fields) and views.drawing(output))


def confirm_each(lines: list[str], summary: str) -> None:
    """One line per lead, or `summary` when there are more than CONFIRM_EACH."""
    for line in lines if len(lines) <= CONFIRM_EACH else [summary]:
        info(line)


def who(lead: dict[str, Any]) -> str:
    return str(lead.get("name") or handle_of(lead["id"]))  # info() shows it by the views' rule


def _read_json_object(source: str) -> dict[str, Any]:
    try:
        text = sys.stdin.read() if source == "-" else Path(source).read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidInput(f"--json: cannot read {source}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise InvalidInput(f"--json: {source} is not UTF-8 text") from None
    try:
        data = json.loads(text.removeprefix("\ufeff"))  # a byte order mark (Notepad, PowerShell), as import reads it
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"--json: not valid JSON ({exc.msg} at line {exc.lineno})") from None
    except (ValueError, RecursionError) as exc:  # a 5,000-digit number, nesting too deep: as import says it
        from leadcli.services.import_files import unreadable_json

        raise InvalidInput(f"--json: {unreadable_json(exc)}") from None
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
        from leadcli.domain.schema import REQUIRED

        for field in REQUIRED:
            if not raw.get(field.name):
                raw[field.name] = typer.prompt(field.label, err=True)
    lead = svc.add_lead(ws, raw)
    if confirming(output, fields):
        info(f"added {who(lead)} <{lead['email']}> as {handle_of(lead['id'])}")
    if prints_record(output, fields):
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
    leads: Annotated[list[str], typer.Argument(help="Leads (handles, ids, prefixes of either, or emails), or - to read them from stdin, one a line.", show_default=False)],
    values: dict[str, Any],
    add_tag: Annotated[list[str] | None, typer.Option("--add-tag", help="Add a tag (repeatable).", show_default=False)] = None,
    remove_tag: Annotated[list[str] | None, typer.Option("--remove-tag", help="Remove a tag (repeatable).", show_default=False)] = None,
    unset: Annotated[list[str] | None, typer.Option("--unset", help="Clear a field (company, phone, owner, value, follow_up_at…) or a custom field (repeatable).", show_default=False)] = None,
    note: Annotated[
        str | None,
        typer.Option("--note", help="A note kept in the history entry of the stage change (needs --stage; --notes replaces the lead's own notes).", show_default=False),
    ] = None,
    json_source: Annotated[str | None, typer.Option("--json", help="Read changes as one JSON object from a file, or - for stdin.", show_default=False)] = None,
    output: OutputOpt = "table",
    fields: FieldsOpt = None,
) -> None:
    """Change a lead's fields; a stage change is recorded in its history like `move`.

    --note TEXT goes into the history entry of a stage change (as with `move --note`);
    --notes TEXT replaces the lead's own notes. With --stage, give --note for the change's
    note (and --notes as well only to replace the lead's notes too).

    With no field options on a terminal, asks for each main field (Enter keeps the current
    value, - clears it) and saves what changed in one write.

    **Examples**

        leadcli edit ada@example.com --company "Babbage & Co" --add-tag vip
        leadcli edit ada@example.com --stage proposal-sent --note "sent pricing v2"
        leadcli edit 6650f1c2 --stage negotiation --value 12000 --unset follow_up_at
        leadcli list --owner ann --all -o ids | leadcli edit - --owner bob
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
            info("nothing changed" + ("; --note was not recorded (it goes with a stage change)" if note else ""))
            return
        if note and raw.get("current_stage") is None:
            info("the stage did not change: --note was not recorded")
            note = None
    else:
        _check_note_options(raw, values, note)
    if not (raw or add_tag or remove_tag or unset):
        raise InvalidInput("nothing to change: give at least one field option (see leadcli edit --help)")
    results = svc.edit_leads_detailed(ws, read_refs(leads), raw, add_tags=add_tag or (), remove_tags=remove_tag or (), unset=unset or (), note=note)
    changed = [after for after, _changes in results]
    _confirm_edits(results, raw.get("current_stage"), note, confirming(output, fields))
    print_changed(changed, leads, output, fields, ws)


def _check_note_options(raw: dict[str, Any], values: dict[str, Any], note: str | None) -> None:
    """`--note` belongs to a stage change; `--notes` with a stage change and no `--note` is the
    trap of replacing the lead's notes when a note on the move was meant: refused, saying which."""
    if note is not None and raw.get("current_stage") is None:
        raise InvalidInput("--note is the note of a stage change: give --stage too (--notes replaces the lead's own notes)")
    if "notes" in values and raw.get("current_stage") is not None and note is None:
        raise InvalidInput(
            "--notes replaces the lead's own notes; for a note on this stage change use --note "
            "(give both to do both)"
        )


def _confirm_edits(results: list[tuple[dict[str, Any], dict[str, Any]]], stage: str | None, note: str | None, confirm: bool) -> None:
    """One line per lead on stderr when confirming; a stage change asked for a lead already in
    that stage is said whatever the format (and that its note was not recorded)."""
    lines, already = [], []
    for after, changes in results:
        if stage is not None and "current_stage" not in changes:
            already.append(after)
        if not changes:
            lines.append(f"{who(after)}: nothing changed")
        elif "current_stage" in changes:
            rest = [k for k in changes if k != "current_stage"]
            lines.append(f"moved {who(after)} → {after['current_stage']}" + (f", updated {', '.join(rest)}" if rest else ""))
        else:
            lines.append(f"updated {who(after)}: {', '.join(changes)}")
    if already:
        already_in_stage(already, note)
    if confirm:
        done = sum(1 for _after, changes in results if changes)
        confirm_each(lines, f"updated {done} of {len(results)} leads" + (f"; {len(results) - done} unchanged" if done < len(results) else ""))


def already_in_stage(leads: list[dict[str, Any]], note: str | None) -> None:
    """`move`/`edit --stage` to the stage a lead is in changes nothing: said on stderr, and that
    a note given with it was not recorded (it belongs to a history entry, and there is none)."""
    dropped = "; the note was not recorded (to keep it: leadcli log LEAD --type note --note …)" if note else ""
    if len(leads) == 1:
        lead = leads[0]
        if note:  # the command to paste, with this lead's handle and the note itself
            import shlex

            from leadcli.domain.handle import handle_of

            keep = f"leadcli log {handle_of(str(lead.get('id')))} --type note --note {shlex.quote(note)}"
            dropped = f"; the note was not recorded (to keep it: {keep})"
        info(f"{who(lead)} is already in {lead.get('current_stage') or ''}: not moved{dropped}")
    else:
        info(f"{len(leads)} leads were already in {leads[0].get('current_stage') or ''}: not moved{dropped}")


@app.command()
def delete(
    ctx: typer.Context,
    leads: Annotated[list[str], typer.Argument(help="Leads (handles, ids, prefixes of either, or emails), or - to read them from stdin, one a line.", show_default=False)],
    yes: YesOpt = False,
) -> None:
    """Delete leads (asks first on a terminal; needs --yes in scripts).

    **Examples**

        leadcli delete ada@example.com          # asks first; in a script it refuses: exit 2
        leadcli delete ada@example.com --yes
        leadcli list --stage closed-lost --all -o ids | leadcli delete - --yes
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
    done = [(lead, svc.delete_lead(ws, lead)) for lead in found]  # False: another user deleted it meanwhile
    lines = [f"deleted {who(lead)} <{lead['email']}>" if mine else f"{who(lead)} <{lead['email']}> was deleted meanwhile" for lead, mine in done]
    confirm_each(lines or ["deleted 0 leads"], f"deleted {sum(mine for _lead, mine in done)} leads")


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
    if listing.limit is not None and (listing.everything or listing.page_size is not None):
        raise InvalidInput("--limit N is the first N leads: give it without --all or --page-size")
    page_size = listing.limit if listing.limit is not None else ws.settings.page_size if listing.page_size is None else listing.page_size
    if listing.limit is not None and listing.limit < 1:
        raise InvalidInput("--limit: must be at least 1")
    query = paged(query, listing.page, page_size, listing.everything)
    if listing.everything:
        print_leads(svc.list_leads(ws, query), listing.output, listing.fields, ws)
        return
    # One lead past the page tells whether there is more (the store clamped the limit: no overflow).
    size = page_size if query.limit is None else query.limit
    page = svc.Page(svc.list_leads(ws, query.replace(limit=size + 1)), size)
    shown = print_leads(page, listing.output, listing.fields, ws, empty=lambda: _empty_page(ws, query, listing, page_size))
    if not shown and listing.page > 1 and not views_drawing(listing.output):
        message = _empty_page(ws, query, listing, page_size)
        if message != "no leads match":
            info(message)
    if page.more:
        asked = listing.limit is not None or listing.page_size is not None or listing.page > 1
        _say_more(ws, query, listing, page_size, shown, asked)


def _say_more(ws: Any, query: Any, listing: Listing, page_size: int, shown: int, asked: bool) -> None:
    """A listing that stops before the end says so, on stderr (stdout stays the contract's):
    how many matched and how to see the rest. When the user chose the page or the limit, only
    a person at a terminal is told (a script paging on purpose gets no noise)."""
    from leadcli.output import is_terminal

    if asked and not is_terminal(sys.stderr):
        return
    total = svc.count_leads(ws, query.unpaged())
    first = query.offset + 1
    last = query.offset + shown
    pages = -(-total // page_size)
    if listing.limit is not None:
        info(f"showing the first {shown} of {total} matching leads (--limit {listing.limit}); --all for every one")
        return
    info(f"showing {first}–{last} of {total} matching leads (page {listing.page} of {pages}); --page {listing.page + 1} for the next, --all for every one")


def _empty_page(ws: Any, query: Any, listing: Listing, page_size: int) -> str:
    """What an empty table says on a terminal: nothing matched, or the page is past the end."""
    if listing.page <= 1:
        return "no leads match"
    total = svc.count_leads(ws, query.unpaged())
    if not total:
        return "no leads match"
    return f"no leads on page {listing.page}: {total} match (pages 1–{-(-total // page_size)})"


@app.command("list")
@filter_options
@listing_options
def list_(ctx: typer.Context, filters: FilterArgs, listing: Listing) -> None:
    """List leads, filtered, sorted and paged.

    **Examples**

        leadcli list
        leadcli list --stage "proposal sent" --owner sam --sort value
        leadcli list --tag vip --created-after -7d -o csv --all
        leadcli list --sort stage --limit 10
        leadcli list --follow-up-before today --fields handle,name,email,follow_up_at
        leadcli list --stage closed-lost --all -o ids | leadcli delete - --yes
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
        leadcli search "Grace Hopper" --limit 5
        leadcli search "o'brien" --stage negotiation -o json
    """
    _list(ctx, filters.replace(search=text), listing)


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
