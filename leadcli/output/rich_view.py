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
from rich.cells import cell_len
from rich.console import Console, Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from leadcli.domain.handle import handle_of
from leadcli.domain.pipeline import Pipeline
from leadcli.domain.schema import FIELDS, TIMESTAMPS
from leadcli.domain.text import escaped, one_line
from leadcli.output import cell as plain_cell
from leadcli.output import force_terminal, no_color, terminal_width


def cell(value: Any) -> str:
    """A value as text for the terminal: `output.cell`, control characters shown as `\\xNN`."""
    return escaped(plain_cell(value))


def plain(value: Any) -> Text:
    """A value as a Rich Text, never parsed as markup: user text such as `[/]` or
    `[reverse]URGENT` is shown as typed. Every user value reaches Rich this way (or as a Text
    built by `Text(...)`/`Text.assemble`), never as a str, which Rich would read as markup."""
    return Text(cell(value))

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


def note(message: str) -> Text:
    """A message in place of a view (`no leads match`), dimmed."""
    return Text(message, style="dim")


def when(value: Any) -> datetime | None:
    """A timestamp from a lead (ISO string or datetime) as an aware datetime."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def local(moment: datetime, zone: tzinfo) -> datetime:
    """`moment` in `zone`; in UTC when that zone's clock would leave the calendar (9999-12-31
    23:30 UTC is year 10000 in Tokyo, 0001-01-01 01:00 UTC year 0 in Los Angeles)."""
    try:
        return moment.astimezone(zone)
    except OverflowError:
        return moment.astimezone(UTC)


def day(value: Any, zone: tzinfo) -> str:
    moment = when(value)
    return local(moment, zone).strftime("%Y-%m-%d") if moment else ""


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
        return Text(escaped(stage or ""), style=self.color(stage))


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
# The handle (and the name) never go: the handle is what a person types to act on a row.
DROP_ORDER = ("id", "status", "owner", "value", "company", "follow_up_at", "email", "tags", "source", "notes", "last_contacted", "created_at", "updated_at", "stage_updated_at", "phone")
# Columns that may be shortened with an ellipsis, and how narrow before they would rather go;
# the others (ids, stages, numbers, dates) are shown whole or not at all.
# Both, and each column's heading, are the schema's (domain/schema.py).
SHRINKABLE = {f.name: f.shrink for f in FIELDS if f.shrink}
HEADERS = {"handle": "handle", **{f.name: f.heading for f in FIELDS}}
DATE_FIELDS = TIMESTAMPS


COLUMN_GAP = 3  # what each column adds to a line: padding and separator


def fit_columns(natural: Mapping[str, int], width: int, keep: Sequence[str] = (), order: Sequence[str] = DROP_ORDER) -> dict[str, int]:
    """Which columns to show and how wide: drop columns, least useful (`order`) first, until the
    rest fit `width` (shrinkable ones at their narrowest, others whole), then share the room
    left among the shrinkable ones. `natural` maps each column, in order, to its full width."""
    kept = list(natural)

    def narrowest(col: str) -> int:
        return min(natural[col], SHRINKABLE.get(col, natural[col]))

    def needed(cols: Sequence[str]) -> int:
        return sum(narrowest(c) + COLUMN_GAP for c in cols)

    # `keep`: what the view is about (a follow-up list's dates) gives way last.
    for victim in [*(c for c in order if c not in keep), *(c for c in order if c in keep)]:
        if needed(kept) <= width or len(kept) <= 2:
            break
        if victim in kept:
            kept.remove(victim)
    widths = [narrowest(c) for c in kept]
    share_out(widths, [natural[c] for c in kept], width - needed(kept))
    return dict(zip(kept, widths, strict=True))


def share_out(widths: list[int], want: list[int], room: int) -> int:
    """Widen `widths` toward `want` in equal shares of `room` (in order, a share at least 1)
    until each has what it wants or the room is used; the room left."""
    while room > 0:
        wanting = [i for i in range(len(widths)) if widths[i] < want[i]]
        if not wanting:
            break
        share = max(1, room // len(wanting))
        for i in wanting:
            extra = min(share, want[i] - widths[i], room)
            widths[i] += extra
            room -= extra
    return room


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
    keep: Sequence[str] = (),
) -> RenderableType:
    """Leads as a table for a person: stages coloured, overdue follow-ups in red, stale leads
    marked; columns the terminal cannot hold are dropped (the user's own fields, not `fit`: the
    last named first) and named in a note, long text ellipsized."""
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
    # The user's own --fields give way too rather than be cut off the edge unsaid: the last named
    # first, the first never (and the note below names them).
    order = DROP_ORDER if fit else tuple(reversed(fields[1:]))
    widths: Mapping[str, int | None] = fit_columns(natural, width, keep, order) if width else {f: None for f in fields}
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
        notes.append((f"hidden to fit: {hidden} ({'use --fields' if fit else 'fewer --fields, or -o csv'})", "dim"))
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
    # Dates, stages and day counts are whole or useless: on a narrow terminal the note wraps instead.
    entries_ = list(lead.get("stage_history") or [])
    longest = max((len(escaped(str(e.get("to_stage") or ""))) for e in entries_), default=5)
    table.add_column("date", no_wrap=True, min_width=10)
    table.add_column("", no_wrap=True)
    table.add_column("stage", no_wrap=True, min_width=min(longest, 20))
    table.add_column("days", justify="right", no_wrap=True)
    table.add_column("by", overflow="fold")
    table.add_column("note", overflow="fold", ratio=1)
    entries = list(lead.get("stage_history") or [])
    for i, entry in enumerate(entries):
        start = when(entry.get("changed_at"))
        end = when(entries[i + 1].get("changed_at")) if i + 1 < len(entries) else now
        days = days_between(start, end) if start and end else 0
        last = i == len(entries) - 1
        marker = Text("●" if last else "○", style=palette.color(entry.get("to_stage")))
        spent = f"{days}" + (" so far" if last and not pipeline.is_closed(entry.get("to_stage")) else "")
        table.add_row(day(start, zone), marker, palette.text(entry.get("to_stage")), spent, plain(entry.get("by")), plain(entry.get("notes")))
    return table


def activity_table(lead: Mapping[str, Any], *, zone: tzinfo = UTC, limit: int = 5) -> RenderableType:
    activities = sorted(lead.get("activities") or [], key=lambda a: when(a.get("at")) or datetime.min.replace(tzinfo=UTC), reverse=True)
    if not activities:
        return Text("no activities logged yet (leadcli log LEAD --type call --note …)", style="dim")
    table = Table(box=None, show_header=False, pad_edge=False, padding=(0, 2, 0, 0))
    for _ in range(4):
        table.add_column()
    for activity in activities[:limit]:
        table.add_row(day(activity.get("at"), zone), Text(cell(activity.get("type")), style="bold"), plain(activity.get("by")), plain(activity.get("note")))
    if len(activities) > limit:
        table.add_row("", Text(f"… {len(activities) - limit} older", style="dim"), "", "")
    return table


def follow_up_text(lead: Mapping[str, Any], *, now: datetime, zone: tzinfo = UTC) -> Text:
    due = when(lead.get("follow_up_at"))
    if due is None:
        return Text("none planned (leadcli edit LEAD --follow-up +3d)", style="dim")
    days = abs((local(due, zone).date() - local(now, zone).date()).days)
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
        ("handle", cell(handle_of(str(lead.get("id") or "")))),
        ("id", cell(lead.get("id"))),
    ]
    for key, value in (lead.get("fields") or {}).items():
        rows.append((escaped(str(key)), cell(value)))
    for key, value in rows:
        if value not in ("", None):
            # Text, never a str: Rich would read a str as markup ("[/]" in a name is an error).
            facts.add_row(Text(key), Text(value) if isinstance(value, str) else value)
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


# -- stats, stages ----------------------------------------------------------------------------


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


# -- the board of `watch --board` ----------------------------------------------------------

BOARD_TITLE = "leadcli watch --board"
CARD_MIN = 10  # a column narrower than this makes empty stages give up theirs (named in the title)
BOARD_GAP = 3  # what each column after the first adds to a line: " │ "


def short_money(value: float) -> str:
    """12000 -> 12k, 8500.5 -> 8.5k, 1250000 -> 1.2M: a value for a narrow column."""
    for limit, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= limit:
            return f"{value / limit:.1f}".rstrip("0").rstrip(".") + suffix
    return money(value)


def lead_value(lead: Mapping[str, Any]) -> float:
    """A lead's value as a number (0 when it has none, or an older store holds something else)."""
    try:
        return float(lead.get("value") or 0)
    except (TypeError, ValueError):
        return 0.0


def fit_words(text: str, width: int) -> str:
    """`text` in at most `width` cells without cutting a word in two where that can be
    helped: whole words, then the next word as its initial ("Ada L."), then "…". A first word
    that alone is too long is the only thing cut, and it ends in "…"."""
    if cell_len(text) <= width:
        return text
    if width <= 1:
        return "…"[:width]
    words = text.split()
    kept = ""
    for i, word in enumerate(words):
        more = "…" if i + 1 < len(words) else ""
        candidate = f"{kept} {word}".strip()
        if cell_len(candidate + more) <= width:
            kept = candidate
            continue
        initial = f"{kept} {word[0]}." if kept else ""
        if kept and cell_len(initial + more) <= width and word[0].isupper():
            return initial + more
        break
    if kept:
        return kept + "…"
    cut = Text(words[0] if words else text)
    cut.truncate(width - 1, overflow="crop")
    return cut.plain.rstrip() + "…"  # rstrip: a wide character cut in half leaves a space


def wrap_words(text: str, width: int, lines: int) -> list[str]:
    """`text` over at most `lines` lines of `width` cells, broken between words; a word longer
    than a line, or what does not fit in the last line, is shortened with `fit_words`."""
    out: list[str] = []
    words = text.split()
    while words and len(out) < lines:
        if len(out) == lines - 1:
            out.append(fit_words(" ".join(words), width))
            break
        line = words.pop(0)
        while words and cell_len(f"{line} {words[0]}") <= width:
            line = f"{line} {words.pop(0)}"
        out.append(fit_words(line, width))
    return out or [""]


class BoardView:
    """`watch --board` as drawn: one column per stage (coloured as in `list`), its lead count
    and value in the header, its leads most recently changed first, the card that just changed
    highlighted, and the last change on the bottom line. Laid out when drawn, for the console's
    size, so a redraw after a resize fits the new pane:

    - names are shortened by whole words ("Ada L.", "Katherine…"), never wrapped or folded;
    - when columns would be narrower than CARD_MIN, empty stages give up their columns (and
      are named in the title line); when stage names still would not fit whole, the closed
      stages give up theirs (their count and value go to the title line);
    - on a terminal the frame never exceeds the height: columns show what fits and "+N more";
      on a short pane the title goes first, then the cards (the headers still count and sum
      every column), then the headers become one summary line; the last-change line stays.

    In a pipe (no height) each column shows up to `per_column` leads."""

    def __init__(
        self,
        pipeline: Pipeline,
        columns: Sequence[tuple[str, Sequence[Mapping[str, Any]]]],
        *,
        counts: Mapping[str, int] | None = None,
        values: Mapping[str, float] | None = None,
        changed: str | None = None,
        last: Mapping[str, Any] | None = None,
        per_column: int = 12,
    ) -> None:
        """`columns`: each stage with its leads in the order shown (the first ones are
        enough); `counts` and `values`: each stage's number of leads and their total value,
        when `columns` does not hold them all."""
        self.pipeline = pipeline
        self.columns = [(stage, list(leads)) for stage, leads in columns]
        self.counts = dict(counts) if counts is not None else {stage: len(leads) for stage, leads in self.columns}
        self.values = dict(values) if values is not None else {stage: sum(lead_value(lead) for lead in leads) for stage, leads in self.columns}
        self.changed = changed
        self.last = last
        self.per_column = per_column
        self.palette = StagePalette.of(pipeline)

    def __rich_console__(self, console: Console, options: Any) -> Any:
        height = options.height or (options.size.height if console.is_terminal else None)
        yield from self.frame(options.max_width, height)

    # -- layout

    def frame(self, width: int, height: int | None) -> list[RenderableType]:
        columns, folded, closed = self.columns, [], []
        if self._column_width(width, len(columns)) < CARD_MIN and any(leads for _, leads in columns):
            folded = [stage for stage, leads in columns if not leads]
            columns = [(stage, leads) for stage, leads in columns if leads]
        if not self._widths(columns, width)[2] and any(self.pipeline.is_closed(stage) for stage, _ in columns[1:]):
            # Still too narrow for whole stage names: the closed stages are summed up in the title.
            closed = [stage for stage, _ in columns if self.pipeline.is_closed(stage)]
            columns = [(stage, leads) for stage, leads in columns if stage not in closed]
        last = self._last_line(width)
        title = self._title(width, folded, closed)
        parts: list[RenderableType]
        if self._column_width(width, len(columns)) < 3:  # no room for columns at all
            parts = [self._summary_line(width), last]
            return parts[-height:] if height else parts
        gap, widths, _whole = self._widths(columns, width)
        names = [wrap_words(one_line(stage), w, 2) for (stage, _), w in zip(columns, widths, strict=True)]
        head = max(len(name) for name in names) + 1
        headers = [self._header(stage, leads, w, name, head - 1) for (stage, leads), w, name in zip(columns, widths, names, strict=True)]

        def table(rows: int) -> Table:
            return self._table(columns, gap, widths, headers, rows)

        rows_with_title = height - 3 - head if height else 0  # title, header rule, last line
        if height is None:  # a pipe: the board as it is at the end
            parts = [title, table(self.per_column)]
            if self.last is not None:
                parts.append(last)
        elif rows_with_title >= 1:
            parts = [title, table(rows_with_title), last]
        elif rows_with_title >= 0:
            parts = [table(rows_with_title + 1), last]
        elif height - 1 >= head:  # no card fits: the headers alone, which count every lead
            parts = [table(0), last]
        elif height >= 2:
            parts = [self._summary_line(width), last]
        else:
            parts = [last]
        return parts

    @staticmethod
    def _column_width(width: int, count: int) -> int:
        return (width - BOARD_GAP * (count - 1)) // max(count, 1)

    def _widths(self, columns: Sequence[tuple[str, Sequence[Mapping[str, Any]]]], width: int) -> tuple[int, list[int], bool]:
        """The gap between columns (" │ ", or "│ " when that makes the headers fit), each
        column's width, and whether every stage name's words fit whole. Each column is at least
        as wide as the longest word of its stage and its count · value (failing that, its count),
        then the room left is shared among the columns whose name or cards want more, then
        spread evenly; when even that does not fit, the columns are equal."""
        count = len(columns)
        amounts = [len(self._amount(self.counts[stage], self.values[stage], 0)) for stage, _ in columns]
        words = [max((cell_len(word) for word in one_line(stage).split()), default=1) for stage, _ in columns]
        for gap, need in (
            (BOARD_GAP, [max(a, w) for a, w in zip(amounts, words, strict=True)]),
            (BOARD_GAP - 1, [max(a, w) for a, w in zip(amounts, words, strict=True)]),
            (BOARD_GAP - 1, [max(len(str(self.counts[stage])), w) for (stage, _), w in zip(columns, words, strict=True)]),
        ):
            room = width - gap * (count - 1)
            if sum(need) <= room:
                break
        else:
            return gap, [room // count + (1 if i < room % count else 0) for i in range(count)], False
        want = [max([need[i], cell_len(one_line(stage)), *(self._card_width(lead) for lead in leads[:50])]) for i, (stage, leads) in enumerate(columns)]
        widths = list(need)
        spare = share_out(widths, want, room - sum(need))
        for i in range(spare):
            widths[i % count] += 1
        return gap, widths, True

    @staticmethod
    def _card_width(lead: Mapping[str, Any]) -> int:
        name = cell_len(one_line(cell(lead.get("name") or lead.get("email"))))
        value = lead_value(lead)
        return min(24, name + (len(short_money(value)) + 1 if value else 0))

    # -- parts

    def _amount(self, count: int, value: float, width: int) -> str:
        if value:
            for text in (f"{count} · {money(value)}", f"{count} · {short_money(value)}"):
                if cell_len(text) <= width:
                    return text
            if not width:  # asked for the narrowest form that shows the value
                return f"{count} · {short_money(value)}"
        return str(count)

    def _header(self, stage: str, leads: Sequence[Mapping[str, Any]], width: int, name_lines: Sequence[str], lines: int) -> Text:
        """The stage's name (its lines bottom-aligned, so counts line up) over count · value."""
        name = "\n".join([""] * (lines - len(name_lines)) + list(name_lines))
        return Text.assemble((name, f"bold {self.palette.color(stage)}"), "\n", (self._amount(self.counts[stage], self.values[stage], width), "dim"))

    def _card(self, lead: Mapping[str, Any], stage: str, width: int) -> Text:
        name = one_line(cell(lead.get("name") or lead.get("email")))
        value = short_money(lead_value(lead)) if lead_value(lead) else ""
        if value and width >= 16:
            text = Text(fit_words(name, width - cell_len(value) - 1))
            text.pad_right(width - cell_len(value) - text.cell_len)
            text.append(value, style="dim")
        else:
            text = Text(fit_words(name, width))
            text.pad_right(width - text.cell_len)
        if self.changed is not None and str(lead.get("id")) == self.changed:
            text.stylize(f"reverse bold {self.palette.color(stage)}")
        return text

    def _cells(self, stage: str, leads: Sequence[Mapping[str, Any]], width: int, rows: int) -> list[Text]:
        count = self.counts[stage]
        shown = min(len(leads), count if count <= rows else rows - 1 if rows >= 2 else rows)
        cards = [self._card(lead, stage, width) for lead in leads[:shown]]
        if count > shown and len(cards) < rows:
            cards.append(Text(fit_words(f"+{count - shown} more", width), style="dim"))
        return cards

    def _table(self, columns: Sequence[tuple[str, Sequence[Mapping[str, Any]]]], gap: int, widths: Sequence[int], headers: Sequence[Text], rows: int) -> Table:
        padding = (0, 1) if gap == BOARD_GAP else (0, 1, 0, 0)
        table = Table(box=box.MINIMAL, show_edge=False, pad_edge=False, padding=padding, show_header=rows > 0)
        for header, width in zip(headers, widths, strict=True):
            table.add_column(header, width=width, no_wrap=True, overflow="ellipsis")
        if rows <= 0:  # the headers alone, without the rule under them
            table.add_row(*headers)
            return table
        cells = [self._cells(stage, leads, w, rows) for (stage, leads), w in zip(columns, widths, strict=True)]
        for i in range(max((len(c) for c in cells), default=0)):
            table.add_row(*(c[i] if i < len(c) else Text("") for c in cells))
        return table

    def _title(self, width: int, folded: Sequence[str], closed: Sequence[str] = ()) -> Text:
        """Totals, the closed stages when they have no column, the empty stages when they
        have none; led by the command's name when it all fits."""
        count, value = sum(self.counts.values()), sum(self.values.values())
        title = Text.assemble(f"{count} lead{'s' * (count != 1)}", f" · {money(value)}" if value else "")
        for stage in closed:
            title.append("  ")
            title.append(one_line(stage), style=f"bold {self.palette.color(stage)}")
            title.append(f" {self._amount(self.counts[stage], self.values[stage], 0)}", style="dim")
        if folded:
            title.append(f"  · empty: {', '.join(one_line(s) for s in folded)}", style="dim")
        if cell_len(BOARD_TITLE) + 2 + title.cell_len <= width:
            title = Text.assemble((BOARD_TITLE, "bold"), "  ", title)
        title.truncate(width, overflow="ellipsis")
        return title

    def _summary_line(self, width: int) -> Text:
        line = Text()
        for i, (stage, _) in enumerate(self.columns):
            if i:
                line.append(" │ ", style="dim")
            line.append(one_line(stage), style=f"bold {self.palette.color(stage)}")
            line.append(f" {self._amount(self.counts[stage], self.values[stage], 99)}", style="dim")
        line.truncate(width, overflow="ellipsis")
        return line

    def _last_line(self, width: int) -> Text:
        """The last change in a line: when, what, to whom, where it went, by whom; the name is
        what gets shortened so the rest stays readable."""
        from leadcli.output.events import STYLES, VERBS, describe_changes

        event = self.last
        if event is None:
            return Text(fit_words("waiting for changes (Ctrl-C to stop)", width), style="dim")
        lead = event.get("lead") or {}
        at = str(event.get("at") or "")
        verb = VERBS.get(str(event.get("type")), str(event.get("type")))
        head = Text.assemble(("last ", "dim"), (at[11:19] if len(at) >= 19 else at, "dim"), " ", (verb, f"bold {STYLES.get(verb, '')}"), " ")
        tail = Text()
        move = (event.get("changes") or {}).get("current_stage")
        if event.get("type") == "lead_stage_changed" and isinstance(move, (list, tuple)) and len(move) == 2:
            tail.append(one_line(cell(move[0])) or "∅", style=self.palette.color(move[0]))
            tail.append(" → ")
            tail.append(one_line(cell(move[1])), style=f"bold {self.palette.color(move[1])}")
        else:
            stage = lead.get("current_stage")
            tail.append(one_line(cell(stage)), style=self.palette.color(stage))
            details = one_line(describe_changes(event))
            if details:
                tail.append(f"  {details}")
        name = one_line(cell(lead.get("name") or lead.get("email") or event.get("lead_id")))
        by = Text(f"  by {one_line(cell(event['by']))}" if event.get("by") else "", style="dim")
        if head.cell_len + min(cell_len(name), 12) + 2 + tail.cell_len + by.cell_len <= width:
            tail.append_text(by)  # who did it, when there is room for it
        room = max(8, width - head.cell_len - tail.cell_len - 2)
        line = Text.assemble(head, (fit_words(name, room), "bold"), "  ", tail)
        line.no_wrap = True
        line.truncate(width, overflow="ellipsis")
        return line


def rich_table(stream: TextIO, rows: Sequence[Mapping[str, Any]], fields: Sequence[str], title: str | None = None) -> None:
    """Any records (not leads) as a plain Rich table on a terminal."""
    table = Table(title=title, box=box.SIMPLE_HEAD, header_style="bold", pad_edge=False)
    for name in fields:
        table.add_column(name.replace("_", " "), overflow="fold")
    for row in rows:
        table.add_row(*(plain(row[f]) for f in fields))
    print_view(stream, table)
