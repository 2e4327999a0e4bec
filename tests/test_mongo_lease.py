"""The per-lead write lease that keeps compare-and-set sound on FerretDB v1 (whose updates are a
read then a write): one holder at a time, released only by its owner, and a dead holder's
lease taken over — by exactly one waiter — once it is stale. Against the MongoDB-wire server."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pymongo
import pytest
from conftest import ROOT
from leadmaker import event, make_lead

from leadcli.domain.dates import now_utc
from leadcli.domain.errors import Conflict, VersionConflict
from leadcli.store import open_store
from leadcli.store.mongo_lease import WriteLeases

pytestmark = pytest.mark.mongo


@pytest.fixture
def clients(mongo_uri: str) -> Iterator[list[pymongo.MongoClient]]:
    opened: list[pymongo.MongoClient] = []
    yield opened
    for client in opened:
        client.close()


@pytest.fixture
def locks(mongo_uri: str, clients: list[pymongo.MongoClient]) -> pymongo.collection.Collection:
    clients.append(pymongo.MongoClient(mongo_uri, tz_aware=True, serverSelectionTimeoutMS=5000))
    return clients[-1].get_default_database()["leadcli_locks"]


@pytest.fixture
def leases(mongo_uri: str, clients: list[pymongo.MongoClient]) -> Callable[..., WriteLeases]:
    def make(**options: float) -> WriteLeases:
        """A lease manager on its own connection, as another leadcli process would have."""
        clients.append(pymongo.MongoClient(mongo_uri, tz_aware=True, serverSelectionTimeoutMS=5000))
        return WriteLeases(clients[-1].get_default_database()["leadcli_locks"], **options)

    return make


def test_a_held_lease_makes_others_wait_then_give_up_and_its_release_lets_them_in(leases, locks) -> None:  # type: ignore[no-untyped-def]
    holder, other = leases(), leases(wait=0.3)
    lease = holder.acquire("lead-1")

    with pytest.raises(Conflict, match="lead lead-1 is being written by another leadcli"):
        other.acquire("lead-1")
    assert other.acquire("lead-2").lead == "lead-2"  # leases are per lead

    holder.release(lease)
    assert locks.count_documents({"lead": "lead-1"}) == 0
    assert other.acquire("lead-1").token != lease.token


def test_racers_for_a_free_lead_get_exactly_one_lease(leases) -> None:  # type: ignore[no-untyped-def]
    racers = [leases(wait=0.5) for _ in range(6)]
    for racer in racers:
        racer.ensure_index()
    winners, losers = race_for_lead_1(racers)
    assert (len(winners), len(losers)) == (1, len(racers) - 1)


def test_only_the_owner_releases_its_lease(leases, locks) -> None:  # type: ignore[no-untyped-def]
    first, second = leases(seconds=0.3), leases()
    stale = first.acquire("lead-1")
    time.sleep(0.4)  # first's holder stalls past its lease…
    taken = second.acquire("lead-1")  # …so second takes it over
    assert taken.token != stale.token

    first.release(stale)  # the stalled holder comes back and releases "its" lease

    assert [doc["_id"] for doc in locks.find({"lead": "lead-1"})] == [taken.token]
    with pytest.raises(VersionConflict, match="paused too long"):
        stale.check()  # and it would refuse to write, too
    second.release(taken)
    assert locks.count_documents({}) == 0


def test_a_killed_holder_blocks_its_lead_only_until_the_lease_expires(mongo_uri: str, leases, locks) -> None:  # type: ignore[no-untyped-def]
    script = (
        "import sys, time, pymongo\n"
        "from leadcli.store.mongo_lease import WriteLeases\n"
        "client = pymongo.MongoClient(sys.argv[1], tz_aware=True)\n"
        "WriteLeases(client.get_default_database()['leadcli_locks'], seconds=1.0).acquire('lead-1')\n"
        "print('held', flush=True)\n"
        "time.sleep(60)\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", script, mongo_uri],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline() == "held\n"
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    dead = locks.find_one({"lead": "lead-1"})
    assert dead is not None  # the killed process could not release it

    taken = leases(wait=5.0).acquire("lead-1")

    assert taken.token != dead["_id"]
    assert now_utc() >= dead["expires"]  # taken only once the dead holder's lease had expired
    assert [doc["_id"] for doc in locks.find({"lead": "lead-1"})] == [taken.token]


def test_a_dead_holder_whose_clock_ran_ahead_is_taken_over_after_one_lease_of_watching(leases, locks) -> None:  # type: ignore[no-untyped-def]
    waiter = leases(seconds=0.5, wait=3.0)
    waiter.ensure_index()
    locks.insert_one({"_id": "dead", "lead": "lead-1", "expires": now_utc() + timedelta(hours=1), "holder": "elsewhere:1"})

    started = time.monotonic()
    taken = waiter.acquire("lead-1")

    assert time.monotonic() - started >= 0.5  # watched the same lease for a whole lease length
    assert [doc["_id"] for doc in locks.find({"lead": "lead-1"})] == [taken.token]


def test_racers_taking_over_a_stale_lease_get_exactly_one(leases, locks) -> None:  # type: ignore[no-untyped-def]
    racers = [leases(wait=0.5) for _ in range(6)]
    racers[0].ensure_index()
    locks.insert_one({"_id": "dead", "lead": "lead-1", "expires": now_utc() - timedelta(seconds=1), "holder": "gone:1"})
    winners, losers = race_for_lead_1(racers)
    assert (len(winners), len(losers)) == (1, len(racers) - 1)
    assert [doc["_id"] for doc in locks.find({"lead": "lead-1"})] == [winners[0].token]


def test_store_edits_and_deletes_go_through_the_lead_lease(mongo_uri: str, leases, locks) -> None:  # type: ignore[no-untyped-def]
    store = open_store(mongo_uri)
    store.write_lease = True  # what FerretDB gets; forced so a real MongoDB runs this path too
    store._leases = WriteLeases(store.db["leadcli_locks"], wait=0.3)
    lead = store.insert(make_lead(value=1.0), event())
    blocker = leases()
    held = blocker.acquire(lead["id"])
    seq = store.last_seq()

    with pytest.raises(Conflict, match="being written by another leadcli") as edit:
        store.replace({**lead, "value": 2.0}, 1, event("lead_updated"))
    with pytest.raises(Conflict, match="being written by another leadcli") as delete:
        store.delete(lead, event("lead_deleted"))

    # Exit 4 and not a VersionConflict, which services would retry for another wait.
    assert not isinstance(edit.value, VersionConflict) and not isinstance(delete.value, VersionConflict)
    assert store.get(lead["id"])["version"] == 1 and store.last_seq() == seq
    blocker.release(held)
    written = store.replace({**lead, "value": 2.0}, 1, event("lead_updated"))
    assert store.get(lead["id"])["value"] == 2.0
    store.delete(written, event("lead_deleted"))
    assert store.get(lead["id"]) is None
    assert locks.count_documents({}) == 0  # every write released its lease
    store.close()


def test_only_ferretdb_writes_take_leases_and_doctor_says_so(mongo_uri: str, locks) -> None:  # type: ignore[no-untyped-def]
    store = open_store(mongo_uri)
    ferretdb = "FerretDB" in str(store.describe()["server_version"])
    assert store.describe()["write_lease"] is ferretdb
    lead = store.insert(make_lead(), event())
    store.replace({**lead, "value": 3.0}, 1, event("lead_updated"))
    assert store.write_lease is ferretdb
    assert ("leadcli_locks" in locks.database.list_collection_names()) is ferretdb
    store.close()


def race_for_lead_1(racers: list[WriteLeases]) -> tuple[list[Any], list[WriteLeases]]:
    """All racers try to acquire lead-1 at the same moment; winners keep their lease (never
    released, so every other racer must lose). Returns (leases won, racers that lost)."""
    start, winners, losers = threading.Barrier(len(racers)), [], []

    def race(racer: WriteLeases) -> None:
        start.wait()
        try:
            winners.append(racer.acquire("lead-1"))
        except Conflict:
            losers.append(racer)

    threads = [threading.Thread(target=race, args=(r,)) for r in racers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return winners, losers
