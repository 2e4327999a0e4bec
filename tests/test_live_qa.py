"""Found by using `watch` and `serve` as a person would: what a watcher on a second screen sees."""

from __future__ import annotations

from pathlib import Path

from conftest import invoke


def test_readable_view_keeps_one_event_per_line_whatever_the_text_holds(tmp_path: Path) -> None:
    # Notes pasted from an email hold newlines; someone's text may hold a terminal escape.
    db = str(tmp_path / "leads.db")
    added = invoke("--db", db, "add", "--name", "Ada", "--email", "ada@example.com", "--notes", "line one\nline two")
    assert added.code == 0, added.stderr
    assert invoke("--db", db, "edit", "ada@example.com", "--notes", "cleared\r\x1b[2Jscreen").code == 0
    assert invoke("--db", db, "log", "ada@example.com", "--type", "note", "--note", "a\tb\nc").code == 0
    result = invoke("--db", db, "watch", "--since", "0", "--timeout", "0.3", "-o", "table")
    assert result.code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 3, lines
    assert "notes: line one line two → cleared" in lines[1]
    assert "\x1b" not in result.stdout and "\r" not in result.stdout and "\t" not in result.stdout
    assert "note: a b c" in lines[2]
