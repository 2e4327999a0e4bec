"""A handle a person can type: the last 10 characters of a lead's id, shown first in every lead
table at any width, accepted wherever a LEAD is, looked up by an index on both stores, and
working for documents the Leads Artisan backend created (no leadcli fields at all)."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import pymongo
import pytest
from bson import ObjectId
from conftest import invoke
from leadmaker import lead, seed
from test_leads_artisan import artisan_lead

from leadcli.domain.handle import handle_of

ANSI = re.compile(r"\x1b\[[0-9;]*m")
TERMINAL = {"LEADCLI_FORCE_TERMINAL": "1", "NO_COLOR": "1"}


def added(db: str, name: str, email: str, *args: str) -> dict:
    result = invoke("--db", db, "add", "--name", name, "--email", email, *args, "-o", "json")
    assert result.code == 0, result.stderr
    return result.json()


def test_every_lead_command_accepts_a_handle_and_a_prefix_of_one(store_uri: str) -> None:
    ada = added(store_uri, "Ada Lovelace", "ada@example.com")
    added(store_uri, "Grace Hopper", "grace@example.com")
    handle = handle_of(ada["id"])
    assert len(handle) == 10
    for ref in (handle, handle.upper(), handle[:6], f" {handle} "):
        shown = invoke("--db", store_uri, "show", ref, "-o", "json")
        assert (shown.code, shown.json()["id"]) == (0, ada["id"]), ref
    moved = invoke("--db", store_uri, "move", handle, "--to", "negotiation", "--note", "by handle", "-o", "json")
    assert moved.code == 0, moved.stderr
    assert moved.json()["stage_history"][-1]["notes"] == "by handle"
    assert invoke("--db", store_uri, "log", handle[:7], "--type", "call").code == 0
    assert invoke("--db", store_uri, "edit", handle, "--owner", "sam").code == 0
    assert invoke("--db", store_uri, "history", handle, "-o", "json").json()[-1]["to_stage"] == "Negotiation"
    piped = invoke("--db", store_uri, "list", "--fields", "handle", "-o", "csv").stdout.split()[1:]
    assert handle in piped
    assert invoke("--db", store_uri, "delete", "-", "--yes", input=handle + "\n").code == 0
    assert invoke("--db", store_uri, "count").stdout == "1\n"


def test_an_ambiguous_handle_lists_the_candidates(store_uri: str) -> None:
    # Two leads whose ids end alike (a collision the birthday bound makes rare, forced here).
    a, b = lead("Ada Lovelace", id="6b0f9780" + "11" * 3 + "abcdef0123"), lead("Alan Turing", id="6b0f9781" + "22" * 3 + "abcdef4567")
    seed(store_uri, [a, b])
    result = invoke("--db", store_uri, "show", "abcdef")
    assert (result.code, result.stdout) == (2, "")
    assert result.stderr == (
        f"error: abcdef matches 2 leads: abcdef0123 Ada Lovelace <{a['email']}>; abcdef4567 Alan Turing <{b['email']}>; "
        "type more characters of the handle\n"
    )
    assert invoke("--db", store_uri, "show", "abcdef45", "-o", "json").json()["id"] == b["id"]
    assert invoke("--db", store_uri, "show", "nothing1").code == 2  # not hex: a name, not a handle
    missing = invoke("--db", store_uri, "show", "fedcba")
    assert missing.code == 3 and "leadcli search fedcba" in missing.stderr


@pytest.mark.parametrize("width", [60, 80, 120])
@pytest.mark.parametrize("command", [("list",), ("search", "example"), ("followups", "--due", "week"), ("stale", "--days", "1")])
def test_the_handle_column_is_shown_at_every_width(tmp_path: Path, width: int, command: tuple[str, ...]) -> None:
    db = str(tmp_path / "leads.db")
    long_name = "Katherine Johnson with a rather long name"
    lead_ = lead(long_name, email="katherine.johnson@very-long-domain.example.com", company="NASA Langley Research Center",
                 owner="sam", value=8500, follow_up_at=lead("x")["created_at"], tags=["vip"])  # fmt: skip
    seed(db, [lead_])
    result = invoke("--db", db, *command, env={**TERMINAL, "COLUMNS": str(width)})
    assert result.code == 0, result.stderr
    plain = ANSI.sub("", result.stdout)
    assert max(len(line) for line in plain.splitlines()) <= width
    header = plain.splitlines()[1].split()
    assert header[0] == "handle", plain
    assert handle_of(lead_["id"]) in plain


def test_sqlite_looks_handles_up_by_an_index(tmp_path: Path) -> None:
    db = tmp_path / "leads.db"
    seed(str(db), [lead(f"Lead {n}") for n in range(3)])
    conn = sqlite3.connect(db)
    plan = conn.execute(
        "EXPLAIN QUERY PLAN SELECT doc FROM leads WHERE substr(id, 15) >= ? AND substr(id, 15) < ? ORDER BY substr(id, 15) LIMIT 6",
        ("abcd", "abcdg"),
    ).fetchall()
    conn.close()
    assert any("USING INDEX leads_handle" in row[-1] for row in plan), plan


@pytest.mark.mongo
def test_leads_artisan_documents_have_handles_and_get_them_stored(mongo_uri: str) -> None:
    client = pymongo.MongoClient(mongo_uri)
    raw = client.get_default_database().leads
    try:
        doc = artisan_lead("Grace Hopper", "grace@navy.mil")
        raw.insert_one(doc)
        handle = handle_of(str(doc["_id"]))
        shown = invoke("--db", mongo_uri, "show", handle, "-o", "json")
        assert (shown.code, shown.json()["email"]) == (0, "grace@navy.mil"), shown.stderr
        assert "handle" not in shown.json()  # derived, never part of the record

        # Where updates are atomic (real MongoDB), the lookup stores the handle for the index.
        from leadcli.store.mongo import MongoStore

        store = MongoStore(mongo_uri)
        store.write_lease = False
        try:
            assert [x["id"] for x in store.find_by_handle(handle[:5], limit=3)] == [str(doc["_id"])]
        finally:
            store.close()
        assert raw.find_one({"_id": doc["_id"]})["handle"] == handle
        # leadcli writes it with every lead it writes, and the index is there.
        other = added(mongo_uri, "Ada", "ada@example.com")
        assert raw.find_one({"_id": ObjectId(other["id"])})["handle"] == handle_of(other["id"])
        assert "handle_1" in {index["name"] for index in raw.list_indexes()}
    finally:
        client.close()


def test_stores_find_leads_by_a_handle_prefix_in_handle_order(store) -> None:  # type: ignore[no-untyped-def]
    first, second, other = (lead("A", id="6b0f9780" + "0" * 6 + "abc1000000"), lead("B", id="6a000000" + "f" * 6 + "abc2000000"),
                            lead("C", id="6b0f9780" + "0" * 6 + "fff0000000"))  # fmt: skip
    for record in (second, other, first):
        store.insert(record, {"type": "lead_created", "by": "t", "at": record["created_at"], "changes": {}})
    assert [x["id"] for x in store.find_by_handle("abc", limit=5)] == [first["id"], second["id"]]
    assert [x["id"] for x in store.find_by_handle("abc", limit=1)] == [first["id"]]
    assert [x["id"] for x in store.find_by_handle("abc2000000")] == [second["id"]]
    assert store.find_by_handle("abc3") == [] and store.find_by_handle("abc1000000f") == []
    assert "handle" not in store.get(first["id"])  # the record never carries it


def test_a_key_that_is_one_leads_handle_and_anothers_id_prefix_names_both(store_uri: str) -> None:
    """Handles and id prefixes are looked up together (on MongoDB in one query, issue 15): a key
    that starts one lead's id and another's handle is ambiguous, and each alone still resolves."""
    by_id = lead("Ada Lovelace", id="abcd12" + "0" * 8 + "9876543210")
    by_handle = lead("Alan Turing", id="6b0f9781" + "00" * 3 + "abcd125555")
    seed(store_uri, [by_id, by_handle])
    both = invoke("--db", store_uri, "show", "abcd12")
    assert both.code == 2 and "matches 2 leads" in both.stderr
    assert "Ada Lovelace" in both.stderr and "Alan Turing" in both.stderr
    assert invoke("--db", store_uri, "show", "abcd1200", "-o", "json").json()["id"] == by_id["id"]
    assert invoke("--db", store_uri, "show", "abcd1255", "-o", "json").json()["id"] == by_handle["id"]
    assert invoke("--db", store_uri, "show", "98765432", "-o", "json").json()["id"] == by_id["id"]  # its handle
    assert invoke("--db", store_uri, "show", "abcd13").code == 3
