"""On MongoDB/FerretDB (no transactions) a lead and its event are written together or not at
all, as far as a standalone server allows: many real `add` processes on a long event log all
succeed, each lead with exactly one event and no seq skipped; a write that reports failure
leaves nothing behind and its retry succeeds; a writer killed between the lead and its event
is settled by the next write; a killed import is completed by `import --upsert`."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pymongo
import pytest
from conftest import ROOT, invoke, run_process, run_workers

pytestmark = pytest.mark.mongo

# Runs leadcli with the store's event append replaced by `ACTION` (after the lead is written):
# "kill" = the process dies there (SIGKILL); "fail" = the server drops the connection there and
# cannot be reached for the clean-up either.
FAULTY = """
import os, signal, sys
import pymongo.errors
from leadcli.store import mongo
action = os.environ["ACTION"]
def broken(self, *args, **kwargs):
    if action == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    def unreachable(*a, **k):
        raise pymongo.errors.AutoReconnect("connection closed")
    self.leads.delete_one = unreachable
    self.events.find_one = unreachable
    self.intents.delete_one = unreachable
    raise pymongo.errors.AutoReconnect("connection closed")
mongo.MongoStore._append_record = broken
mongo.MongoStore._append_records = broken
from leadcli.cli import run
sys.exit(run(sys.argv[1:]))
"""


def db_of(uri: str) -> Any:
    client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(uri, tz_aware=True, serverSelectionTimeoutMS=5000)
    return client.get_default_database()


def seed_events(uri: str, n: int) -> None:
    """An event log of `n` events, as a busy team's store has (the leads they name are gone),
    with the seq hint leadcli keeps beside it."""
    db = db_of(uri)
    db.leadcli_meta.insert_one({"_id": "event_seq", "last": n})
    lead = {"name": "Old Lead", "email": "old@example.com"}
    for start in range(0, n, 2500):
        db.leadcli_events.insert_many(
            [
                {"_id": f"seq:{s}", "seq": s, "type": "lead_created", "by": "seed", "lead_id": f"{s:024x}", "lead": lead, "changes": "{}"}
                for s in range(start + 1, min(n, start + 2500) + 1)
            ]
        )
    db.leadcli_events.create_index("seq", unique=True, name="seq_1")
    db.client.close()


def check_log(uri: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Every stored lead has exactly one lead_created event, and seqs run 1..N without a gap."""
    db = db_of(uri)
    leads = {str(d["_id"]): d for d in db.leads.find({})}
    events = list(db.leadcli_events.find({}, {"seq": 1, "type": 1, "lead_id": 1}))
    db.client.close()
    seqs = sorted(e["seq"] for e in events)
    assert seqs == list(range(1, len(seqs) + 1))
    created = [e["lead_id"] for e in events if e["type"] == "lead_created"]
    for lead_id in leads:
        assert created.count(lead_id) == 1, f"lead {lead_id} has {created.count(lead_id)} lead_created events"
    return leads, events


def faulty(uri: str, action: str, *args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "LEADCLI_DB": uri, "ACTION": action}
    return subprocess.run([sys.executable, "-c", FAULTY, *args], input=input, capture_output=True, text=True, env=env, timeout=120)


def test_sixteen_parallel_add_processes_on_a_10k_event_log_all_land_with_their_events(mongo_uri: str) -> None:
    seed_events(mongo_uri, 10_000)
    writers, each = 16, 3
    commands = [
        [["add", "--name", f"Writer {w} lead {i}", "--email", f"w{w}-{i}@example.com", "-o", "ids"] for i in range(each)]
        for w in range(writers)
    ]
    results = run_workers(commands, {"LEADCLI_DB": mongo_uri})
    for result in results:
        assert result.returncode == 0, result.stderr
        assert len(result.stdout.split()) == each
    leads, events = check_log(mongo_uri)
    printed = {lead_id for r in results for lead_id in r.stdout.split()}
    assert set(leads) == printed and len(leads) == writers * each
    assert len(events) == 10_000 + writers * each
    assert invoke("--db", mongo_uri, "doctor", "-o", "json").json()["events"] == 10_000 + writers * each


def test_racing_adds_of_one_email_on_a_brand_new_database_are_one_success_and_conflicts(mongo_uri: str) -> None:
    # A brand-new database: the racers also race to create the indexes (FerretDB used to drop
    # the connection of one of them: exit 5 instead of 4).
    results = run_workers([[["add", "--name", "Ada", "--email", "ada@example.com", "-o", "ids"]]] * 6, {"LEADCLI_DB": mongo_uri})
    codes = sorted(r.returncode for r in results)
    assert codes == [0] + [4] * 5, [r.stderr for r in results]
    for result in results:
        if result.returncode == 4:
            assert result.stderr.startswith("error: a lead with email ada@example.com already exists"), result.stderr
    leads, _ = check_log(mongo_uri)
    assert len(leads) == 1


def test_an_add_whose_event_fails_leaves_nothing_and_its_retry_succeeds(mongo_uri: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from leadcli.store import mongo

    real = mongo.MongoStore._append_record
    calls = {"n": 0}

    def drops_once(self: Any, *args: Any, **kwargs: Any) -> int:
        calls["n"] += 1
        if calls["n"] == 1:
            raise pymongo.errors.AutoReconnect("connection closed")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(mongo.MongoStore, "_append_record", drops_once)
    failed = invoke("--db", mongo_uri, "add", "--name", "Ada", "--email", "ada@example.com")
    assert failed.code == 5 and failed.stderr.startswith("error:") and failed.stdout == ""
    assert invoke("--db", mongo_uri, "count").stdout == "0\n"  # nothing left behind

    retried = invoke("--db", mongo_uri, "add", "--name", "Ada", "--email", "ada@example.com", "-o", "ids")
    assert retried.code == 0, retried.stderr
    leads, events = check_log(mongo_uri)
    assert list(leads) == [retried.stdout.strip()] and len(events) == 1
    assert db_of(mongo_uri).leadcli_intents.count_documents({}) == 0


def test_an_add_that_fails_and_cannot_clean_up_is_rolled_back_by_its_retry(mongo_uri: str) -> None:
    invoke("--db", mongo_uri, "add", "--name", "First", "--email", "first@example.com")
    failed = faulty(mongo_uri, "fail", "add", "--name", "Ada", "--email", "ada@example.com")
    assert failed.returncode == 5 and failed.stderr.startswith("error:"), failed.stderr
    assert db_of(mongo_uri).leads.count_documents({"email": "ada@example.com"}) == 1  # the server kept it, unannounced

    retried = run_process("--db", mongo_uri, "add", "--name", "Ada L", "--email", "ada@example.com", "-o", "json")
    assert retried.code == 0, retried.stderr
    assert retried.json()["name"] == "Ada L"
    leads, events = check_log(mongo_uri)
    assert len(leads) == 2 and len(events) == 2
    assert db_of(mongo_uri).leadcli_intents.count_documents({}) == 0


def test_a_writer_killed_between_the_lead_and_its_event_is_settled_by_the_next_write(mongo_uri: str) -> None:
    lead = invoke("--db", mongo_uri, "add", "--name", "Ada", "--email", "ada@example.com", "-o", "json").json()
    killed_add = faulty(mongo_uri, "kill", "add", "--name", "Bob", "--email", "bob@example.com")
    assert killed_add.returncode == -signal.SIGKILL
    db = db_of(mongo_uri)
    assert db.leads.count_documents({"email": "bob@example.com"}) == 1 and db.leadcli_intents.count_documents({}) == 1

    # The next write (here one that dies too) first settles the dead add: a creation nobody
    # heard of is undone, so a retried add will not find its email taken.
    killed_edit = faulty(mongo_uri, "kill", "edit", lead["id"], "--company", "Engines")
    assert killed_edit.returncode == -signal.SIGKILL
    assert db.leads.count_documents({"email": "bob@example.com"}) == 0 and db.leadcli_intents.count_documents({}) == 1

    # And the next one completes the dead edit: its event is appended.
    assert invoke("--db", mongo_uri, "add", "--name", "Cy", "--email", "cy@example.com").code == 0
    leads, events = check_log(mongo_uri)
    assert sorted(d["email"] for d in leads.values()) == ["ada@example.com", "cy@example.com"]
    updated = [e for e in events if e["type"] == "lead_updated"]
    assert [e["lead_id"] for e in updated] == [lead["id"]]
    # The edit, retried, finds nothing left to do; the add, retried, succeeds.
    again = invoke("--db", mongo_uri, "edit", lead["id"], "--company", "Engines", "-o", "json")
    assert again.code == 0 and again.json()["version"] == 2
    assert invoke("--db", mongo_uri, "add", "--name", "Bob", "--email", "bob@example.com").code == 0
    assert db_of(mongo_uri).leadcli_intents.count_documents({}) == 0
    check_log(mongo_uri)


# `leadcli import` in batches of 500 rows that dies (SIGKILL) after writing its second batch's
# leads, before their events.
KILLED_IMPORT = """
import os, signal, sys
from leadcli.services import importer
from leadcli.store import mongo
init = importer.Importer.__init__
def small_batches(self, *args, **kwargs):
    kwargs["batch_size"] = 500
    init(self, *args, **kwargs)
importer.Importer.__init__ = small_batches
real, calls = mongo.MongoStore._append_records, []
def dies_second(self, *args, **kwargs):
    calls.append(1)
    if len(calls) == 2:
        os.kill(os.getpid(), signal.SIGKILL)
    return real(self, *args, **kwargs)
mongo.MongoStore._append_records = dies_second
from leadcli.cli import run
sys.exit(run(sys.argv[1:]))
"""


def write_rows(path: Path, n: int) -> None:
    lines = ["Name,Email,Company"] + [f"Lead {i},lead{i}@example.com,Company {i % 97}" for i in range(n)]
    path.write_text("\n".join(lines) + "\n")


def test_an_import_killed_after_writing_a_batch_is_completed_by_upsert(mongo_uri: str, tmp_path: Path) -> None:
    rows = tmp_path / "rows.csv"
    write_rows(rows, 1500)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "LEADCLI_DB": mongo_uri}
    script = KILLED_IMPORT
    killed = subprocess.run([sys.executable, "-c", script, "import", str(rows)], capture_output=True, text=True, env=env, timeout=300)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    stored = db_of(mongo_uri).leads.count_documents({})
    assert 500 < stored < 1500  # two batches of leads in, the second without its events

    completed = run_process("--db", mongo_uri, "import", str(rows), "--upsert", timeout=300)
    assert completed.code == 0, completed.stderr
    leads, events = check_log(mongo_uri)
    assert len(leads) == 1500 and len(events) == 1500


@pytest.mark.slow
def test_an_import_sigkilled_at_an_arbitrary_moment_is_completed_by_upsert(mongo_uri: str, tmp_path: Path) -> None:
    """The by-hand 200k run (bench/bench_mongo_killed_import.py) at a size CI affords: a real
    `leadcli import` process killed while it writes, wherever it happens to be."""
    rows = tmp_path / "rows.csv"
    n = 6_000
    write_rows(rows, n)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "LEADCLI_DB": mongo_uri}
    proc = subprocess.Popen([sys.executable, "-m", "leadcli", "import", str(rows)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    db = db_of(mongo_uri)
    deadline = time.monotonic() + 300
    while db.leadcli_intents.count_documents({}) == 0 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)  # until the first batch is being written
    time.sleep(0.3)
    proc.kill()
    proc.communicate()
    assert proc.returncode == -signal.SIGKILL, "the import finished before it could be killed; raise n"
    assert db.leads.count_documents({}) < n

    completed = run_process("--db", mongo_uri, "import", str(rows), "--upsert", timeout=600)
    assert completed.code == 0, completed.stderr
    leads, events = check_log(mongo_uri)
    assert len(leads) == n and len(events) == n
    assert db.leadcli_intents.count_documents({}) == 0
