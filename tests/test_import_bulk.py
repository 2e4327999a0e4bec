"""A large import on SQLite sets the secondary indexes and the search index aside while it
loads and builds them once at its end (`SqliteStore.bulk_load`, BULK_DEFER_MIN_ROWS). What a
user sees afterwards must not depend on that: search, tags, stats, follow-ups and doctor answer
exactly as after the row-by-row path, and an import killed while the indexes are set aside
leaves a store that the next command finds complete. The thresholds are lowered here so a file
of a few thousand rows takes the deferred path."""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT, invoke, run_process, wait_for_leads

from leadcli.domain.dates import now_utc
from leadcli.domain.errors import StoreUnavailable
from leadcli.domain.lead import from_jsonable
from leadcli.services.importer import Importer
from leadcli.store import sqlite as sqlite_store

FIRST = ["Ada", "Grace", "Émile", "Zoë", "Jürgen", "Søren", "Łukasz", "Priya", "Mei", "José"]
LAST = ["Müller", "Hopper", "Lovelace", "Dvořák", "O'Brien", "Nguyễn", "Smith", "Ødegaard"]
COMPANIES = ["Acme", "Société Générale", "100% Growth_Co", "Initech", None]
TAGS = ["vip", "renewal", "partner", "cold", "q3 push"]
STAGES = ["New Lead", "Initial Contact", "Meeting Scheduled", "Proposal Sent", "Closed Won", "Closed Lost"]


def _records(n: int, start: int = 0) -> list[dict[str, Any]]:
    """n leads as `export -o jsonl` writes them: ids, timestamps and histories given, so two
    stores importing them hold the same documents."""
    rnd = random.Random(start)
    out = []
    for i in range(start, start + n):
        moves = rnd.randint(1, 3)
        stages = sorted(rnd.sample(range(len(STAGES)), moves))
        created = f"2024-{1 + i % 12:02d}-{1 + i % 28:02d}T09:00:00.000+00:00"
        history = [
            {"from_stage": STAGES[stages[k - 1]] if k else None, "to_stage": STAGES[s],
             "changed_at": f"2025-{1 + k * 3:02d}-{1 + i % 28:02d}T10:00:00.000+00:00" if k else created, "by": "seed", "notes": None}
            for k, s in enumerate(stages)
        ]  # fmt: skip
        out.append({
            "id": f"6650{i:020x}", "name": f"{rnd.choice(FIRST)} {rnd.choice(LAST)} {i}",
            "email": f"lead{i}@example.com", "company": rnd.choice(COMPANIES),
            "engaged": rnd.random() < 0.3, "current_stage": history[-1]["to_stage"],
            "stage_updated_at": history[-1]["changed_at"], "owner": rnd.choice(["ada", "linus", None]),
            "source": rnd.choice(["web", "referral"]), "tags": rnd.sample(TAGS, rnd.randint(0, 3)),
            "value": rnd.choice([None, 1500.0, 25000.0]), "notes": rnd.choice([None, "naïve café", "budget 5%", "call back"]),
            "follow_up_at": rnd.choice([None, "2026-03-01T09:00:00.000+00:00", "2025-06-01T09:00:00.000+00:00"]),
            "last_contacted": None, "created_at": created, "updated_at": created, "stage_history": history,
            "fields": {}, "version": 1, "activities": [],
        })  # fmt: skip
    return out


def _write(path: Path, records: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def _derived(db: Path) -> dict[str, Any]:
    """What the store keeps beside the leads, as rows: the search index, tags, stays, indexes."""
    with sqlite3.connect(db) as conn:
        return {
            "search": conn.execute("SELECT rowid, name, email, company, notes FROM leads_search ORDER BY rowid").fetchall(),
            "tags": conn.execute("SELECT tag, pk FROM lead_tags ORDER BY tag, pk").fetchall(),
            "stays": conn.execute("SELECT * FROM lead_stays ORDER BY pk, stage").fetchall(),
            "schema": conn.execute("SELECT type, name, sql FROM sqlite_master ORDER BY name").fetchall(),
        }


def _answers(db: Path) -> dict[str, Any]:
    """What a user asks after an import, as the CLI answers (stats without its clock-bound days)."""
    answers: dict[str, Any] = {}
    for label, args in {
        "muller": ["search", "muller", "--all"], "zo": ["search", "zo", "--all"], "5%": ["search", "5%", "--all"],
        "vip": ["list", "--tag", "vip", "--all"], "q3": ["list", "--tag", "q3 push", "--stage", "closed-won", "--all"],
        "followups": ["followups", "--due", "2025-12-31"], "page": ["list", "--sort", "company", "--page", "3"],
        "owner": ["list", "--owner", "ada", "--sort", "value"], "stages": ["stages"],
    }.items():  # fmt: skip
        result = invoke("--db", str(db), *args, "-o", "json")
        assert result.code == 0, (label, result.stderr)
        answers[label] = [_timeless(row) for row in result.json()]
    stats = invoke("--db", str(db), "stats", "-o", "json").json()
    for row in stats["stages"]:
        row.pop("avg_days")
    answers["stats"] = stats
    doctor = invoke("--db", str(db), "doctor", "-o", "json")
    answers["doctor"] = (doctor.code, doctor.json()["problems"])
    return answers


def _timeless(row: dict[str, Any]) -> dict[str, Any]:
    """A lead as listed, without the moment the import wrote it (the two imports ran apart)."""
    return {key: value for key, value in row.items() if key != "updated_at"}


def defer_early(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Lower the deferral thresholds and the batch size; records the `since_pk` of each
    deferred load as it finishes (to prove the path was taken)."""
    monkeypatch.setattr(sqlite_store, "BULK_DEFER_MIN_ROWS", 500)
    monkeypatch.setattr(Importer.__init__, "__kwdefaults__", {**Importer.__init__.__kwdefaults__, "batch_size": 250})
    finished: list[int] = []
    real = sqlite_store.SqliteStore._finish_bulk_load

    def spy(self: sqlite_store.SqliteStore, bulk: Any = None) -> list[str]:
        if bulk is not None:
            finished.append(bulk.since_pk)
        return real(self, bulk)

    monkeypatch.setattr(sqlite_store.SqliteStore, "_finish_bulk_load", spy)
    return finished


def test_a_deferred_bulk_import_leaves_search_tags_stays_and_stats_as_the_row_by_row_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    existing = _write(tmp_path / "existing.jsonl", _records(100))
    big = _write(tmp_path / "big.jsonl", _records(1200, start=100))
    fresh = _records(600, start=1300)
    renamed = [{**r, "name": r["name"] + " Zyxwv", "tags": ["renamed"], "notes": "moved on"} for r in fresh[:20]]
    more = "".join(json.dumps(r) + "\n" for r in [*fresh, *renamed])  # the last 20 update leads of the same load

    row_by_row = tmp_path / "rows.db"
    for args, stdin in ((["import", str(existing)], None), (["import", str(big)], None), (["import", "-", "--upsert"], more)):
        result = invoke("--db", str(row_by_row), *args, input=stdin)
        assert result.code == 0, result.stderr

    finished = defer_early(monkeypatch)
    bulk = tmp_path / "bulk.db"
    assert invoke("--db", str(bulk), "import", str(existing)).code == 0
    assert finished == []  # 100 rows: below the (lowered) line, written row by row
    result = invoke("--db", str(bulk), "import", str(big))
    assert (result.code, result.stderr) == (0, "import: 1200 inserted, 0 updated, 0 unchanged, 0 rejected\n")
    assert finished == [100]  # the file's size announced 1200 rows: deferred from its first batch
    result = invoke("--db", str(bulk), "import", "-", "--upsert", input=more)
    assert (result.code, result.stderr) == (0, "import: 600 inserted, 20 updated, 0 unchanged, 0 rejected\n")
    assert finished == [100, 1550]  # a pipe: no size to tell; deferred from the batch that reached 500 rows (the 2nd)

    assert _derived(bulk) == _derived(row_by_row)
    assert _answers(bulk) == _answers(row_by_row)
    again = invoke("--db", str(bulk), "import", str(big), "--upsert")
    assert (again.code, again.stderr) == (0, "import: 0 inserted, 0 updated, 1200 unchanged, 0 rejected\n")
    assert finished == [100, 1550]  # nothing to insert: the indexes stay (no rebuild of the store)
    found = invoke("--db", str(bulk), "search", "zyxwv", "--all", "-o", "json").json()
    assert sorted(lead["email"] for lead in found) == sorted(r["email"] for r in renamed)
    assert invoke("--db", str(bulk), "search", "moved on", "-o", "ids", "--all").stdout.count("\n") == 20


def _big_csv(path: Path, rows: int) -> Path:
    with open(path, "w", encoding="utf-8") as f:
        f.write("Name,Email,Stage,Company,Tags\n")
        for i in range(rows):
            f.write(f"Lead {i} Müller,lead{i}@example.com,{'Initial Contact' if i % 3 else 'New Lead'},Co {i % 50},\"t{i % 7}, all\"\n")
    return path


# The CLI in a process of its own, with the deferral line and the batch lowered as above.
LOWERED = (
    "import sys; import leadcli.store.sqlite as s; s.BULK_DEFER_MIN_ROWS = 2000;"
    "from leadcli.services.importer import Importer as I;"
    "I.__init__.__kwdefaults__ = {**I.__init__.__kwdefaults__, 'batch_size': 500};"
    "from leadcli.cli import main; sys.argv[0] = 'leadcli'; main()"
)


def _start_big_import(tmp_path: Path, rows: int) -> tuple[Path, Path, subprocess.Popen[bytes]]:
    """A CSV of `rows` leads being imported by another process (with the lowered thresholds)
    into a new store: the file, the store and the process."""
    data, db = _big_csv(tmp_path / "big.csv", rows), tmp_path / "leads.db"
    proc = subprocess.Popen([sys.executable, "-c", LOWERED, "--db", str(db), "import", str(data)],
                            env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    return data, db, proc


def test_an_import_killed_while_its_indexes_are_set_aside_leaves_a_store_that_answers_correctly(tmp_path: Path) -> None:
    rows = 40_000
    data, db, proc = _start_big_import(tmp_path, rows)
    try:
        wait_for_leads(db, proc, at_least=3000, timeout=120)
        # Another process opening the store meanwhile leaves the running load alone.
        sqlite_store.SqliteStore(db).close()
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait()
    with sqlite3.connect(db) as peek:
        partial = peek.execute("SELECT count(*) FROM leads").fetchone()[0]
        searchable = peek.execute("SELECT count(*) FROM leads_search").fetchone()[0]
        left = peek.execute("SELECT count(*) FROM sqlite_master WHERE name = ?", (sqlite_store.BULK_TABLE,)).fetchone()[0]
        indexes = peek.execute("SELECT count(*) FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL").fetchone()[0]
    assert 3000 <= partial < rows, "the import should have been killed midway"
    assert (left, indexes, searchable) == (1, 0, 0), "killed while its indexes were set aside"

    found = run_process("--db", str(db), "search", "lead 1234 mül", "-o", "json")

    assert found.code == 0, found.stderr
    assert [lead["email"] for lead in found.json()] == ["lead1234@example.com"]
    tagged = run_process("--db", str(db), "count", "--tag", "t3")
    assert (tagged.code, tagged.stdout) == (0, f"{sum(1 for i in range(partial) if i % 7 == 3)}\n")
    doctor = run_process("--db", str(db), "doctor", "-o", "json")
    assert (doctor.code, doctor.json()["problems"]) == (0, [])
    with sqlite3.connect(db) as check:
        assert check.execute("SELECT count(*) FROM leads_search").fetchone()[0] == partial
        assert check.execute("SELECT count(*) FROM sqlite_master WHERE name = ?", (sqlite_store.BULK_TABLE,)).fetchone()[0] == 0

    finished = run_process("--db", str(db), "import", str(data), "--upsert")

    assert finished.code == 0, finished.stderr
    assert f"import: {rows - partial} inserted, 0 updated, {partial} unchanged, 0 rejected" in finished.stderr
    found = run_process("--db", str(db), "search", "lead 39999 mül", "-o", "json")
    assert [lead["email"] for lead in found.json()] == ["lead39999@example.com"]
    with sqlite3.connect(db) as check:
        assert check.execute("SELECT count(*) FROM leads_search").fetchone()[0] == rows


def test_an_import_killed_after_doctor_fix_finished_its_load_leaves_every_lead_searchable(tmp_path: Path) -> None:
    """`doctor --fix` during a deferred import rebuilds the indexes and the search index and
    forgets the load; the import goes on. Killed after that, its later leads must still be found:
    nothing is left on record that they were set aside."""
    rows = 40_000
    data, db, proc = _start_big_import(tmp_path, rows)
    try:
        wait_for_leads(db, proc, at_least=3000, timeout=120)
        fixed = run_process("--db", str(db), "doctor", "--fix")
        assert fixed.code in (0, 1), fixed.stderr
        with sqlite3.connect(db) as peek:
            after_fix = peek.execute("SELECT count(*) FROM leads").fetchone()[0]
        wait_for_leads(db, proc, at_least=after_fix + 3000, timeout=120)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait()
    with sqlite3.connect(db) as peek:
        partial = peek.execute("SELECT count(*) FROM leads").fetchone()[0]
    assert after_fix + 3000 <= partial < rows, "the import should have been killed midway, after the fix"

    last = partial - 1  # the CSV's rows go in in order: the last lead written
    found = run_process("--db", str(db), "search", f"lead {last} mül", "-o", "json")

    assert found.code == 0, found.stderr
    assert [lead["email"] for lead in found.json()] == [f"lead{last}@example.com"]
    with sqlite3.connect(db) as check:
        assert check.execute("SELECT count(*) FROM leads_search").fetchone()[0] == partial


def test_an_import_that_fails_midway_reports_its_own_error_when_catching_up_fails_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A deferred import stopped by a store error (a full disk, say) catches up at its end; when
    that fails too (the store locked), the user must read why the import stopped; what it set
    aside stays on record for the next open (or `doctor --fix`, as here: the test is the owner)."""
    big = _write(tmp_path / "big.jsonl", _records(1200))
    defer_early(monkeypatch)
    real_write, real_finish = sqlite_store.SqliteStore.write_batch, sqlite_store.SqliteStore._finish_bulk_load
    batches: list[int] = []

    def write_batch(self: sqlite_store.SqliteStore, inserts: Any, updates: Any) -> Any:
        batches.append(len(inserts))
        if len(batches) == 3:
            raise StoreUnavailable("cannot write the store: the disk is full")
        return real_write(self, inserts, updates)

    def finish(self: sqlite_store.SqliteStore, bulk: Any = None) -> Any:
        if bulk is not None:
            raise sqlite3.OperationalError("database is locked")
        return real_finish(self, bulk)

    monkeypatch.setattr(sqlite_store.SqliteStore, "write_batch", write_batch)
    monkeypatch.setattr(sqlite_store.SqliteStore, "_finish_bulk_load", finish)
    db = tmp_path / "leads.db"

    result = invoke("--db", str(db), "import", str(big))

    assert result.code == 5
    assert "the disk is full" in result.stderr
    assert "locked" not in result.stderr
    monkeypatch.setattr(sqlite_store.SqliteStore, "_finish_bulk_load", real_finish)
    assert invoke("--db", str(db), "doctor", "--fix").code == 0
    found = invoke("--db", str(db), "search", "lead250@", "-o", "json")  # written by the 2nd batch, set aside
    assert [lead["email"] for lead in found.json()] == ["lead250@example.com"]


def test_a_daily_upsert_of_a_whole_export_with_a_few_new_leads_keeps_the_indexes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A CRM's whole export, imported again each day with --upsert: most rows unchanged, a few
    new. Those few are far under the line, so the store must not set its indexes aside and
    rebuild them for the whole store (at 1M leads ~30 s each day), wherever in the file they are."""
    finished = defer_early(monkeypatch)
    db = tmp_path / "leads.db"
    known = _records(2000)
    assert invoke("--db", str(db), "import", str(_write(tmp_path / "first.jsonl", known))).code == 0
    assert finished == [0]  # 2000 rows into an empty store: deferred
    daily = _write(tmp_path / "daily.jsonl", [*known[:1000], *_records(100, start=5000), *known[1000:]])

    result = invoke("--db", str(db), "import", str(daily), "--upsert")

    assert (result.code, result.stderr) == (0, "import: 100 inserted, 0 updated, 2000 unchanged, 0 rejected\n")
    assert finished == [0], "100 new leads into 2000: under the line, written row by row"
    found = invoke("--db", str(db), "search", "lead5099@", "-o", "json")
    assert [lead["email"] for lead in found.json()] == ["lead5099@example.com"]


def test_leads_a_load_writes_after_the_newest_leads_were_deleted_still_reach_search(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """While a large import sets its leads aside, another process deletes the store's newest
    leads (the import's own so far among them): SQLite then gives the import's next leads row
    ids from below where it began setting leads aside. They must reach the search index too."""
    monkeypatch.setattr(sqlite_store, "BULK_DEFER_MIN_ROWS", 100)
    db = tmp_path / "leads.db"
    store = sqlite_store.SqliteStore(db)

    def write(records: list[dict[str, Any]]) -> None:
        created = [(from_jsonable(r), {"type": "lead_created", "by": "test", "at": now_utc(), "changes": {}}) for r in records]
        assert store.write_batch(created, []) == [None] * len(records)

    write(_records(200))
    with store.bulk_load(lambda: 1000):
        write(_records(100, start=200))  # deferred: leads 201-300 set aside
        with sqlite3.connect(db) as other:
            other.execute("DELETE FROM leads WHERE pk > 150")
        write(_records(50, start=400))  # row ids 151-200, below where the load began
    store.close()

    found = invoke("--db", str(db), "search", "lead420@", "-o", "json")

    assert [lead["email"] for lead in found.json()] == ["lead420@example.com"]
    with sqlite3.connect(db) as check:
        assert check.execute("SELECT count(*) FROM leads_search").fetchone()[0] == 200
