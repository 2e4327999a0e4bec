"""`watch --board`, the board users see (`output.events.Board`, drawn by `rich_view.BoardView`):
pinned by snapshots at 60, 80 and 120 columns and on short panes (regenerate after an intended
change with `UPDATE_SNAPSHOTS=1 python -m pytest tests/test_board.py` and review the diff),
words never cut in two, the card that just changed highlighted, the last change always on
screen, and a real resize on a pseudo-terminal redrawn at the new size without waiting for a
write."""

from __future__ import annotations

import fcntl
import io
import os
import pty
import re
import select
import signal
import struct
import subprocess
import sys
import termios
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT, invoke
from rich.cells import cell_len
from rich.console import Console

from leadcli.domain.pipeline import Pipeline
from leadcli.output.events import Board

SNAPSHOTS = Path(__file__).parent / "snapshots"
PIPELINE = Pipeline()


def lead(n: int, name: str, email: str, stage: str, **extra: object) -> dict[str, object]:
    record: dict[str, object] = {
        "id": f"6650f1c2a1b2c3d4e5f607{n:02x}", "name": name, "email": email, "current_stage": stage,
        "value": None, "follow_up_at": None, "updated_at": "2026-11-20T09:00:00.000+00:00", "version": 1,
    }  # fmt: skip
    record.update(extra)
    return record


LEADS = [
    lead(0x18, "Ada Lovelace", "ada@example.com", "Proposal Sent", value=12000, updated_at="2026-11-21T15:30:00.000+00:00"),
    lead(0x19, "Grace Hopper", "grace@example.com", "Closed Won", value=30000),
    lead(0x1A, "Alan Turing", "alan@example.com", "New Lead"),
    lead(0x1B, "Katherine Johnson with a rather long name", "katherine.johnson@very-long-domain.example.com", "Negotiation", value=8500.5),
    lead(0x1C, "Edsger Dijkstra", "edsger@example.com", "Closed Lost"),
]  # fmt: skip


def check_snapshot(name: str, text: str) -> None:
    path = SNAPSHOTS / f"{name}.txt"
    if os.environ.get("UPDATE_SNAPSHOTS"):
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"no snapshot {path.name}: run with UPDATE_SNAPSHOTS=1 and review it"
    assert text == path.read_text(encoding="utf-8"), f"{path.name} changed; if intended, rerun with UPDATE_SNAPSHOTS=1"

SGR = re.compile(r"\x1b\[[0-9;]*m")
CSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
REVERSE = re.compile(r"\x1b\[(?:[0-9]+;)*7(?:;[0-9]+)*m")  # an SGR sequence that turns on reverse video


def moved(record: Mapping[str, Any], to: str, seq: int = 42, by: str = "sam") -> dict[str, Any]:
    after = {**record, "current_stage": to, "updated_at": "2026-11-26T12:59:00.000+00:00"}
    return {
        "seq": seq, "type": "lead_stage_changed", "at": "2026-11-26T12:59:00.000+00:00", "lead_id": record["id"],
        "by": by, "changes": {"current_stage": [record["current_stage"], to]}, "lead": after,
    }  # fmt: skip


def board_after_a_move() -> Board:
    board = Board(PIPELINE, LEADS)
    board.apply(moved(LEADS[0], "Negotiation"), True)  # Ada Lovelace: Proposal Sent -> Negotiation
    return board


def crowded_board() -> Board:
    names = "Barbara Liskov, Donald Knuth, Frances Allen, John Backus, Margaret Hamilton, Niklaus Wirth, Radia Perlman, " \
        "Tony Hoare, Leslie Lamport, Shafi Goldwasser, Ken Thompson, Hedy Lamarr, Dennis Ritchie, Sophie Wilson, Linus Torvalds"
    many = [lead(0x30 + i, name, f"l{i}@example.com", "New Lead", value=1000 * i) for i, name in enumerate(names.split(", "))]
    board = Board(PIPELINE, [*LEADS, *many])
    board.apply(moved(LEADS[2], "Initial Contact"), True)  # Alan Turing
    return board


def full_board() -> Board:
    """Every stage holds leads (as in a real CRM): the hardest board to fit in 60 columns."""
    names = "Barbara Liskov, Donald Knuth, Frances Allen, John Backus, Margaret Hamilton, Niklaus Wirth, Radia Perlman, " \
        "Tony Hoare, Leslie Lamport, Shafi Goldwasser, Ken Thompson, Hedy Lamarr, Dennis Ritchie, Sophie Wilson"
    full = [lead(0x70 + i, name, f"f{i}@example.com", PIPELINE.stages[i % 7], value=1500 * (i + 1)) for i, name in enumerate(names.split(", "))]
    board = Board(PIPELINE, full)
    board.apply(moved(full[3], "Negotiation"), True)  # John Backus: Proposal Sent -> Negotiation
    return board


def draw(board: Board, width: int, height: int | None, color: bool = False, no_color: bool = False) -> str:
    """The board as a terminal of `width`x`height` shows it (height None: as in a pipe)."""
    buffer = io.StringIO()
    console = Console(
        file=buffer, width=width, height=height or 25, force_terminal=height is not None,
        color_system="standard" if color else None, highlight=False, no_color=no_color,
    )  # fmt: skip
    console.print(board.renderable())
    return "\n".join(line.rstrip() for line in buffer.getvalue().splitlines()) + "\n"


VIEWS = {
    "board_60": lambda: draw(board_after_a_move(), 60, 24),
    "board_80": lambda: draw(board_after_a_move(), 80, 24),
    "board_120": lambda: draw(board_after_a_move(), 120, 24),
    "board_80x10_crowded": lambda: draw(crowded_board(), 80, 10),
    "board_80x4_headers_only": lambda: draw(crowded_board(), 80, 4),
    "board_pipe_crowded": lambda: draw(crowded_board(), 100, None),
}


@pytest.mark.parametrize("name", sorted(VIEWS))
def test_board_matches_snapshot(name: str) -> None:
    check_snapshot(name, VIEWS[name]())


def words_of(*texts: str) -> set[str]:
    return {word for text in texts for word in re.findall(r"[A-Za-z]+", text)}


@pytest.mark.parametrize("make", [crowded_board, full_board])
@pytest.mark.parametrize("width", [60, 70, 80, 100, 120, 160])
def test_no_word_is_cut_in_two(width: int, make: Callable[[], Board]) -> None:
    # Every word on the board is whole, an initial ("L.") or visibly shortened ("Negotia…"):
    # never the `Negotiati│on` of a column too narrow for its header.
    board = make()
    known = words_of(*PIPELINE.stages, *(str(ld["name"]) for ld in board.leads.values())) | words_of(
        "leadcli watch board leads last moved by sam more empty k"
    )
    text = draw(board, width, 24)
    for word in re.findall(r"[A-Za-z]+(?![A-Za-z]*[.…])", text):
        assert word in known, f"{word!r} is part of a word at {width} columns:\n{text}"
    assert "Negotiation" in text and "Scheduled" in text  # stage names are whole
    assert max(cell_len(line) for line in text.splitlines()) <= width


@pytest.mark.parametrize("width", [60, 80, 120])
@pytest.mark.parametrize("height", range(1, 16))
def test_a_short_pane_keeps_the_last_change_and_never_overflows(width: int, height: int) -> None:
    text = draw(crowded_board(), width, height)
    lines = text.splitlines()
    assert len(lines) <= height, f"{len(lines)} lines on a {height}-line pane:\n{text}"
    assert max(cell_len(line) for line in lines) <= width
    assert lines[-1].startswith("last 12:59:00 moved Alan"), text
    if height >= 2:  # the columns are summarised, each stage with its count, rather than cut off
        assert "New Lead" in text and re.search(r"\b15\b", text), text


def test_a_narrow_pane_sums_up_the_closed_stages_rather_than_cut_stage_names() -> None:
    text = draw(full_board(), 60, 24)
    assert text.startswith("14 leads · 157,500  Closed Won 2 · 28.5k  Closed Lost"), text
    header = text.splitlines()[2]
    assert [h.strip() for h in header.split("│")] == ["New Lead", "Contact", "Scheduled", "Sent", "Negotiation"], text
    wide = draw(full_board(), 80, 24).splitlines()
    assert "Closed" in wide[1] and "Won" in wide[2] and "Lost" in wide[2]  # 80 columns: room for them all


def test_the_card_that_just_changed_is_highlighted_and_moves_with_the_next_change() -> None:
    board = board_after_a_move()
    highlighted = [SGR.sub("", m) for m in re.findall(REVERSE.pattern + r"[^\x1b]*", draw(board, 100, 24, color=True))]
    assert highlighted and all(m.startswith("Ada L") for m in highlighted), highlighted
    plain = draw(board, 100, 24, color=True, no_color=True)  # NO_COLOR: still in reverse video
    assert not re.search(r"\x1b\[[0-9;]*3[0-7]m", plain) and re.search(REVERSE.pattern + "Ada L", plain)

    board.apply(moved(LEADS[1], "Closed Lost", seq=43), True)  # Grace Hopper
    text = draw(board, 100, 24, color=True)
    highlighted = [SGR.sub("", m) for m in re.findall(REVERSE.pattern + r"[^\x1b]*", text)]
    assert highlighted and all(m.startswith("Grace H") for m in highlighted), highlighted
    assert "Closed Won → Closed Lost" in SGR.sub("", text).splitlines()[-1]

    deleted = {**moved(LEADS[1], "Closed Lost", seq=44), "type": "lead_deleted", "changes": {}}
    board.apply(deleted, True)
    text = draw(board, 100, 24, color=True)
    assert not REVERSE.search(text) and "Grace Hopper" not in SGR.sub("", text).split("last")[0]
    assert re.search(r"last 12:59:00 deleted Grace Hopper", SGR.sub("", text))


def test_stages_are_coloured_as_in_list_and_each_column_shows_its_value() -> None:
    from leadcli.output.rich_view import StagePalette

    text = draw(Board(PIPELINE, LEADS), 160, 24, color=True)
    codes = {"blue": "34", "cyan": "36", "magenta": "35", "yellow": "33", "green": "32", "red": "31", "bright_blue": "94"}
    palette = StagePalette.of(PIPELINE)
    for stage in PIPELINE.stages:
        assert re.search(rf"\x1b\[1;{codes[palette.color(stage)]}m{stage}\b", text), stage
    plain = SGR.sub("", text)
    assert "1 · 12,000" in plain and "1 · 8,500.50" in plain and "1 · 30,000" in plain  # count · value per column
    assert "5 leads · 50,500.50" in plain


@pytest.mark.parametrize("width", [60, 80, 120])
def test_wide_characters_keep_the_columns_in_line(width: int) -> None:
    wide = [
        lead(0x60, "王小明 Wang", "w@example.com", "Negotiation", value=5000),
        lead(0x61, "Zoë 🚀 Rocketeer", "z@example.com", "Negotiation", value=7000),
        lead(0x62, "株式会社テスト 営業部", "k@example.com", "New Lead"),
    ]
    board = Board(PIPELINE, [*LEADS, *wide])
    board.apply(moved(wide[1], "Negotiation"), True)
    lines = draw(board, width, 24).splitlines()
    assert max(cell_len(line) for line in lines) <= width
    bars = {tuple(i for i, ch in enumerate(_cells(line)) if ch == "│") for line in lines[1:-1] if "│" in line}
    assert len(bars) == 1, "column separators out of line:\n" + "\n".join(lines)
    if width >= 120:  # cards wide enough for a value keep it, however wide the name's characters
        assert re.search(r"Zoë 🚀 R\.\s+7k", "\n".join(lines)) and re.search(r"王小明 Wang\s+5k", "\n".join(lines))
    assert " …" not in "\n".join(lines)  # a wide character cut in half leaves no gap before "…"


def _cells(line: str) -> list[str]:
    """`line` as terminal cells: a wide character takes two."""
    return [cell for ch in line for cell in ([ch] if cell_len(ch) < 2 else [ch, ""])]


def test_lead_text_is_never_markup() -> None:
    tricky = [
        lead(0x40, "[/]", "a@example.com", "New Lead"),
        lead(0x41, "[reverse]URGENT", "b@example.com", "New Lead"),
        lead(0x42, "Bob [bold]", "c@example.com", "Custom [/] Stage"),
    ]
    board = Board(PIPELINE, tricky)
    board.apply({**moved(tricky[2], "Custom [/] Stage"), "by": "[red]x"}, True)
    text = draw(board, 160, 24, color=True)
    plain = SGR.sub("", text)
    assert "[/]" in plain and "[reverse]URGENT" in plain and "Bob [bold]" in plain and "by [red]x" in plain
    assert "Custom [/] Stage" in plain  # a stage the pipeline does not know gets a column of its own
    urgent = text[text.index("URGENT") - 30 : text.index("URGENT")]
    assert not REVERSE.search(urgent.split("│")[-1])


def test_the_columns_kept_up_to_date_match_a_fresh_count_after_any_events() -> None:
    # The board keeps each column sorted with its count and value as events come (a binary
    # search per event, not a pass over every lead per frame): compare with counting afresh.
    import random

    rng = random.Random(13)
    stages = [*PIPELINE.stages, "Someone's Own Stage"]
    truth: dict[str, dict[str, Any]] = {
        f"{n:024x}": {"id": f"{n:024x}", "name": "x", "current_stage": stages[n % 8], "value": n, "updated_at": f"2026-10-{n % 9 + 1:02d}"}
        for n in range(0, 40, 3)
    }  # the board starts from these (as from the store), then follows the events
    board = Board(PIPELINE, [*truth.values(), *truth.values()])
    for seq in range(600):
        lead_id = f"{rng.randrange(40):024x}"
        record = {"id": lead_id, "name": f"Lead {lead_id[-2:]}", "current_stage": rng.choice(stages),
                  "value": rng.choice([None, 0, 99.99, 1200, 0.01, "n/a"]), "updated_at": f"2026-11-{rng.randrange(1, 29):02d}"}  # fmt: skip
        kind = rng.choice(["lead_updated", "lead_stage_changed", "lead_deleted", "left"])
        event = {"seq": seq, "type": "lead_updated" if kind == "left" else kind, "lead_id": lead_id, "lead": record}
        board.apply(event, visible=kind != "left")
        if kind in ("lead_deleted", "left"):
            truth.pop(lead_id, None)
        else:
            truth[lead_id] = record
        view = board.renderable()
        for stage in stages:
            mine = [ld for ld in truth.values() if ld["current_stage"] == stage]
            cents = sum(round(ld["value"] * 100) for ld in mine if isinstance(ld["value"], float | int))
            assert view.counts.get(stage, 0) == len(mine) and round(view.values.get(stage, 0) * 100) == cents
            shown = dict(view.columns).get(stage, [])
            expected = sorted(mine, key=lambda ld: (ld["updated_at"], ld["id"]), reverse=True)
            if board.changed in {ld["id"] for ld in mine}:
                expected = [truth[board.changed], *(ld for ld in expected if ld["id"] != board.changed)]
            assert [ld["id"] for ld in shown] == [ld["id"] for ld in expected]
        assert ("Someone's Own Stage" in dict(view.columns)) == any(ld["current_stage"] == "Someone's Own Stage" for ld in truth.values())


def test_a_lead_leaving_the_filters_leaves_the_board_and_the_last_line_says_why() -> None:
    board = board_after_a_move()
    board.apply(moved(LEADS[2], "Closed Lost", seq=43), False)  # Alan Turing no longer matches
    plain = SGR.sub("", draw(board, 120, 24, color=True))
    assert "Alan T" not in plain.split("last")[0] and not REVERSE.search(draw(board, 120, 24, color=True))
    assert "last 12:59:00 moved Alan Turing  New Lead → Closed Lost" in plain


def test_every_event_of_a_burst_is_on_the_last_frame(monkeypatch: pytest.MonkeyPatch) -> None:
    # Events are applied as they come and drawn at most 10 times a second: whatever the pace,
    # the frame left on screen shows them all.
    from leadcli.output.events import show_board

    monkeypatch.setenv("LEADCLI_FORCE_TERMINAL", "1")
    monkeypatch.setenv("COLUMNS", "120")
    monkeypatch.setenv("LINES", "30")
    people = [lead(0x50 + i, f"Person{i} Example", f"p{i}@example.com", "New Lead") for i in range(40)]
    stages = ["Initial Contact", "Meeting Scheduled", "Proposal Sent", "Negotiation", "Closed Won"]
    events, now = [], list(people)
    for step, stage in enumerate(stages):
        for i, person in enumerate(now):
            events.append((moved(person, stage, seq=step * 40 + i), True))
            now[i] = events[-1][0]["lead"]
    out = io.StringIO()
    show_board(Board(PIPELINE, people), iter(events), out)
    final = SGR.sub("", CSI.sub("", out.getvalue())).split("leadcli watch --board")[-1]
    assert "40 leads" in final and "last 12:59:00 moved Person39 Example  Negotiation → Closed Won" in final
    names, counts = next((line, final.splitlines()[i + 1]) for i, line in enumerate(final.splitlines()) if "Closed Won" in line)
    assert counts[names.index("Closed Won") :].split()[0] == "40"


def test_a_drawing_error_is_not_a_frozen_board(monkeypatch: pytest.MonkeyPatch) -> None:
    # The painter thread draws; if drawing fails, the watch fails (the error boundary reports
    # it) instead of going on with a board that silently stopped changing.
    from leadcli.output import rich_view
    from leadcli.output.events import show_board

    monkeypatch.setenv("LEADCLI_FORCE_TERMINAL", "1")
    frame, calls = rich_view.BoardView.frame, []

    def fails_once(self: rich_view.BoardView, width: int, height: int | None) -> list[Any]:
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("drawing bug")
        return frame(self, width, height)

    monkeypatch.setattr(rich_view.BoardView, "frame", fails_once)

    events = [(moved(LEADS[2], PIPELINE.stages[i % 5], seq=i), True) for i in range(50)]
    with pytest.raises(RuntimeError, match="drawing bug"):
        show_board(Board(PIPELINE, LEADS), iter(events), io.StringIO())


# -- a real terminal: resize ----------------------------------------------------------------


def set_size(fd: int, columns: int, lines: int) -> None:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", lines, columns, 0, 0))


class Terminal:
    """`python -m leadcli ARGS` on a pseudo-terminal of a given size; output read as it comes."""

    def __init__(self, args: list[str], columns: int, lines: int, env: dict[str, str], cwd: Path | None = None) -> None:
        self.main, child = pty.openpty()
        set_size(self.main, columns, lines)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "leadcli", *args], stdin=child, stdout=child, stderr=child,
            env={**os.environ, "PYTHONPATH": str(ROOT), "TERM": "xterm", **env}, cwd=cwd,
        )  # fmt: skip
        os.close(child)
        self.seen = b""

    def read_until(self, pattern: bytes, start: int = 0, timeout: float = 20) -> int:
        """Read until `pattern` shows up after offset `start`; its offset."""
        return self.read_until_shown(lambda: self.seen.find(pattern, start), pattern, timeout)

    def read_until_text(self, text: str, start: int = 0, timeout: float = 20) -> list[str]:
        """Read until `text` is written after offset `start` (escape sequences aside); the
        lines written since `start`."""
        self.read_until_shown(lambda: 0 if any(text in line for line in frame_lines(self.seen[start:])) else -1, text, timeout)
        return frame_lines(self.seen[start:])

    def read_until_shown(self, where: Callable[[], int], what: object, timeout: float) -> int:
        deadline = time.monotonic() + timeout
        while (found := where()) < 0:
            assert time.monotonic() < deadline and self.proc.poll() is None, f"no {what!r}; got {self.seen[-3000:]!r}"
            if select.select([self.main], [], [], 0.1)[0]:
                try:
                    self.seen += os.read(self.main, 65536)
                except OSError:
                    pass
        return found

    def resize(self, columns: int, lines: int) -> None:
        set_size(self.main, columns, lines)
        self.proc.send_signal(signal.SIGWINCH)  # the kernel does this for a controlling terminal

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
        self.proc.wait(timeout=10)
        os.close(self.main)


def frame_lines(raw: bytes) -> list[str]:
    """What a chunk of terminal output writes, line by line, escape sequences removed."""
    moves = re.sub(r"\x1b\[[0-9;?]*[ABHJK]", "\n", raw.decode(errors="replace"))  # a redraw starts over
    text = CSI.sub("", moves).replace("\r", "")
    return [line for line in text.split("\n") if line.strip()]


def test_resizing_the_pane_redraws_the_board_at_the_new_size_without_a_write(tmp_path: Path) -> None:
    db = str(tmp_path / "leads.db")
    for name, stage in (("Ada Lovelace", "negotiation"), ("Grace Hopper", "proposal-sent"), ("Alan Turing", "initial-contact")):
        email = name.split()[0].lower() + "@example.com"
        assert invoke("--db", db, "add", "--name", name, "--email", email, "--stage", stage, "--value", "12000").code == 0
    # A stale exported COLUMNS/LINES must not win over the terminal's real size either. (The
    # store named as a user in its folder would: the "watching PATH" line is on this screen too,
    # and a long temporary path would not fit in 120 columns.)
    term = Terminal(["--db", "leads.db", "watch", "--board"], 120, 30, {"COLUMNS": "200", "LINES": "50"}, cwd=tmp_path)
    try:
        wide = term.read_until_text("waiting for changes")
        assert any("Meeting Scheduled" in line for line in wide)  # 120 columns: every stage has room
        assert all(cell_len(line) <= 120 for line in wide), wide

        mark = len(term.seen)
        term.resize(60, 12)
        cleared = term.read_until(b"\x1b[2J", mark)  # the pane is cleared: no old frame left to wrap
        narrow = term.read_until_text("waiting for changes", cleared)
        assert all(cell_len(line) <= 60 for line in narrow), narrow
        assert any("Negotiation" in line for line in narrow) and any("Ada L" in line for line in narrow), narrow
        assert len(narrow) <= 12, narrow

        mark = len(term.seen)
        term.resize(60, 4)  # a very short pane: the columns summed up, the last line kept
        short = term.read_until_text("waiting for changes", term.read_until(b"\x1b[2J", mark))
        assert len(short) <= 4 and "Negotiation" in "".join(short) and short[-1].startswith("waiting for changes"), short

        mark = len(term.seen)
        term.resize(60, 12)
        term.read_until_text("waiting for changes", term.read_until(b"\x1b[2J", mark))
        mark = len(term.seen)
        assert invoke("--db", db, "move", "alan@example.com", "--to", "negotiation").code == 0
        after = term.read_until_text("Initial Contact → Negotiation", mark)  # the next write: still 60 wide
        assert all(cell_len(line) <= 60 for line in after), after
    finally:
        term.close()
