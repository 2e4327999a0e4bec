"""Who needs attention: follow-ups due by a bound, and open leads gone stale (moved in bulk by
a cron job, which must pass --yes)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from conftest import invoke, run_process
from leadmaker import at, insert, lead_with_moves


def add(db: str, email: str, *extra: str) -> dict[str, Any]:
    result = invoke("--db", db, "add", "--name", email.split("@")[0].title(), "--email", email, *extra, "-o", "json")
    assert result.code == 0, result.stderr
    return result.json()


def emails(result: Any) -> list[str]:
    assert result.code == 0, result.stderr
    return [lead["email"] for lead in result.json()]


def test_followups_by_due_bound_soonest_first(store_uri: str) -> None:
    add(store_uri, "in3days@example.com", "--follow-up", "+3d")
    add(store_uri, "overdue@example.com", "--follow-up", "-2d", "--owner", "ada")
    add(store_uri, "in10days@example.com", "--follow-up", "+10d", "--owner", "ada")
    add(store_uri, "longoverdue@example.com", "--follow-up", "-9d")
    add(store_uri, "none@example.com")
    in_12_days = (datetime.now(UTC) + timedelta(days=12)).date().isoformat()

    def due(*args: str) -> list[str]:
        return emails(invoke("--db", store_uri, "followups", *args, "-o", "json"))

    assert due() == ["longoverdue@example.com", "overdue@example.com"]
    assert due("--due", "overdue") == ["longoverdue@example.com", "overdue@example.com"]
    assert due("--due", "week") == ["longoverdue@example.com", "overdue@example.com", "in3days@example.com"]
    assert due("--due", in_12_days) == [
        "longoverdue@example.com", "overdue@example.com", "in3days@example.com", "in10days@example.com",
    ]  # fmt: skip
    assert due("--due", in_12_days, "--owner", "ada") == ["overdue@example.com", "in10days@example.com"]
    assert due("--owner", "nobody") == []


def test_followups_today_runs_to_the_end_of_the_day_overdue_to_now(store_uri: str) -> None:
    """Frozen clock: 09:00 UTC on 10 March; a follow-up at 15:00 that day is due today, not overdue."""
    from leadcli.config import load_settings
    from leadcli.services.context import Workspace
    from leadcli.services.pipeline import followups
    from leadcli.store import open_store

    store = open_store(store_uri)
    for email, when in (("morning@example.com", "2026-03-10T08:00"), ("afternoon@example.com", "2026-03-10T15:00"), ("tomorrow@example.com", "2026-03-11T08:00")):
        insert(store, lead_with_moves(email, follow_up_at=when))
    store.close()
    ws = Workspace(load_settings(db=store_uri, env={"LEADCLI_TIMEZONE": "UTC"}))
    now = at("2026-03-10T09:00")
    try:
        assert [x["email"] for x in followups(ws, "today", now=now)] == ["morning@example.com", "afternoon@example.com"]
        assert [x["email"] for x in followups(ws, "overdue", now=now)] == ["morning@example.com"]
        assert [x["email"] for x in followups(ws, "tomorrow", now=now)] == ["morning@example.com", "afternoon@example.com", "tomorrow@example.com"]
        assert [x["email"] for x in followups(ws, "2026-03-09", now=now)] == []
    finally:
        ws.close()


def test_followups_bad_due_is_exit_2(store_uri: str) -> None:
    result = invoke("--db", store_uri, "followups", "--due", "someday")
    assert (result.code, result.stdout) == (2, "")
    assert result.stderr.startswith("error: --due: cannot read 'someday'")


def days_ago(n: float) -> datetime:
    return (datetime.now(UTC) - timedelta(days=n)).replace(microsecond=0)


@pytest.fixture
def stale_store(store: Any) -> dict[str, dict[str, Any]]:
    """Five leads, two of them stale at 30 days; written with old timestamps, no sleeping."""
    leads = {
        "never": lead_with_moves("never@example.com", created=days_ago(60)),
        "cold": lead_with_moves("cold@example.com", moves=[("New Lead", days_ago(60)), ("Negotiation", days_ago(45))], last_contacted=days_ago(40), owner="ada"),
        "warm": lead_with_moves("warm@example.com", created=days_ago(60), last_contacted=days_ago(5), owner="ada"),
        "won": lead_with_moves("won@example.com", moves=[("New Lead", days_ago(90)), ("Closed Won", days_ago(80))]),
        "new": lead_with_moves("new@example.com", created=days_ago(2)),
    }
    for lead in leads.values():
        insert(store, lead)
    return leads


def test_stale_finds_open_leads_not_contacted_in_n_days(store_uri: str, stale_store: dict[str, Any]) -> None:
    assert sorted(emails(invoke("--db", store_uri, "stale", "--days", "30", "-o", "json"))) == ["cold@example.com", "never@example.com"]
    assert emails(invoke("--db", store_uri, "stale", "--days", "30", "--owner", "ada", "-o", "json")) == ["cold@example.com"]
    assert sorted(emails(invoke("--db", store_uri, "stale", "--days", "3", "-o", "json"))) == ["cold@example.com", "never@example.com", "warm@example.com"]
    assert emails(invoke("--db", store_uri, "stale", "--days", "100", "-o", "json")) == []


def test_stale_days_must_be_positive(store_uri: str) -> None:
    result = invoke("--db", store_uri, "stale", "--days", "0")
    assert (result.code, result.stderr) == (2, "error: --days: must be at least 1\n")


def stages_by_email(db: str) -> dict[str, str]:
    return {x["email"]: x["current_stage"] for x in invoke("--db", db, "list", "--all", "-o", "json").json()}


def test_cron_stale_move_needs_yes_then_moves_exactly_the_stale_leads(store_uri: str, stale_store: dict[str, Any]) -> None:
    before = stages_by_email(store_uri)

    refused = run_process("--db", store_uri, "stale", "--days", "30", "--move-to", "closed-lost")
    assert (refused.code, refused.stdout) == (2, "")
    assert refused.stderr == "error: refusing to move 2 stale lead(s) to Closed Lost without confirmation: pass --yes\n"
    assert stages_by_email(store_uri) == before

    done = run_process("--db", store_uri, "stale", "--days", "30", "--move-to", "closed-lost", "--yes", "-o", "json")
    assert done.code == 0, done.stderr
    assert sorted(x["email"] for x in done.json()) == ["cold@example.com", "never@example.com"]
    assert done.stderr == "moved 2 stale lead(s) to Closed Lost\n"
    assert stages_by_email(store_uri) == {
        **before, "cold@example.com": "Closed Lost", "never@example.com": "Closed Lost",
    }  # fmt: skip
    cold = invoke("--db", store_uri, "history", "cold@example.com", "-o", "json").json()
    assert [(h["from_stage"], h["to_stage"]) for h in cold] == [(None, "New Lead"), ("New Lead", "Negotiation"), ("Negotiation", "Closed Lost")]
    assert cold[-1]["notes"] == "stale: no contact for 30 days"

    again = run_process("--db", store_uri, "stale", "--days", "30", "--move-to", "closed-lost", "--yes", "-o", "json")
    assert (again.code, again.stdout) == (0, "[]\n")


def test_stale_move_counts_only_the_leads_it_moved(store_uri: str, stale_store: dict[str, Any]) -> None:
    """`never` is stale and already in New Lead: moving the stale leads to New Lead moves one
    (cold), and says so; it said 'moved 2'."""
    done = invoke("--db", store_uri, "stale", "--days", "30", "--move-to", "new-lead", "--yes", "-o", "json")
    assert done.code == 0, done.stderr
    assert done.stderr == "moved 1 stale lead(s) to New Lead\n"
    never = invoke("--db", store_uri, "history", "never@example.com", "-o", "json").json()
    assert [h["to_stage"] for h in never] == ["New Lead"]  # no second entry for a lead already there


def test_stale_move_asks_on_a_terminal(store_uri: str, stale_store: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    import leadcli.cli.pipeline

    monkeypatch.setattr(leadcli.cli.pipeline, "stdin_is_tty", lambda: True)
    before = stages_by_email(store_uri)

    declined = invoke("--db", store_uri, "stale", "--days", "30", "--move-to", "initial-contact", "-o", "ids", input="n\n")
    assert declined.code == 1
    assert "Move 2 stale lead(s) to Initial Contact?" in declined.stderr
    assert stages_by_email(store_uri) == before

    accepted = invoke("--db", store_uri, "stale", "--days", "30", "--move-to", "initial-contact", "-o", "ids", input="y\n")
    assert accepted.code == 0, accepted.stderr
    # CliRunner echoes the typed answer into stdout, as a terminal would show it.
    assert sorted(accepted.stdout.split()[1:]) == sorted([stale_store["never"]["id"], stale_store["cold"]["id"]])
    assert stages_by_email(store_uri)["never@example.com"] == "Initial Contact"


def test_stale_move_to_an_unknown_stage_is_exit_2(store_uri: str, stale_store: dict[str, Any]) -> None:
    result = invoke("--db", store_uri, "stale", "--days", "30", "--move-to", "lost", "--yes")
    assert result.code == 2
    assert "unknown stage 'lost'" in result.stderr


def test_followups_come_from_the_follow_up_index_in_order_with_ties_by_id(tmp_path) -> None:
    """SQLite walks its follow-up index (no sort of every due lead in memory, no scan of the
    leads without one), and two leads due at the same moment come in id order."""
    from leadcli.config import load_settings
    from leadcli.domain.query import LeadQuery
    from leadcli.services.context import Workspace
    from leadcli.services.pipeline import followups
    from leadcli.store.sqlite_query import _order, _where

    ws = Workspace(load_settings(db=str(tmp_path / "leads.db"), env={"LEADCLI_TIMEZONE": "UTC"}))
    try:
        same = [insert(ws.store, lead_with_moves(f"same{i}@example.com", follow_up_at="2026-03-02")) for i in range(3)]
        insert(ws.store, lead_with_moves("first@example.com", follow_up_at="2026-03-01"))
        insert(ws.store, lead_with_moves("none@example.com"))
        due = [x["email"] for x in followups(ws, "2026-03-05", now=at("2026-03-10"))]
        assert due == ["first@example.com", *(x["email"] for x in sorted(same, key=lambda x: x["id"]))]
        query = LeadQuery(follow_up_before=at("2026-03-05"), sort="follow_up_at", descending=False)
        where, params = _where(ws.store.db, query)
        plan = " | ".join(r[3] for r in ws.store.db.execute(f"EXPLAIN QUERY PLAN SELECT doc FROM leads{where} ORDER BY {_order(query, params)}", params))
        assert plan == "SEARCH leads USING INDEX leads_follow_up (follow_up_at<?)"
    finally:
        ws.store.close()


def test_limit_gives_the_first_n_in_order_and_a_terminal_the_total(store_uri: str, stale_store: dict[str, Any]) -> None:
    """--limit is asked of the store (the rest of a large store is never read, issue 15): the
    same first N, in order, as without it; a person at a terminal is told how many there were."""
    from test_terminal_day import TERMINAL

    every = emails(invoke("--db", store_uri, "stale", "--days", "3", "-o", "json"))
    assert len(every) == 3
    first = invoke("--db", store_uri, "stale", "--days", "3", "--limit", "2", "-o", "json")
    assert (emails(first), first.stderr) == (every[:2], "")
    assert emails(invoke("--db", store_uri, "stale", "--days", "3", "--limit", "3", "-o", "json")) == every
    told = invoke("--db", store_uri, "stale", "--days", "3", "--limit", "1", "-o", "json", env=TERMINAL)
    assert "showing the first 1 of 3 (--limit 1)" in told.stderr
    for n, email in enumerate(("a@example.com", "b@example.com", "c@example.com")):
        add(store_uri, email, "--follow-up", f"-{3 - n}d")
    assert emails(invoke("--db", store_uri, "followups", "--limit", "2", "-o", "json")) == ["a@example.com", "b@example.com"]
    told = invoke("--db", store_uri, "followups", "--limit", "2", "-o", "json", env=TERMINAL)
    assert "showing the first 2 of 3 (--limit 2)" in told.stderr
    assert invoke("--db", store_uri, "followups", "--limit", "0").code == 2


def test_a_stale_lead_deleted_while_the_move_is_confirmed_is_skipped_not_fatal(
    store_uri: str, stale_store: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A person answers the prompt while a colleague deletes one of the stale leads: the other
    stale leads are still moved (it was exit 3, `lead … no longer exists`, and the leads after
    the deleted one were left where they were)."""
    import leadcli.cli.pipeline

    def colleague_deletes_then_yes(_question: str) -> bool:
        gone = run_process("--db", store_uri, "delete", stale_store["never"]["id"], "--yes")
        assert gone.code == 0, gone.stderr
        return True

    monkeypatch.setattr(leadcli.cli.pipeline, "stdin_is_tty", lambda: True)
    monkeypatch.setattr(leadcli.cli.pipeline, "confirm", colleague_deletes_then_yes)
    result = invoke("--db", store_uri, "stale", "--days", "30", "--move-to", "closed-lost", "-o", "json")
    assert result.code == 0, result.stderr
    assert [x["email"] for x in result.json()] == ["cold@example.com"]
    assert "moved 1 stale lead(s) to Closed Lost" in result.stderr
    assert stages_by_email(store_uri)["cold@example.com"] == "Closed Lost"
