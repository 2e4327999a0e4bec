"""`edit LEAD` with no field options: on a terminal it asks for each main field (Enter keeps the
current value, - clears it) and saves what changed in one write; in a pipe it never asks."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT, invoke

PROMPTS = ("Name", "Email", "Company", "Phone", "Stage", "Status", "Owner", "Value", "Follow-up", "Notes")


def add_ada() -> dict[str, Any]:
    result = invoke(
        "add", "--name", "Ada Lovelace", "--email", "ada@example.com", "--company", "Engines", "--owner", "sam",
        "--value", "12000", "--follow-up", "2030-01-05T09:00:00+00:00", "--notes", "met at the fair", "-o", "json",
    )  # fmt: skip
    assert result.code == 0, result.stderr
    return result.json()


def events() -> list[dict[str, Any]]:
    from leadcli.config import default_db_path
    from leadcli.store import open_store

    store = open_store(str(default_db_path()))
    try:
        return store.events_after(0)
    finally:
        store.close()


def lead_json(*extra: str) -> dict[str, Any]:
    result = invoke(*extra, "show", "ada@example.com", "-o", "json")
    assert result.code == 0, result.stderr
    return result.json()


@pytest.fixture
def on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    import leadcli.cli.leads

    monkeypatch.setattr(leadcli.cli.leads, "stdin_is_tty", lambda: True)


def test_edit_on_a_terminal_asks_for_each_field_and_saves_only_changes(on_a_terminal: None) -> None:
    before = add_ada()
    answers = [
        "",              # name: kept
        "",              # email: kept
        "Babbage & Co",  # company
        "",              # phone: still empty
        "won",           # stage: not a stage, asked again
        "negotiation",
        "",              # status: kept
        "-",             # owner: cleared
        "lots",          # value: not a number, asked again
        "15000",
        "",              # follow-up: kept, to the minute as shown
        "",              # notes: kept
    ]  # fmt: skip
    result = invoke("--user", "kim", "edit", "ada@example.com", "--note", "asked on a call", "-o", "json", input="\n".join(answers) + "\n")
    assert result.code == 0, result.stderr
    # Each prompt shows the current value as its default ([...]); empty values show none.
    for label, default in [("Name", "Ada Lovelace"), ("Company", "Engines"), ("Stage", "New Lead"), ("Owner", "sam"),
                           ("Value", "12000"), ("Follow-up", "2030-01-05")]:  # fmt: skip
        assert f"{label} [{default}" in result.stderr, result.stderr
    assert "Phone: " in result.stderr
    assert "unknown stage 'won'" in result.stderr
    assert result.stderr.count("Stage [") == 2 and result.stderr.count("Value [") == 2

    after = lead_json()
    assert {k: after[k] for k in ("company", "current_stage", "owner", "value")} == {
        "company": "Babbage & Co", "current_stage": "Negotiation", "owner": None, "value": 15000,
    }  # fmt: skip
    unchanged = ("name", "email", "phone", "status", "follow_up_at", "notes", "created_at")
    assert {k: after[k] for k in unchanged} == {k: before[k] for k in unchanged}
    assert after["version"] == before["version"] + 1
    assert after["stage_history"][-1] == {
        "from_stage": "New Lead", "to_stage": "Negotiation", "changed_at": after["updated_at"], "by": "kim", "notes": "asked on a call",
    }  # fmt: skip
    written = events()
    assert [e["type"] for e in written] == ["lead_created", "lead_stage_changed"]
    assert set(written[-1]["changes"]) == {"company", "current_stage", "owner", "value"}


def test_edit_on_a_terminal_with_every_answer_kept_writes_nothing(on_a_terminal: None) -> None:
    before = add_ada()
    result = invoke("edit", "ada@example.com", input="\n" * len(PROMPTS))
    assert (result.code, result.stdout) == (0, "")
    assert result.stderr.endswith("nothing changed\n")
    assert lead_json()["version"] == before["version"]
    cancelled = invoke("edit", "ada@example.com", input="Someone Else\n\n")  # Ctrl-D at the third question
    assert (cancelled.code, cancelled.stdout) == (1, "")
    assert cancelled.stderr.endswith("cancelled: nothing changed\n")
    assert lead_json()["name"] == "Ada Lovelace"
    assert len(events()) == 1


def test_edit_with_options_or_several_leads_never_asks(on_a_terminal: None) -> None:
    add_ada()
    given = invoke("edit", "ada@example.com", "--owner", "kim", "-o", "json", input="x\n" * 20)
    assert given.code == 0 and given.json()["owner"] == "kim" and "Name" not in given.stderr
    several = invoke("edit", "ada@example.com", "ada@example.com", input="x\n" * 20)
    assert several.code == 2 and "nothing to change" in several.stderr


def test_edit_in_a_pipe_never_asks() -> None:
    before = add_ada()
    result = invoke("edit", "ada@example.com", input="Someone Else\n" * 20)
    assert (result.code, result.stdout) == (2, "")
    assert result.stderr == "error: nothing to change: give at least one field option (see leadcli edit --help)\n"
    assert lead_json()["version"] == before["version"]


def test_edit_asks_on_a_real_terminal(tmp_path: Path) -> None:
    """The same through a pseudo-terminal, so the TTY check itself is what is tested."""
    add_ada()
    main, child = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "leadcli", "edit", "ada@example.com"], stdin=child, stdout=child, stderr=child,
        env={**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "100"}, start_new_session=True,
    )  # fmt: skip
    os.close(child)
    seen = b""
    try:
        for label, answer in zip(PROMPTS, ["", "", "", "", "meeting-scheduled", "", "", "", "", "call back in May"], strict=True):
            seen = read_until(main, seen, f"{label}".encode())
            os.write(main, answer.encode() + b"\n")
        assert proc.wait(timeout=30) == 0, seen.decode(errors="replace")
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(main)
    after = lead_json()
    assert (after["current_stage"], after["notes"], after["company"]) == ("Meeting Scheduled", "call back in May", "Engines")


def read_until(fd: int, seen: bytes, text: bytes, timeout: float = 20) -> bytes:
    """Read the terminal's output until `text` appears after what was already seen."""
    start, deadline = len(seen), time.monotonic() + timeout
    while text not in seen[start:]:
        ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
        assert ready, f"no {text!r} prompt on the terminal; got {seen.decode(errors='replace')!r}"
        seen += os.read(fd, 4096)
    return seen
