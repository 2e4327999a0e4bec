"""Where each command's table format goes: a drawn view on a terminal (Rich, loaded only then),
plain aligned text in a pipe (no ANSI, no box drawing, nothing truncated). Commands call these
instead of choosing themselves, so every view follows the same rule."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import tzinfo
from typing import Any, TextIO

from leadcli.domain.pipeline import Pipeline
from leadcli.output import Renderer, is_terminal, terminal_width


def _now() -> Any:
    from leadcli.domain.dates import now_utc

    return now_utc()


def drawing(fmt: str, stream: TextIO | None = None) -> bool:
    """True when `fmt` is table and the output is a terminal (or forced for tests)."""
    return fmt == "table" and is_terminal(stream or sys.stdout)


def leads(
    records: Iterable[Mapping[str, Any]],
    fields: Sequence[str],
    fmt: str,
    *,
    pipeline: Pipeline | None = None,
    zone: tzinfo | None = None,
    fit: bool = True,
    title: str | None = None,
    empty: str | Callable[[], str] = "no leads match",
    keep: Sequence[str] = (),
) -> int:
    """A list of leads (JSON-ready dicts, whole records: overdue/stale marks need more than the
    shown fields). On a terminal: coloured stages, marks, columns fitted to its width when
    `fit` (the default columns; pass fit=False for the user's own --fields), the handle first
    and the id the first column to give way; no rows at all say `empty` instead of a bare
    header. Elsewhere, the format as the contract has it (an empty array, or nothing)."""
    if not drawing(fmt):
        return Renderer(fmt, title=title).many(records, fields)
    from leadcli.output.rich_view import lead_table, note, print_view

    rows = list(records)
    if not rows:
        print_view(sys.stdout, note(empty() if callable(empty) else empty))
        return 0
    if fit and "handle" in fields:
        fields = ["handle", *(f for f in fields if f not in ("handle", "id")), *(["id"] if "id" in fields else [])]
    view = lead_table(rows, fields, pipeline or Pipeline(), now=_now(), zone=zone or _utc(), width=terminal_width(), fit=fit, title=title, keep=keep)
    print_view(sys.stdout, view)
    return len(rows)



def lead_card(record: Mapping[str, Any], fields: Sequence[str], fmt: str, *, pipeline: Pipeline | None = None, zone: tzinfo | None = None) -> None:
    """One lead (`show`): a card on a terminal; otherwise the format asked for."""
    if not drawing(fmt):
        Renderer(fmt).one(record, fields)
        return
    from leadcli.output.rich_view import lead_card as card
    from leadcli.output.rich_view import print_view

    print_view(sys.stdout, card(record, pipeline or Pipeline(), now=_now(), zone=zone or _utc(), width=terminal_width()))


def history(entries: Sequence[Mapping[str, Any]], fields: Sequence[str], fmt: str, *, own_fields: bool, pipeline: Pipeline | None = None, zone: tzinfo | None = None) -> None:
    """`history`: on a terminal (default fields), the timeline `show` draws (days, the local
    date, stage names whole); otherwise one row per change as the contract has it."""
    if own_fields or not drawing(fmt):
        Renderer(fmt).many(entries, fields)
        return
    from leadcli.output.rich_view import history_timeline, note, print_view

    if not entries:
        print_view(sys.stdout, note("no stage history"))
        return
    print_view(sys.stdout, history_timeline({"stage_history": entries}, pipeline or Pipeline(), now=_now(), zone=zone or _utc()))


def stages(rows: Sequence[Mapping[str, Any]], fmt: str, *, pipeline: Pipeline | None = None) -> None:
    """`stages`: bars on a terminal; otherwise rows of {stage, count}."""
    if not drawing(fmt):
        Renderer(fmt).many(rows, ["stage", "count"])
        return
    from leadcli.output.rich_view import print_view, stages_chart

    print_view(sys.stdout, stages_chart(rows, pipeline or Pipeline()))


def stats(data: Mapping[str, Any], fmt: str, *, pipeline: Pipeline | None = None) -> None:
    """`stats` in the contract's shape: bars on a terminal; JSON as is; other formats get one
    row per stage (with the stage's share of all leads)."""
    if fmt == "json":
        Renderer(fmt).one(data, list(data))
        return
    if fmt == "ids":
        from leadcli.domain.errors import InvalidInput

        raise InvalidInput("--output: stats prints table, json, jsonl, csv or tsv (it has no ids)")
    if not drawing(fmt):
        rows = list(data.get("stages") or [])
        extra = ["avg_days"] if any("avg_days" in r for r in rows) else []
        Renderer(fmt).many(rows, ["stage", "count", "value", *extra])
        if fmt == "table":
            win_rate = data.get("win_rate")
            sys.stdout.write(
                f"\ntotal     {data.get('total')}\nengaged   {data.get('engaged')}\n"
                f"win_rate  {'' if win_rate is None else round(float(win_rate), 2)}\n"
            )
        return
    from leadcli.output.rich_view import print_view, stats_view

    print_view(sys.stdout, stats_view(data, pipeline))


def _utc() -> tzinfo:
    from datetime import UTC

    return UTC
