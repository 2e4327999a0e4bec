"""Logging calls, emails, meetings and notes: the activity record, last_contacted, the event,
and `show` listing the recent ones."""

from __future__ import annotations

from typing import Any

from conftest import invoke


def add(db: str, email: str = "ada@example.com") -> dict[str, Any]:
    result = invoke("--db", db, "add", "--name", "Ada", "--email", email, "-o", "json")
    assert result.code == 0, result.stderr
    return result.json()


def log(db: str, *args: str) -> Any:
    return invoke("--db", db, "log", "ada@example.com", *args, "-o", "json")


def test_a_call_is_recorded_and_sets_last_contacted(store_uri: str, store: Any) -> None:
    lead = add(store_uri)

    result = log(store_uri, "--type", "call", "--note", "wants a demo", "--at", "2026-03-02T10:30:00+00:00")

    assert result.code == 0, result.stderr
    logged = result.json()
    assert logged["activities"] == [{"type": "call", "at": "2026-03-02T10:30:00.000+00:00", "by": "tester", "note": "wants a demo"}]
    assert logged["last_contacted"] == "2026-03-02T10:30:00.000+00:00"
    assert logged["version"] == lead["version"] + 1
    event = store.events_after(0)[-1]
    assert (event["type"], event["lead_id"], event["by"]) == ("activity_logged", lead["id"], "tester")
    assert event["changes"]["last_contacted"] == [None, "2026-03-02T10:30:00.000+00:00"]


def test_last_contacted_never_moves_backwards_and_notes_do_not_count(store_uri: str) -> None:
    add(store_uri)
    assert log(store_uri, "--type", "email", "--at", "2026-03-05T09:00:00Z").code == 0
    late = log(store_uri, "--type", "meeting", "--at", "2026-03-01T09:00:00Z").json()
    assert late["last_contacted"] == "2026-03-05T09:00:00.000+00:00"

    note = log(store_uri, "--type", "note", "--note", "prefers email").json()
    assert note["last_contacted"] == "2026-03-05T09:00:00.000+00:00"
    assert note["activities"][0]["type"] == "note"  # logged now: the newest, so first


def test_without_at_the_activity_happens_now(store_uri: str) -> None:
    lead = add(store_uri)
    logged = log(store_uri, "-t", "CALL").json()
    assert logged["activities"][0]["type"] == "call"
    assert logged["activities"][0]["at"] == logged["last_contacted"] == logged["updated_at"]
    assert logged["last_contacted"] >= lead["created_at"]


def test_show_lists_the_recent_activities_newest_first(store_uri: str) -> None:
    add(store_uri)
    # Logged out of order: show sorts by when they happened, not when they were typed in.
    for day in (3, 1, 25, 2, *range(4, 25)):
        assert log(store_uri, "--type", "note", "--note", f"day {day}", "--at", f"2026-03-{day:02d}T12:00:00Z").code == 0

    shown = invoke("--db", store_uri, "show", "ada@example.com", "-o", "json")

    assert shown.code == 0, shown.stderr
    lead = shown.json()
    assert list(lead)[:3] == ["id", "name", "email"] and list(lead)[-1] == "activities"
    assert [a["note"] for a in lead["activities"]] == [f"day {d}" for d in range(25, 5, -1)]


def test_show_of_a_lead_without_activities_has_an_empty_list(store_uri: str) -> None:
    add(store_uri)
    assert invoke("--db", store_uri, "show", "ada@example.com", "-o", "json").json()["activities"] == []


def test_bad_activity_input_is_refused_before_any_write(store_uri: str) -> None:
    lead = add(store_uri)

    kind = log(store_uri, "--type", "fax")
    assert kind.code == 2
    assert kind.stderr == "error: --type: unknown activity 'fax'; valid: call, email, meeting, note\n"

    when = log(store_uri, "--type", "call", "--at", "last tuesday")
    assert when.code == 2
    assert when.stderr.startswith("error: --at: cannot read 'last tuesday'")

    future = log(store_uri, "--type", "call", "--at", "+2d")
    assert future.code == 2
    assert "cannot be in the future" in future.stderr

    missing = invoke("--db", store_uri, "log", "nobody@example.com", "--type", "call")
    assert missing.code == 3

    after = invoke("--db", store_uri, "show", lead["id"], "-o", "json").json()
    assert (after["version"], after["activities"], after["last_contacted"]) == (lead["version"], [], None)
