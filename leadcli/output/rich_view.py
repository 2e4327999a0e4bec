"""Views for a person at a terminal, drawn with Rich; imported only when drawing on one.

Every view is a function from data to a Rich renderable, so commands print it with
`print_view` and tests render it on a console of fixed width (tests/test_snapshots.py). The
data is what commands already have: leads and stats in the contract's JSON shape (ISO strings;
datetimes are accepted too), the pipeline, a fixed `now` and a timezone for display. Stages
have one colour each, the same in every view (`StagePalette`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, tzinfo
from typing import Any, TextIO

from rich import box
from rich.console import Console, Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from leadcli.domain.pipeline import Pipeline
from leadcli.output import cell as plain_cell
from leadcli.output import force_terminal, no_color, one_line, printable, terminal_width


def cell(value: Any) -> str:
    """A value as text for the terminal: `output.cell`, control characters shown as `\\xNN`."""
    return printable(plain_cell(value))

STALE_DAYS = 30  # an open lead not contacted in this many days is marked stale
OPEN_COLORS = ("blue", "cyan", "magenta", "yellow", "bright_blue", "bright_cyan", "bright_magenta", "bright_yellow")
WON_COLOR, LOST_COLOR, UNKNOWN_COLOR = "green", "red", "white"
BAR = "█"


# -- plumbing ---------------------------------------------------------------------------------


def make_console(stream: TextIO) -> Console:
    """A console for `stream`: honours NO_COLOR; LEADCLI_FORCE_TERMINAL=1 (tests only) makes it
    draw as on a terminal of COLUMNS width (default 100) in the 16 standard colours."""
    if force_terminal():
        return Console(file=stream, force_terminal=True, width=terminal_width(), color_system="standard", no_color=no_color(), highlight=False)
    return Console(file=stream, no_color=no_color(), highlight=False)


def print_view(stream: TextIO, view: RenderableType) -> None:
    make_console(stream).print(view)


def when(value: Any) -> datetime | None:
    """A timestamp from a lead (ISO string or datetime) as an aware datetime."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def day(value: Any, zone: tzinfo) -> str:
    moment = when(value)
    return moment.astimezone(zone).strftime("%Y-%m-%d") if moment else ""


def days_between(start: datetime, end: datetime) -> int:
    return max(0, int((end - start).total_seconds() // 86400))


def ago(value: Any, now: datetime) -> str:
    moment = when(value)
    if moment is None:
        return "never"
    days = days_between(moment, now)
    return "today" if days == 0 else "yesterday" if days == 1 else f"{days} days ago"


def money(value: Any) -> str:
    if value is None or value == "":
        return ""
    number = float(value)
    return f"{number:,.0f}" if number.is_integer() else f"{number:,.2f}"


class StagePalette:
    """One colour per stage, from its place in the pipeline: open stages cycle through blues,
    cyans, magentas and yellows; the won stage is green, the lost one red, others white."""

    def __init__(self, stages: Sequence[str], won: str | None = None, lost: str | None = None) -> None:
        self.colors: dict[str, str] = {}
        open_stages = [s for s in stages if s not in (won, lost)]
        for i, stage in enumerate(open_stages):
            self.colors[stage] = OPEN_COLORS[i % len(OPEN_COLORS)]
        if won:
            self.colors[won] = WON_COLOR
        if lost:
            self.colors[lost] = LOST_COLOR

    @classmethod
    def of(cls, pipeline: Pipeline) -> StagePalette:
        return cls(pipeline.stages, pipeline.won, pipeline.lost)

    def color(self, stage: str | None) -> str:
        return self.colors.get(stage or "", UNKNOWN_COLOR)

    def text(self, stage: str | None) -> Text:
        return Text(printable(stage or ""), style=self.color(stage))


def is_overdue(lead: Mapping[str, Any], now: datetime) -> bool:
    due = when(lead.get("follow_up_at"))
    return due is not None and due < now


def stale_days(lead: Mapping[str, Any], pipeline: Pipeline, now: datetime, threshold: int = STALE_DAYS) -> int | None:
    """Days since an open lead was last contacted (or created, if never); None unless stale."""
    if pipeline.is_closed(lead.get("current_stage")):
        return None
    since = when(lead.get("last_contacted")) or when(lead.get("created_at"))
    if since is None:
        return None
    days = days_between(since, now)
    return days if days >= threshold else None


# -- list -------------------------------------------------------------------------------------

# Default columns in the order they are given up when the terminal is narrow (first to go first).
DROP_ORDER = ("status", "owner", "id", "value", "company", "follow_up_at", "email")
# Columns that may be shortened with an ellipsis, and how narrow before they would rather go;
# the others (ids, stages, numbers, dates) are shown whole or not at all.
SHRINKABLE = {"name": 14, "email": 16, "company": 10, "owner": 6, "status": 8, "source": 8, "tags": 8, "notes": 10}
HEADERS = {"current_stage": "stage", "follow_up_at": "follow-up", "last_contacted": "contacted", "created_at": "created", "updated_at": "updated", "stage_updated_at": "in stage since"}
DATE_FIELDS = ("follow_up_at", "last_contacted", "created_at", "updated_at", "stage_updated_at")


COLUMN_GAP = 3  # what each column adds to a line: padding and separator


def fit_columns(natural: Mapping[str, int], width: int) -> dict[str, int]:
    """Which default columns to show and how wide: drop columns, least useful first, until the
    rest fit `width` (shrinkable ones at their narrowest, others whole), then share the room
    left among the shrinkable ones. `natural` maps each column, in order, to its full width."""
    kept = list(natural)

    def narrowest(col: str) -> int:
        return min(natural[col], SHRINKABLE.get(col, natural[col]))

    def needed(cols: Sequence[str]) -> int:
        return sum(narrowest(c) + COLUMN_GAP for c in cols)

    for victim in DROP_ORDER:
        if needed(kept) <= width or len(kept) <= 2:
            break
        if victim in kept:
            kept.remove(victim)
    widths = {c: narrowest(c) for c in kept}
    room = width - needed(kept)
    while room > 0:
        wanting = [c for c in kept if widths[c] < natural[c]]
        if not wanting:
            break
        share = max(1, room // len(wanting))
        for col in wanting:
            extra = min(share, natural[col] - widths[col], room)
            widths[col] += extra
            room -= extra
    return widths


def lead_table(
    leads: Sequence[Mapping[str, Any]],
    fields: Sequence[str],
    pipeline: Pipeline,
    *,
    now: datetime,
    zone: tzinfo = UTC,
    width: int | None = None,
    fit: bool = True,
    title: str | None = None,
) -> RenderableType:
    """Leads as a table for a person: stages coloured, overdue follow-ups in red, stale leads
    marked; when `fit`, columns the terminal cannot hold are dropped and long text ellipsized."""
    palette = StagePalette.of(pipeline)
    marked_overdue = marked_stale = False
    cells: list[dict[str, Text]] = []
    for lead in leads:
        row: dict[str, Text] = {}
        stale = stale_days(lead, pipeline, now)
        for name in fields:
            value = lead.get(name)
            if name == "current_stage":
                row[name] = palette.text(value)
            elif name == "follow_up_at" and is_overdue(lead, now):
                marked_overdue = True
                row[name] = Text(f"{day(value, zone)} overdue", style="bold red")
            elif name in DATE_FIELDS:
                row[name] = Text(day(value, zone))
            elif name == "value":
                row[name] = Text(money(value))
            elif name == "name" and stale is not None:
                marked_stale = True
                row[name] = Text.assemble(cell(value), (f" · stale {stale}d", "dim yellow"))
            else:
                row[name] = Text(one_line(cell(value)))
        cells.append(row)
    natural = {f: max([len(HEADERS.get(f, f.replace("_", " ")))] + [r[f].cell_len for r in cells]) for f in fields}
    widths = fit_columns(natural, width) if fit and width else {f: None for f in fields}
    shown = list(widths)
    table = Table(title=title, box=box.SIMPLE_HEAD, header_style="bold", pad_edge=False, expand=False)
    for name in shown:
        table.add_column(
            HEADERS.get(name, name.replace("_", " ")),
            justify="right" if name in ("value", "version") else "left",
            no_wrap=True,
            overflow="ellipsis",
            width=widths[name],
        )
    for row in cells:
        table.add_row(*(row[name] for name in shown))
    notes: list[str | tuple[str, str]] = []
    if marked_overdue:
        notes += [("overdue", "bold red"), ": follow-up date passed   "]
    if marked_stale:
        notes += [("stale", "dim yellow"), f": open, no contact in {STALE_DAYS}+ days   "]
    if len(shown) < len(fields):
        hidden = ", ".join(HEADERS.get(f, f) for f in fields if f not in shown)
        notes.append((f"hidden to fit: {hidden} (use --fields)", "dim"))
    if notes:
        table.caption = Text.assemble(*notes)
        table.caption_justify = "left"
    return table


# -- show -------------------------------------------------------------------------------------


def stage_progress(stage: str | None, pipeline: Pipeline, width: int = 60) -> Text:
    """The pipeline as a bar: the stages reached filled in the current stage's colour."""
    palette = StagePalette.of(pipeline)
    stages = list(pipeline.open_stages)
    if stage in pipeline.closed:
        reached, total = len(stages), len(stages)
    elif stage in stages:
        reached, total = stages.index(stage) + 1, len(stages)
    else:
        reached, total = 0, len(stages)
    segment = max(3, width // max(total, 1))
    bar = Text()
    for i in range(total):
        done = i < reached
        bar.append(("━" if done else "─") * (segment - 1), style=palette.color(stage) if done else "dim")
        bar.append(" ")
    label = stage or "no stage"
    where = "closed" if stage in pipeline.closed else f"stage {reached} of {total}" if reached else "not in the pipeline"
    bar.append_text(Text.assemble(" ", (label, f"bold {palette.color(stage)}"), f"  ({where})"))
    return bar


def history_timeline(lead: Mapping[str, Any], pipeline: Pipeline, *, now: datetime, zone: tzinfo = UTC) -> Table:
    """Each stage the lead entered, when, by whom, and how many days it stayed there."""
    palette = StagePalette.of(pipeline)
    table = Table(box=None, show_header=True, header_style="dim", pad_edge=False, padding=(0, 2, 0, 0))
    for name, justify in (("date", "left"), ("", "left"), ("stage", "left"), ("days", "right"), ("by", "left"), ("note", "left")):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    entries = list(lead.get("stage_history") or [])
    for i, entry in enumerate(entries):
        start = when(entry.get("changed_at"))
        end = when(entries[i + 1].get("changed_at")) if i + 1 < len(entries) else now
        days = days_between(start, end) if start and end else 0
        last = i == len(entries) - 1
        marker = Text("●" if last else "○", style=palette.color(entry.get("to_stage")))
        spent = f"{days}" + (" so far" if last and not pipeline.is_closed(entry.get("to_stage")) else "")
        table.add_row(day(start, zone), marker, palette.text(entry.get("to_stage")), spent, cell(entry.get("by")), cell(entry.get("notes")))
    return table


def activity_table(lead: Mapping[str, Any], *, zone: tzinfo = UTC, limit: int = 5) -> RenderableType:
    activities = sorted(lead.get("activities") or [], key=lambda a: when(a.get("at")) or datetime.min.replace(tzinfo=UTC), reverse=True)
    if not activities:
        return Text("no activities logged yet (leadcli log LEAD --type call --note …)", style="dim")
    table = Table(box=None, show_header=False, pad_edge=False, padding=(0, 2, 0, 0))
    for _ in range(4):
        table.add_column()
    for activity in activities[:limit]:
        table.add_row(day(activity.get("at"), zone), Text(cell(activity.get("type")), style="bold"), cell(activity.get("by")), cell(activity.get("note")))
    if len(activities) > limit:
        table.add_row("", Text(f"… {len(activities) - limit} older", style="dim"), "", "")
    return table


def follow_up_text(lead: Mapping[str, Any], *, now: datetime, zone: tzinfo = UTC) -> Text:
    due = when(lead.get("follow_up_at"))
    if due is None:
        return Text("none planned (leadcli edit LEAD --follow-up +3d)", style="dim")
    days = abs((due.astimezone(zone).date() - now.astimezone(zone).date()).days)
    if due < now:
        return Text(f"{day(due, zone)}  overdue by {days} day{'s' * (days != 1)}", style="bold red")
    return Text(f"{day(due, zone)}  " + ("today" if days == 0 else f"in {days} day{'s' * (days != 1)}"), style="green")


def lead_card(lead: Mapping[str, Any], pipeline: Pipeline, *, now: datetime, zone: tzinfo = UTC, width: int = 100) -> RenderableType:
    """`show` on a terminal: who the lead is, where it stands in the pipeline, how it got there,
    what was done lately and what is next."""
    palette = StagePalette.of(pipeline)
    facts = Table.grid(padding=(0, 2))
    facts.add_column(style="dim", no_wrap=True)
    facts.add_column()
    engaged = "engaged" if lead.get("engaged") else "not engaged"
    status = cell(lead.get("status"))
    rows: list[tuple[str, RenderableType | str]] = [
        ("email", cell(lead.get("email"))),
        ("company", cell(lead.get("company"))),
        ("phone", cell(lead.get("phone"))),
        ("stage", palette.text(lead.get("current_stage"))),
        ("status", status if status.lower() == engaged else f"{status} ({engaged})"),
        ("owner", cell(lead.get("owner"))),
        ("source", cell(lead.get("source"))),
        ("value", money(lead.get("value"))),
        ("tags", cell(lead.get("tags"))),
        ("contacted", ago(lead.get("last_contacted"), now)),
        ("follow-up", follow_up_text(lead, now=now, zone=zone)),
        ("created", f"{day(lead.get('created_at'), zone)}  ({ago(lead.get('created_at'), now)})"),
        ("id", cell(lead.get("id"))),
    ]
    for key, value in (lead.get("fields") or {}).items():
        rows.append((key, cell(value)))
    for key, value in rows:
        if value not in ("", None):
            facts.add_row(key, value)
    parts: list[RenderableType] = [facts]
    if lead.get("notes"):
        parts += [Text(""), Text(cell(lead.get("notes")), style="italic")]
    stale = stale_days(lead, pipeline, now)
    if stale is not None:
        parts += [Text(""), Text(f"stale: open and not contacted for {stale} days", style="yellow")]
    parts += [
        Text(""),
        Text("Pipeline", style="bold"),
        stage_progress(lead.get("current_stage"), pipeline, width=min(60, width - 40)),
        Text(""),
        Text("Stage history", style="bold"),
        history_timeline(lead, pipeline, now=now, zone=zone),
        Text(""),
        Text("Recent activities", style="bold"),
        activity_table(lead, zone=zone),
    ]
    title = Text.assemble((cell(lead.get("name")), "bold"), "  ", palette.text(lead.get("current_stage")))
    return Panel(Group(*parts), title=title, title_align="left", box=box.ROUNDED, padding=(0, 1), width=min(width, 100))


# -- stats, stages, board ---------------------------------------------------------------------


def _bar(amount: float, largest: float, width: int, color: str) -> Text:
    filled = 0 if largest <= 0 else round(width * amount / largest)
    if amount > 0 and filled == 0:
        filled = 1
    return Text(BAR * filled, style=color)


def stages_chart(rows: Sequence[Mapping[str, Any]], pipeline: Pipeline, *, bar_width: int = 40) -> RenderableType:
    """`stages`: the pipeline in order, a count and a bar per stage."""
    palette = StagePalette.of(pipeline)
    largest = max((int(r.get("count") or 0) for r in rows), default=0)
    table = Table(box=box.SIMPLE_HEAD, header_style="bold", pad_edge=False)
    table.add_column("stage", no_wrap=True)
    table.add_column("leads", justify="right")
    table.add_column("", no_wrap=True)
    for row in rows:
        count = int(row.get("count") or 0)
        table.add_row(palette.text(row.get("stage")), str(count), _bar(count, largest, bar_width, palette.color(row.get("stage"))))
    table.caption = f"{sum(int(r.get('count') or 0) for r in rows)} leads"
    table.caption_justify = "left"
    return table


def stats_view(stats: Mapping[str, Any], pipeline: Pipeline | None = None, *, bar_width: int = 30) -> RenderableType:
    """`stats`: leads and value per stage as bars, then totals, engagement and win rate. Takes
    the contract's JSON shape ({"total", "engaged", "win_rate", "stages": [{"stage", "count",
    "value"}]}); without a pipeline, stages are coloured by their order in `stats`."""
    rows = list(stats.get("stages") or [])
    palette = StagePalette.of(pipeline) if pipeline else StagePalette(
        [r["stage"] for r in rows], *(next((r["stage"] for r in rows if word in str(r["stage"]).lower()), None) for word in ("won", "lost"))
    )
    most = max((int(r.get("count") or 0) for r in rows), default=0)
    richest = max((float(r.get("value") or 0) for r in rows), default=0.0)
    table = Table(box=box.SIMPLE_HEAD, header_style="bold", pad_edge=False)
    table.add_column("stage", no_wrap=True)
    table.add_column("leads", justify="right")
    table.add_column("", no_wrap=True)
    table.add_column("value", justify="right")
    table.add_column("", no_wrap=True)
    timed = any("avg_days" in r for r in rows)
    if timed:
        table.add_column("avg days", justify="right")
    for row in rows:
        color = palette.color(row.get("stage"))
        count, value = int(row.get("count") or 0), float(row.get("value") or 0)
        cells: list[Any] = [palette.text(row.get("stage")), str(count), _bar(count, most, bar_width, color), money(value) if value else "", _bar(value, richest, bar_width // 2, color)]
        if timed:
            cells.append("" if row.get("avg_days") is None else f"{float(row['avg_days']):.1f}")
        table.add_row(*cells)
    total = int(stats.get("total") or 0)
    engaged = int(stats.get("engaged") or 0)
    share = f"{engaged / total:.0%}" if total else "–"
    win_rate = stats.get("win_rate")
    summary = Text.assemble(
        ("total ", "dim"), (str(total), "bold"),
        ("   engaged ", "dim"), (f"{engaged} ({share})", "bold"),
        ("   win rate ", "dim"), (f"{win_rate:.0%}" if isinstance(win_rate, (int, float)) else "– (nothing closed yet)", "bold"),
        ("   value ", "dim"), (money(sum(float(r.get("value") or 0) for r in rows)) or "0", "bold"),
    )  # fmt: skip
    return Group(table, summary)


def board(
    leads: Sequence[Mapping[str, Any]],
    pipeline: Pipeline,
    *,
    now: datetime | None = None,
    per_stage: int = 8,
    title: str | None = None,
) -> RenderableType:
    """`watch --board`: one column per stage with its leads, most recently moved first (at most
    `per_stage`, then "+N more"); overdue follow-ups in red. `leads` are in the contract's JSON
    shape (e.g. the `lead` of each event, latest per id); leads in stages the pipeline does not
    know are left out of the columns but counted in the caption."""
    now = now or datetime.now(UTC)
    palette = StagePalette.of(pipeline)
    by_stage: dict[str, list[Mapping[str, Any]]] = {s: [] for s in pipeline.stages}
    other = 0
    for lead in leads:
        stage = lead.get("current_stage")
        if stage in by_stage:
            by_stage[stage].append(lead)
        else:
            other += 1
    table = Table(box=box.SQUARE, expand=True, show_lines=False, title=title, title_justify="left", pad_edge=True)
    for stage in pipeline.stages:
        header = Text.assemble((stage, f"bold {palette.color(stage)}"), "\n", (f"{len(by_stage[stage])}", "dim"))
        table.add_column(header, overflow="fold", ratio=1)
    columns: list[list[Text]] = []
    for stage in pipeline.stages:
        items = sorted(by_stage[stage], key=lambda ld: (when(ld.get("stage_updated_at")) or datetime.min.replace(tzinfo=UTC), ld.get("id") or ""), reverse=True)
        texts = []
        for lead in items[:per_stage]:
            style = "bold red" if is_overdue(lead, now) else ""
            line = Text(cell(lead.get("name")), style=style, no_wrap=True, overflow="ellipsis")
            if lead.get("value"):
                line.append(f" {money(lead.get('value'))}", style="dim")
            texts.append(line)
        if len(items) > per_stage:
            texts.append(Text(f"+{len(items) - per_stage} more", style="dim"))
        columns.append(texts)
    for i in range(max((len(c) for c in columns), default=0)):
        table.add_row(*(c[i] if i < len(c) else Text("") for c in columns))
    total = sum(len(v) for v in by_stage.values()) + other
    caption = f"{total} leads" + (f", {other} in stages outside the pipeline" if other else "")
    table.caption = caption
    table.caption_justify = "left"
    return table


def rich_table(stream: TextIO, rows: Sequence[Mapping[str, Any]], fields: Sequence[str], title: str | None = None) -> None:
    """Any records (not leads) as a plain Rich table on a terminal."""
    table = Table(title=title, box=box.SIMPLE_HEAD, header_style="bold", pad_edge=False)
    for name in fields:
        table.add_column(name.replace("_", " "), overflow="fold")
    for row in rows:
        table.add_row(*(cell(row[f]) for f in fields))
    print_view(stream, table)
