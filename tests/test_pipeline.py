"""Moving leads through the pipeline: history entries, no-op moves, stdin ids, a configurable
pipeline, engagement, and concurrent writers keeping one consistent history."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from conftest import invoke, run_process


def add(db: str, email: str, *extra: str) -> dict[str, Any]:
    result = invoke("--db", db, "add", "--name", email.split("@")[0].title(), "--email", email, *extra, "-o", "json")
    assert result.code == 0, result.stderr
    return result.json()


def show(db: str, ref: str) -> dict[str, Any]:
    result = invoke("--db", db, "show", ref, "-o", "json")
    assert result.code == 0, result.stderr
    return result.json()


def assert_chain(history: list[dict[str, Any]], current: str) -> None:
    """Every entry starts where the previous one ended, and the last ends at the current stage."""
    assert history[0]["from_stage"] is None
    for before, after in zip(history, history[1:], strict=False):
        assert after["from_stage"] == before["to_stage"], history
    assert history[-1]["to_stage"] == current


def test_move_forward_and_back_records_each_step(store_uri: str) -> None:
    lead = add(store_uri, "ada@example.com")

    forward = invoke("--db", store_uri, "move", "ada@example.com", "--to", "proposal-sent", "--note", "sent v2 pricing", "-o", "json")
    assert forward.code == 0, forward.stderr
    moved = forward.json()
    assert moved["current_stage"] == "Proposal Sent"
    assert moved["version"] == lead["version"] + 1
    entry = moved["stage_history"][-1]
    assert entry == {
        "from_stage": "New Lead",
        "to_stage": "Proposal Sent",
        "changed_at": moved["stage_updated_at"],
        "by": "tester",
        "notes": "sent v2 pricing",
    }

    back = invoke("--db", store_uri, "--user", "bob", "move", lead["id"][:8], "--to", "Initial Contact", "-o", "json")
    assert back.code == 0, back.stderr
    history = invoke("--db", store_uri, "history", lead["id"], "-o", "json").json()
    assert [(h["from_stage"], h["to_stage"], h["by"]) for h in history] == [
        (None, "New Lead", "tester"),
        ("New Lead", "Proposal Sent", "tester"),
        ("Proposal Sent", "Initial Contact", "bob"),
    ]
    assert history[-1]["notes"] is None
    assert show(store_uri, lead["id"])["stage_updated_at"] == history[-1]["changed_at"]


def test_move_to_the_current_stage_changes_nothing(store_uri: str, store: Any) -> None:
    lead = add(store_uri, "ada@example.com", "--stage", "negotiation")
    events_before = store.last_seq()

    result = invoke("--db", store_uri, "move", "ada@example.com", "--to", "NEGOTIATION", "-o", "json")

    assert result.code == 0, result.stderr
    assert result.json() == lead
    assert store.last_seq() == events_before
    assert show(store_uri, lead["id"])["version"] == lead["version"]


def test_move_emits_a_stage_changed_event(store_uri: str, store: Any) -> None:
    lead = add(store_uri, "ada@example.com")
    assert invoke("--db", store_uri, "move", lead["id"], "--to", "meeting-scheduled").code == 0
    event = store.events_after(0)[-1]
    assert event["type"] == "lead_stage_changed"
    assert event["lead_id"] == lead["id"]
    assert event["changes"]["current_stage"] == ["New Lead", "Meeting Scheduled"]


def test_a_lead_named_twice_is_moved_and_printed_once(tmp_path: Path) -> None:
    """`move -` given the same lead by email and by id printed it twice, so the ids piped on
    to the next command repeated it (delete and edit already named it once)."""
    db = str(tmp_path / "leads.db")
    lead = add(db, "ada@example.com")
    result = invoke("--db", db, "move", "-", "--to", "negotiation", "-o", "ids", input=f"ada@example.com\n{lead['id']}\n")
    assert (result.code, result.stdout) == (0, lead["id"] + "\n")
    assert len(show(db, lead["id"])["stage_history"]) == 2


def test_move_several_leads_and_ids_from_stdin_print_arrays(store_uri: str) -> None:
    a = add(store_uri, "a@example.com")
    b = add(store_uri, "b@example.com")

    two = invoke("--db", store_uri, "move", "a@example.com", b["id"], "--to", "initial-contact", "-o", "json")
    assert two.code == 0, two.stderr
    assert [(x["id"], x["current_stage"]) for x in two.json()] == [(a["id"], "Initial Contact"), (b["id"], "Initial Contact")]

    piped = invoke("--db", store_uri, "list", "--stage", "initial-contact", "-o", "ids")
    one = invoke("--db", store_uri, "move", "-", "--to", "closed-won", "-o", "json", input=piped.stdout.splitlines()[0] + "\n")
    assert one.code == 0, one.stderr
    assert isinstance(one.json(), list) and len(one.json()) == 1
    assert one.json()[0]["current_stage"] == "Closed Won"


def test_a_bad_reference_or_stage_moves_nothing(store_uri: str) -> None:
    add(store_uri, "a@example.com")

    missing = invoke("--db", store_uri, "move", "a@example.com", "nobody@example.com", "--to", "negotiation")
    assert (missing.code, missing.stdout) == (3, "")
    assert missing.stderr.startswith("error: no lead with email nobody@example.com")

    unknown = invoke("--db", store_uri, "move", "a@example.com", "--to", "won")
    assert unknown.code == 2
    assert "valid stages: New Lead, Initial Contact" in unknown.stderr

    assert show(store_uri, "a@example.com")["current_stage"] == "New Lead"


def test_edit_stage_is_recorded_like_move(store_uri: str) -> None:
    add(store_uri, "ada@example.com")
    result = invoke("--db", store_uri, "edit", "ada@example.com", "--stage", "negotiation", "--note", "fast track", "-o", "json")
    assert result.code == 0, result.stderr
    assert result.json()["stage_history"][-1]["from_stage"] == "New Lead"
    assert result.json()["stage_history"][-1]["notes"] == "fast track"


def test_a_configured_pipeline_replaces_the_default(store_uri: str, leadcli_home: Path) -> None:
    (leadcli_home / "config.toml").write_text(
        '[pipeline]\nstages = ["Lead", "Qualified", "Won", "Lost"]\nclosed = ["Won", "Lost"]\nwon = "Won"\nlost = "Lost"\n'
    )
    lead = add(store_uri, "ada@example.com")
    assert lead["current_stage"] == "Lead"

    moved = invoke("--db", store_uri, "move", "ada@example.com", "--to", "qualified", "-o", "json")
    assert moved.json()["current_stage"] == "Qualified"

    refused = invoke("--db", store_uri, "move", "ada@example.com", "--to", "negotiation")
    assert refused.code == 2
    assert "valid stages: Lead, Qualified, Won, Lost" in refused.stderr

    stages = invoke("--db", store_uri, "stages", "-o", "json").json()
    assert stages == [{"stage": "Lead", "count": 0}, {"stage": "Qualified", "count": 1}, {"stage": "Won", "count": 0}, {"stage": "Lost", "count": 0}]


def test_engagement_and_status_stay_consistent(store_uri: str) -> None:
    lead = add(store_uri, "ada@example.com", "--engaged")
    assert (lead["engaged"], lead["status"]) == (True, "Engaged")

    edited = invoke("--db", store_uri, "edit", "ada@example.com", "--not-engaged", "-o", "json").json()
    assert (edited["engaged"], edited["status"]) == (False, "Not Engaged")

    by_status = invoke("--db", store_uri, "edit", "ada@example.com", "--status", "engaged", "-o", "json").json()
    assert (by_status["engaged"], by_status["status"]) == (True, "Engaged")

    contradiction = invoke("--db", store_uri, "edit", "ada@example.com", "--status", "Not Engaged", "--engaged")
    assert contradiction.code == 2
    assert "contradicts" in contradiction.stderr
    assert show(store_uri, "ada@example.com")["engaged"] is True


def test_history_table_in_a_pipe_is_plain(store_uri: str) -> None:
    add(store_uri, "ada@example.com")
    invoke("--db", store_uri, "move", "ada@example.com", "--to", "negotiation", "--note", "call went well")
    result = invoke("--db", store_uri, "history", "ada@example.com")
    assert result.code == 0
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["FROM_STAGE", "TO_STAGE", "CHANGED_AT", "BY", "NOTES"]
    assert lines[2].startswith("New Lead") and "Negotiation" in lines[2] and lines[2].endswith("call went well")
    assert "\x1b[" not in result.stdout


ROUNDS = 4


def _worker(db: str, lead_id: str, role: int) -> list[tuple[str, int]]:
    """One process's series of writes on the lead; returns (what, exit code) per command."""
    from leadcli.store import open_store

    stages = {0: ("Proposal Sent", "Negotiation"), 1: ("Initial Contact", "Meeting Scheduled")}
    done = []
    for i in range(ROUNDS):
        if role in stages:
            # A mover picks whichever of its own two stages the lead is not in (no other process
            # moves to them), so each of its moves changes the stage, even after it lost a race.
            # (The look-up is not what is tested: read in-process, each time on a new connection.)
            reader = open_store(db)
            try:
                current = reader.get(lead_id)["current_stage"]
            finally:
                reader.close()
            args = ("move", lead_id, "--to", stages[role][1] if current == stages[role][0] else stages[role][0])
            what = "move"
        elif role == 2:
            args, what = ("edit", lead_id, "--add-tag", f"t{i}"), f"t{i}"
        else:
            args, what = ("log", lead_id, "--type", "call", "--note", f"n{i}"), f"n{i}"
        result = run_process("--db", db, *args, "-o", "ids")
        done.append((what, result.code))
    return done


def test_concurrent_moves_edits_and_logs_keep_one_consistent_history(store_uri: str, store: Any) -> None:
    lead = add(store_uri, "ada@example.com")

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = [r for batch in pool.map(lambda role: _worker(store_uri, lead["id"], role), range(4)) for r in batch]

    assert {code for _what, code in results} <= {0, 4}, results
    final = show(store_uri, lead["id"])
    assert_chain(final["stage_history"], final["current_stage"])
    # Each process alternates between two stages no other process uses, so every move that
    # succeeded changed the stage and must be in the history.
    moves = sum(1 for what, code in results if what == "move" and code == 0)
    assert len(final["stage_history"]) == 1 + moves
    assert sorted(final["tags"]) == sorted(what for what, code in results if what.startswith("t") and code == 0)
    assert sorted(a["note"] for a in store.get(lead["id"])["activities"]) == sorted(
        what for what, code in results if what.startswith("n") and code == 0
    )
    assert final["version"] == 1 + sum(1 for _what, code in results if code == 0)


def test_many_interleaved_writers_lose_nothing(store_uri: str, store: Any) -> None:
    """The same rules under far more contention than processes can produce: threads, each with
    its own store connection, moving, tagging and logging through the services."""
    from leadcli.config import load_settings
    from leadcli.domain.errors import Conflict
    from leadcli.services.context import Workspace
    from leadcli.services.leads import edit_leads_detailed
    from leadcli.services.pipeline import log_activity, move_leads_detailed

    lead_id = add(store_uri, "ada@example.com")["id"]
    rounds = 25

    def work(role: int) -> list[tuple[str, bool]]:
        ws = Workspace(load_settings(db=store_uri, user=f"w{role}"))
        done = []
        try:
            for i in range(rounds):
                try:
                    if role < 2:
                        # Each mover owns two stages and picks the one the lead is not in, so every
                        # move it makes changes the stage (even after one of its own moves lost a race).
                        mine = (("proposal-sent", "Proposal Sent"), ("negotiation", "Negotiation")) if role == 0 else (
                            ("initial-contact", "Initial Contact"), ("meeting-scheduled", "Meeting Scheduled"))
                        current = ws.store.get(lead_id)["current_stage"]
                        move_leads_detailed(ws, [lead_id], mine[0][0] if current != mine[0][1] else mine[1][0])
                        done.append(("move", True))
                    elif role == 2:
                        edit_leads_detailed(ws, [lead_id], {}, add_tags=[f"t{i}"])
                        done.append((f"t{i}", True))
                    else:
                        log_activity(ws, lead_id, "note", f"n{i}")
                        done.append((f"n{i}", True))
                except Conflict:
                    done.append(("lost", False))
        finally:
            ws.close()
        return done

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = [r for batch in pool.map(work, range(4)) for r in batch]

    final = show(store_uri, lead_id)
    assert_chain(final["stage_history"], final["current_stage"])
    assert len(final["stage_history"]) == 1 + sum(1 for what, ok in results if what == "move" and ok)
    assert sorted(final["tags"]) == sorted(what for what, ok in results if what.startswith("t") and ok)
    assert sorted(a["note"] for a in store.get(lead_id)["activities"]) == sorted(what for what, ok in results if what.startswith("n") and ok)
    assert final["version"] == 1 + sum(1 for _what, ok in results if ok)
