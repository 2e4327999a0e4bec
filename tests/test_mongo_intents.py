"""A write's intent (MongoDB/FerretDB without transactions) is settled by another process only
once its writer is gone: a slow but live writer — here one whose event append takes seconds,
on another host as far as the settler can tell — keeps its lead and gets exactly one event."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT, invoke
from test_mongo_writes import check_log, db_of, write_rows

pytestmark = pytest.mark.mongo

# leadcli with intents counted stale after 2 s (not 60), as a writer on another host; DELAY
# seconds are spent inside the event append (a slow server) before it goes through.
PATCHED = """
import os, sys, time
from leadcli.store import mongo
mongo.INTENT_STALE_SECONDS = 2.0
mongo.HOST = os.environ["FAKE_HOST"]
delay = float(os.environ.get("DELAY", "0"))
real = mongo.MongoStore._append_record
def slow(self, record, op, session=None):
    if op is not None and delay:
        time.sleep(delay)
    return real(self, record, op, session=session)
mongo.MongoStore._append_record = slow
from leadcli.cli import run
sys.exit(run(sys.argv[1:]))
"""


def patched(uri: str, host: str, delay: float, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "LEADCLI_DB": uri, "FAKE_HOST": host, "DELAY": str(delay)}
    return subprocess.Popen([sys.executable, "-c", PATCHED, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def test_a_slow_live_writer_keeps_its_lead_when_another_process_writes_meanwhile(mongo_uri: str) -> None:
    db: Any = db_of(mongo_uri)
    slow = patched(mongo_uri, "host-a", 7.0, "add", "--name", "Slow", "--email", "slow@example.com", "-o", "ids")
    deadline = time.monotonic() + 60
    while db.leads.count_documents({"email": "slow@example.com"}) == 0 and time.monotonic() < deadline:
        time.sleep(0.1)  # the slow add's lead is in; its event is on its way
    time.sleep(3.0)  # older than the stale age: only a sign of life says its writer is there
    other = patched(mongo_uri, "host-b", 0.0, "add", "--name", "Other", "--email", "other@example.com", "-o", "ids")
    out, err = other.communicate(timeout=60)
    assert other.returncode == 0, err
    slow_out, slow_err = slow.communicate(timeout=60)
    assert slow.returncode == 0, slow_err
    leads, events = check_log(mongo_uri)
    assert set(leads) == {out.strip(), slow_out.strip()} and len(events) == 2
    assert db.leadcli_intents.count_documents({}) == 0


def test_an_import_whose_steps_are_each_slow_but_in_time_completes(mongo_uri: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Beside 4 editors a 5k-row import on FerretDB exited 5 ("timed out ... timeoutMS:
    250000") with all its leads written: its batch's deadline covered the whole batch, and
    the event append, slowed by the editors taking seqs, ran past it. Each request has its
    own deadline now: a server slow at every step makes the import slower, not exit 5. Here
    the budget is 2 s and each step of the batch takes 1.5 s."""
    from leadcli.store import mongo

    monkeypatch.setattr(mongo, "BULK_SECONDS_MIN", 2.0)
    monkeypatch.setattr(mongo, "BULK_SECONDS_PER_LEAD", 0.001)
    for name in ("_insert_many", "_append_records"):
        real = getattr(mongo.MongoStore, name)

        def slow(self: Any, *args: Any, _real: Any = real, **kwargs: Any) -> Any:
            time.sleep(1.5)
            return _real(self, *args, **kwargs)

        monkeypatch.setattr(mongo.MongoStore, name, slow)
    rows = tmp_path / "rows.csv"
    write_rows(rows, 200)
    result = invoke("--db", mongo_uri, "import", str(rows))
    assert result.code == 0, result.stderr
    leads, events = check_log(mongo_uri)
    assert len(leads) == 200 and len(events) == 200
    assert db_of(mongo_uri).leadcli_intents.count_documents({}) == 0
