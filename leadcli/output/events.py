"""Events for people: one readable line per event (Rich on a terminal, plain text in a pipe),
and the pipeline board of `watch --board`. Rich is imported only when drawing."""

from __future__ import annotations

import bisect
import os
import signal
import sys
import threading
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, TextIO

from leadcli.domain.text import one_line
from leadcli.output import cell, is_terminal, no_color

if TYPE_CHECKING:
    from leadcli.domain.pipeline import Pipeline

VERBS = {
    "lead_created": "added",
    "lead_updated": "edited",
    "lead_stage_changed": "moved",
    "lead_deleted": "deleted",
    "activity_logged": "logged",
}
STYLES = {"added": "green", "edited": "cyan", "moved": "magenta", "deleted": "red", "logged": "yellow"}


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
    """The pipeline as columns of leads, kept up to date from events; drawn by
    `rich_view.BoardView` (`renderable`) and kept on screen by `show_board`.

    Each stage keeps its leads' (updated_at, id) sorted, its count and its total value, so an
    event costs a binary search and a frame only looks at the leads it can show, however many
    leads the board holds."""

    def __init__(self, pipeline: Pipeline, leads: Iterable[Mapping[str, Any]] = (), per_column: int = 12) -> None:
        self.pipeline = pipeline
        self.per_column = per_column
        self.leads: dict[str, Mapping[str, Any]] = {}
        self._stages: dict[str, _Stage] = {stage: _Stage() for stage in pipeline.stages}
        self._placed: dict[str, tuple[str, tuple[str, str], int]] = {}  # id -> stage, sort key, cents
        self.last: Mapping[str, Any] | None = None
        self.changed: str | None = None  # the lead the last event put on the board, drawn highlighted
        for lead_id, lead in {str(lead["id"]): lead for lead in leads}.items():  # appended, then sorted once
            self._put(lead_id, lead, sort=False)
        for column in self._stages.values():
            column.keys.sort()

    def apply(self, event: Mapping[str, Any], visible: bool) -> None:
        """`visible`: whether the event's lead passes the watch's filters."""
        self.last = event
        lead_id = str(event.get("lead_id"))
        if event.get("type") == "lead_deleted" or not visible:
            self._drop(lead_id)
            self.changed = None
        else:
            self._put(lead_id, event["lead"])
            self.changed = lead_id

    def _put(self, lead_id: str, lead: Mapping[str, Any], sort: bool = True) -> None:
        self._drop(lead_id)
        stage, key, cents = str(lead.get("current_stage")), (str(lead.get("updated_at") or ""), lead_id), _cents(lead)
        column = self._stages.setdefault(stage, _Stage())
        if sort:
            bisect.insort(column.keys, key)
        else:
            column.keys.append(key)
        column.cents += cents
        self.leads[lead_id] = lead
        self._placed[lead_id] = (stage, key, cents)

    def _drop(self, lead_id: str) -> None:
        placed = self._placed.pop(lead_id, None)
        if placed is None:
            return
        stage, key, cents = placed
        column = self._stages[stage]
        del column.keys[bisect.bisect_left(column.keys, key)]
        column.cents -= cents
        del self.leads[lead_id]

    def columns(self, limit: int = 500) -> list[tuple[str, list[Mapping[str, Any]]]]:
        """Each stage of the pipeline (then any other stage a lead is in) with its first
        `limit` leads: the one that just changed, then the most recently updated."""
        out = []
        for stage, column in self._stages.items():
            if not column.keys and stage not in self.pipeline.stages:
                continue
            ids = [lead_id for _, lead_id in reversed(column.keys[-limit:])]
            if self.changed is not None and self._placed.get(self.changed, ("",))[0] == stage:
                ids = [self.changed, *(lead_id for lead_id in ids if lead_id != self.changed)][:limit]
            out.append((stage, [self.leads[lead_id] for lead_id in ids]))
        return out

    def renderable(self) -> Any:
        """The board as it is now (a snapshot: later events do not change it), laid out for
        the console's size each time it is drawn."""
        from leadcli.output.rich_view import BoardView

        columns = self.columns()
        counts = {stage: len(self._stages[stage].keys) for stage, _ in columns}
        values = {stage: self._stages[stage].cents / 100 for stage, _ in columns}
        return BoardView(self.pipeline, columns, counts=counts, values=values, changed=self.changed, last=self.last, per_column=self.per_column)


class _Stage:
    """One column of the board: its leads' sort keys, ascending, and their value in cents (an
    integer, so a column that empties sums to exactly 0)."""

    __slots__ = ("cents", "keys")

    def __init__(self) -> None:
        self.keys: list[tuple[str, str]] = []
        self.cents = 0


def _cents(lead: Mapping[str, Any]) -> int:
    try:
        return round(float(lead.get("value") or 0) * 100)
    except (TypeError, ValueError, OverflowError):  # not a number (an older store)
        return 0


FRAME_INTERVAL = 0.1  # seconds between frames at the least while events pour in (an import)


def show_board(board: Board, updates: Iterable[tuple[Mapping[str, Any], bool]], stream: TextIO | None = None) -> None:
    """Keep `board` on screen while `updates` (event, visible) come in; in a pipe, print it
    once at the end. On a terminal a painter thread draws it: at once after a quiet spell, at
    most 1/FRAME_INTERVAL times a second during a burst (events are applied as they come, so
    a burst never queues frames behind it), and as soon as the pane is resized."""
    from rich.live import Live

    from leadcli.output.rich_view import make_console

    stream = stream or sys.stdout
    console = make_console(stream)
    fd = _tty(stream)
    size = _terminal_size(fd) if fd is not None else None
    if size:
        console.size = size  # the real size wins over a stale exported COLUMNS/LINES
    with Live(board.renderable(), console=console, auto_refresh=False, transient=False) as live:
        if not console.is_terminal:
            for event, visible in updates:
                board.apply(event, visible)
            live.update(board.renderable())  # printed as the Live stops
            return
        with _Painter(board, live, fd, size) as painter:
            for event, visible in updates:
                with painter.lock:
                    board.apply(event, visible)
                painter.changed()


def _tty(stream: TextIO) -> int | None:
    try:
        fd = stream.fileno()
        return fd if os.isatty(fd) else None
    except (AttributeError, OSError, ValueError):
        return None


def _terminal_size(fd: int) -> tuple[int, int] | None:
    try:
        columns, lines = os.get_terminal_size(fd)
    except OSError:
        return None
    return (columns, lines) if columns and lines else None  # 0x0: a pseudo-terminal nobody sized


class _Painter:
    """The thread that draws a live board: when told the board changed, and when terminal `fd`
    changes size — woken by SIGWINCH, and checking every half second anyway (a Python signal
    handler runs only when the main thread next runs Python, which may be a poll interval
    away). On a resize the screen is cleared first: the terminal re-wraps the old frame's lines,
    so the usual redraw (cursor up by the old frame's height) would land among them. `lock`
    guards the board: hold it to change it."""

    def __init__(self, board: Board, live: Any, fd: int | None, size: tuple[int, int] | None) -> None:
        self.board, self.live, self.fd, self.size = board, live, fd, size
        self.lock = threading.Lock()
        self.wake, self.done = threading.Event(), threading.Event()
        self.dirty = False
        self.error: Exception | None = None  # what stopped the painter, raised in the main thread
        self.thread = threading.Thread(target=self.run, name="board-painter", daemon=True)
        self.winch: Any = getattr(signal, "SIGWINCH", None) if fd is not None else None
        self.previous: Any = None

    def changed(self) -> None:
        if self.error is not None:
            raise self.error
        self.dirty = True
        self.wake.set()

    def run(self) -> None:
        try:
            while not self.done.is_set():
                self.wake.wait(0.5)
                self.wake.clear()
                self.paint()
                if not self.done.is_set():
                    self.done.wait(FRAME_INTERVAL)  # a burst of events is drawn 1/FRAME_INTERVAL a second
            self.paint()  # the last events before the end
        except Exception as exc:  # a drawing bug must not leave a frozen board: the main thread raises it
            self.error = exc

    def paint(self) -> None:
        now = _terminal_size(self.fd) if self.fd is not None else None
        resized = now is not None and now != self.size
        if not (resized or self.dirty):
            return
        with self.lock:
            self.dirty = False
            if resized and now is not None:
                self.size = self.live.console.size = now
                self.live.console.clear(home=True)
            self.live.update(self.board.renderable(), refresh=True)

    def __enter__(self) -> _Painter:
        if self.winch is not None:
            try:
                self.previous = signal.signal(self.winch, lambda _signum, _frame: self.wake.set())
            except ValueError:  # not the main thread: the half-second check still redraws
                self.winch = None
        self.thread.start()
        return self

    def __exit__(self, exc_type: object, *_exc: object) -> None:
        self.done.set()
        self.wake.set()
        self.thread.join()
        if self.winch is not None:
            signal.signal(self.winch, self.previous)
        if self.error is not None and exc_type is None:
            raise self.error
