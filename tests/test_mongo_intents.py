"""A write's intent (MongoDB/FerretDB without transactions) is settled by another process only
once its writer is gone: a slow but live writer — here one whose event append takes seconds,
on another host as far as the settler can tell — keeps its lead and gets exactly one event."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from typing import Any

import pytest
from conftest import ROOT
from test_mongo_writes import check_log, db_of

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
