"""Events for people: one readable line per event (Rich on a terminal, plain text in a pipe),
and the pipeline board of `watch --board`. Rich is imported only when drawing on a terminal."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, TextIO

from leadcli.output import cell, is_terminal, no_color

VERBS = {
    "lead_created": "added",
    "lead_updated": "edited",
    "lead_stage_changed": "moved",
    "lead_deleted": "deleted",
    "activity_logged": "logged",
}
STYLES = {"added": "green", "edited": "cyan", "moved": "magenta", "deleted": "red", "logged": "yellow"}


def one_line(text: str) -> str:
    """Text a person typed, safe on one line of a live view: newlines, tabs and control
    characters (a pasted email's line breaks, a terminal escape) become single spaces."""
    if text.isprintable():
        return text
    return " ".join("".join(ch if ch.isprintable() else " " for ch in text).split())


def describe_changes(event: Mapping[str, Any]) -> str:
    changes = event.get("changes") or {}
    if event.get("type") == "activity_logged":
        activity = ((event.get("lead") or {}).get("activities") or [{}])[-1]
        note = activity.get("note")
        return f"{activity.get('type', 'activity')}" + (f": {note}" if note else "")
    parts = []
    for key, pair in changes.items():
        if isinstance(pair, (list, tuple)) and len(pair) == 2:
            old, new = pair
            parts.append(f"{key}: {cell(old) or '∅'} → {cell(new) or '∅'}")
        else:
            parts.append(f"{key}: {cell(pair)}")
    return "; ".join(parts)


def event_line_parts(event: Mapping[str, Any]) -> list[str]:
    """[time, seq, verb, lead, stage, details, by]: what a person scans for."""
    lead = event.get("lead") or {}
    at = str(event.get("at") or "")
    clock = at[11:19] if len(at) >= 19 else at
    who = f"{lead.get('name') or ''} <{lead.get('email') or ''}>".strip()
    parts = [
        clock,
        f"#{event['seq']}" if event.get("seq") is not None else "#-",  # another app's change: no seq
        VERBS.get(str(event.get("type")), str(event.get("type"))),
        who,
        str(lead.get("current_stage") or ""),
        describe_changes(event),
        f"by {event['by']}" if event.get("by") else "",
    ]
    return [one_line(part) for part in parts]


def write_event_lines(stream: TextIO, events: Iterable[Mapping[str, Any]]) -> int:
    count = 0
    if is_terminal(stream):
        from rich.console import Console
        from rich.text import Text

        console = Console(file=stream, no_color=no_color(), highlight=False, soft_wrap=True)
        for event in events:
            clock, seq, verb, who, stage, details, by = event_line_parts(event)
            line = Text.assemble(
                (clock, "dim"), " ", (seq.ljust(6), "dim"), " ", (verb.ljust(8), f"bold {STYLES.get(verb, '')}"),
                " ", (who, "bold"), "  ", (f"[{stage}]" if stage else "", "blue"), "  ", details, "  ", (by, "dim"),
            )  # fmt: skip
            console.print(line)
            count += 1
        return count
    for event in events:
        stream.write("  ".join(part for part in event_line_parts(event) if part) + "\n")
        count += 1
    return count


class Board:
    """The pipeline as columns of leads, kept up to date from events."""

    def __init__(self, stages: Sequence[str], leads: Iterable[Mapping[str, Any]] = (), per_column: int = 12) -> None:
        self.stages = list(stages)
        self.per_column = per_column
        self.leads: dict[str, Mapping[str, Any]] = {str(lead["id"]): lead for lead in leads}
        self.last: Mapping[str, Any] | None = None

    def apply(self, event: Mapping[str, Any], visible: bool) -> None:
        """`visible`: whether the event's lead passes the watch's filters."""
        self.last = event
        lead_id = str(event.get("lead_id"))
        if event.get("type") == "lead_deleted" or not visible:
            self.leads.pop(lead_id, None)
        else:
            self.leads[lead_id] = event["lead"]

    def columns(self) -> list[tuple[str, list[Mapping[str, Any]]]]:
        by_stage: dict[str, list[Mapping[str, Any]]] = {stage: [] for stage in self.stages}
        for lead in self.leads.values():
            by_stage.setdefault(str(lead.get("current_stage")), []).append(lead)
        for column in by_stage.values():
            column.sort(key=lambda lead: str(lead.get("updated_at") or ""), reverse=True)
        return list(by_stage.items())

    def renderable(self) -> Any:
        from rich.table import Table

        table = Table(expand=True, show_lines=False, title="leadcli watch --board", caption=self._caption())
        columns = self.columns()
        for stage, leads in columns:
            table.add_column(f"{stage} ({len(leads)})", overflow="fold")
        height = min(self.per_column, max((len(leads) for _, leads in columns), default=0))
        for row in range(height):
            cells = []
            for _, leads in columns:
                if row < len(leads):
                    cells.append(str(leads[row].get("name") or leads[row].get("email")))
                else:
                    cells.append("")
            table.add_row(*cells)
        hidden = [max(0, len(leads) - self.per_column) for _, leads in columns]
        if any(hidden):
            table.add_row(*(f"… {n} more" if n else "" for n in hidden), style="dim")
        return table

    def _caption(self) -> str:
        if self.last is None:
            return "waiting for changes (Ctrl-C to stop)"
        return "last: " + "  ".join(p for p in event_line_parts(self.last) if p)
