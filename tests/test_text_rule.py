"""One rule for user text in every view (domain/text.py): a control character is shown as
`\\xNN`, a zero-width or bidirectional-override character as `\\uNNNN`, the same way in the
list, the card, the history, the lines of `watch` and the board. Input refuses control
characters, but a store may already hold them (an older leadcli, a Leads Artisan database), so
the lead is written straight through the store, as those would have."""

from __future__ import annotations

import io
from datetime import timedelta
from pathlib import Path

from conftest import invoke
from leadmaker import T0, insert, lead
from rich.console import Console

from leadcli.domain.lead import history_entry, to_jsonable
from leadcli.domain.pipeline import Pipeline
from leadcli.domain.query import LeadQuery
from leadcli.output.events import Board
from leadcli.store import open_store

# ESC (a control character), a zero-width space and a right-to-left override.
RAW = "E\x1b\u200b\u202eY"
SHOWN = "E\\x1b\\u200b\\u202eY"
TERMINAL = {"LEADCLI_FORCE_TERMINAL": "1", "COLUMNS": "200"}


def seeded(tmp_path: Path) -> str:
    db = str(tmp_path / "old.db")
    moved_at = T0 + timedelta(days=3)
    history = [history_entry(None, "New Lead", T0, "seed", None), history_entry("New Lead", "Negotiation", moved_at, RAW, RAW)]
    store = open_store(db)
    try:
        insert(store, lead(RAW, email="e@example.com", company=RAW, current_stage="Negotiation", stage_history=history, stage_updated_at=moved_at))
    finally:
        store.close()
    return db


def assert_shown(text: str, times: int = 1) -> None:
    assert text.count(SHOWN) >= times, text
    for raw in ("\x1b\u200b", "\u200b", "\u202e"):
        assert raw not in text, (raw, text)


def test_control_zero_width_and_bidi_characters_look_the_same_in_every_view(tmp_path: Path) -> None:
    db = seeded(tmp_path)

    for env in ({}, TERMINAL):  # a pipe, then a terminal (drawn by Rich)
        listed = invoke("--db", db, "list", "--fields", "name,company", env=env)
        assert listed.code == 0, listed.stderr
        assert_shown(listed.stdout, times=2)  # name and company

        card = invoke("--db", db, "show", "e@example.com", env=env)
        assert card.code == 0, card.stderr
        assert_shown(card.stdout, times=3)  # name, company, the history entry (by and note)

        history = invoke("--db", db, "history", "e@example.com", env=env)
        assert history.code == 0, history.stderr
        assert_shown(history.stdout, times=2)  # by and note

    lines = invoke("--db", db, "watch", "--since", "0", "--count", "1", "--timeout", "60", "-o", "table")
    assert lines.code == 0, lines.stderr
    assert_shown(lines.stdout)  # the lead's name on its event line

    store = open_store(db)
    try:
        board = Board(Pipeline(), [to_jsonable(record) for record in store.query(LeadQuery().unpaged())])  # as `watch --board`
    finally:
        store.close()
    buffer = io.StringIO()
    Console(file=buffer, width=200, height=24, force_terminal=True, color_system=None, highlight=False).print(board.renderable())
    assert_shown(buffer.getvalue())

    # The data formats keep the value exactly.
    assert invoke("--db", db, "show", "e@example.com", "-o", "json").json()["name"] == RAW


def test_an_error_line_shows_user_text_by_the_same_rule() -> None:
    result = invoke("show", f"zz{RAW}")
    assert result.code == 2
    assert SHOWN in result.stderr and "\x1b" not in result.stderr and "\u202e" not in result.stderr, result.stderr
