"""Tailing events: none skipped, none repeated, in seq order — including seqs that become
visible late (MongoDB without change streams), and a change stream that breaks or is
invalidated (tested with a fake stream: no replica set can run here)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from leadcli.domain.errors import StoreUnavailable
from leadcli.domain.matching import matches
from leadcli.domain.query import LeadQuery
from leadcli.live.feed import follow_tail
from leadcli.live.tail import ChangeStreamTail, GapBuffer, SeqTail


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def ev(seq: int) -> dict[str, Any]:
    return {"seq": seq, "type": "lead_updated", "lead_id": f"{seq:024x}", "lead": {"id": f"{seq:024x}"}}


def seqs(events: list[dict[str, Any]]) -> list[int]:
    return [e["seq"] for e in events]


def test_gap_buffer_waits_for_a_late_seq_and_keeps_order() -> None:
    clock = Clock()
    buffer = GapBuffer(0, grace=2.0, clock=clock)
    buffer.add([ev(1), ev(3), ev(4)])
    assert seqs(buffer.release()) == [1]  # 2 is missing: 3 and 4 wait
    clock.now += 1.0
    buffer.add([ev(2), ev(3)])  # 2 shows up late; 3 again is not a repeat
    assert seqs(buffer.release()) == [2, 3, 4]
    assert buffer.position == 4


def test_gap_buffer_gives_up_on_a_seq_that_never_comes_after_the_grace() -> None:
    clock = Clock()
    buffer = GapBuffer(0, grace=2.0, clock=clock)
    buffer.add([ev(1), ev(3), ev(5)])
    assert seqs(buffer.release()) == [1]
    clock.now += 1.9
    assert buffer.release() == []
    clock.now += 0.2
    # Both holes were seen at the same time, so both are given up together, not one grace each.
    assert seqs(buffer.release()) == [3, 5]
    buffer.add([ev(2), ev(4)])  # too late: already given up, never printed out of order
    assert buffer.release() == []


def test_seq_tail_does_not_skip_an_event_whose_seq_became_visible_late() -> None:
    clock = Clock()
    visible = {1, 2}
    committed = {n: ev(n) for n in range(1, 7)}

    def fetch(after: int, limit: int) -> list[dict[str, Any]]:
        return [committed[n] for n in sorted(visible) if n > after][:limit]

    tail = SeqTail(fetch, 0, interval=0.001, grace=2.0, clock=clock)
    out = tail.poll(0.01)
    visible |= {4, 5}  # writer of 3 has its seq but has not committed yet
    out += tail.poll(0.01)
    assert seqs(out) == [1, 2]
    clock.now += 1.0
    visible |= {3, 6}
    out += tail.poll(0.01)
    assert seqs(out) == [1, 2, 3, 4, 5, 6]
    assert tail.position == 6


class FakeStream:
    """Stands in for pymongo's ChangeStream: a script of changes, then errors or None."""

    def __init__(self, script: list[Any], kwargs: dict[str, Any]) -> None:
        self.script = list(script)
        self.kwargs = kwargs
        self.resume_token: Any = kwargs.get("resume_after") or kwargs.get("start_after")
        self.closed = False

    def try_next(self) -> dict[str, Any] | None:
        if not self.script:
            return None
        item = self.script.pop(0)
        if isinstance(item, Exception):
            raise item
        self.resume_token = item["_id"]
        return item

    def close(self) -> None:
        self.closed = True


class BrokenStream(Exception):
    pass


def insert(seq: int) -> dict[str, Any]:
    return {"_id": {"token": seq}, "operationType": "insert", "fullDocument": {"seq": seq}}


def test_change_stream_tail_resumes_with_its_token_and_restarts_after_an_invalidate() -> None:
    scripts = [
        [insert(2), insert(4), insert(3), BrokenStream("primary stepped down")],
        [insert(5), {"_id": {"token": "inv"}, "operationType": "invalidate"}],
        [insert(6)],
    ]
    opened: list[FakeStream] = []

    def open_stream(**kwargs: Any) -> FakeStream:
        stream = FakeStream(scripts[len(opened)], kwargs)
        opened.append(stream)
        return stream

    history = {1: ev(1), 2: ev(2)}

    def fetch(after: int, limit: int) -> list[dict[str, Any]]:
        return [history[n] for n in sorted(history) if n > after][:limit]

    tail = ChangeStreamTail(open_stream, lambda doc: ev(doc["seq"]), fetch, 0, errors=(BrokenStream,), grace=5.0)
    out: list[dict[str, Any]] = []
    with pytest.raises(StoreUnavailable):
        for _ in range(10):
            out += tail.poll(0.01)
    # Caught up from the store (1, 2), then the stream; 4 before 3 is put back in order.
    assert seqs(out) == [1, 2, 3, 4]
    assert tail.resume_token == {"token": 3}
    for _ in range(10):
        out += tail.poll(0.01)
    assert seqs(out) == [1, 2, 3, 4, 5, 6]
    assert opened[0].kwargs == {}
    assert opened[1].kwargs == {"resume_after": {"token": 3}}  # the stored token, reused
    assert opened[2].kwargs == {"start_after": {"token": "inv"}}  # after an invalidate
    assert opened[0].closed and opened[1].closed and not opened[2].closed


class FlakyTail:
    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.position = 0

    def poll(self, timeout: float) -> list[dict[str, Any]]:
        if self.failures:
            self.failures -= 1
            raise StoreUnavailable("database is locked")
        self.position += 1
        return [ev(self.position)]

    def close(self) -> None:
        pass


def test_follow_rides_out_a_short_outage() -> None:
    events = follow_tail(FlakyTail(failures=2), budget=5.0)
    assert [next(events)["seq"] for _ in range(3)] == [1, 2, 3]


def test_follow_gives_up_with_store_unavailable_when_the_outage_lasts() -> None:
    with pytest.raises(StoreUnavailable, match="stayed unreachable"):
        next(follow_tail(FlakyTail(failures=10**6), budget=0.3))


# -- the pure matcher agrees with the SQLite store ----------------------------------------

BASE = datetime(2026, 1, 1, tzinfo=UTC)
WORDS = ["ada", "Ada", "ACME", "acme corp", "b_c", "50%", "o'brien", "Zoë", None]


def _leads() -> list[dict[str, Any]]:
    from leadcli.domain.lead import new_id

    leads = []
    stages = ["New Lead", "Initial Contact", "Closed Won", None]
    for i in range(24):
        at = BASE + timedelta(days=i)
        leads.append(
            {
                "id": new_id(), "name": f"{WORDS[i % 8]} {i}", "email": f"p{i}@{'acme' if i % 3 else 'ex'}.com",
                "company": WORDS[(i * 5) % 9], "phone": None, "status": ["Engaged", "Not Engaged", "hot"][i % 3],
                "engaged": i % 3 == 0, "current_stage": stages[i % 4], "stage_updated_at": at,
                "owner": ["Ada", "bob", None][i % 3], "source": ["web", "Fair", None][i % 3],
                "tags": [["vip"], ["vip", "eu"], [], ["eu"]][i % 4], "value": float(i * 100),
                "notes": WORDS[(i * 7) % 9], "follow_up_at": at + timedelta(days=3) if i % 2 else None,
                "last_contacted": at + timedelta(days=1) if i % 3 == 1 else None,
                "created_at": at, "updated_at": at, "stage_history": [], "fields": {}, "version": 1,
            }
        )  # fmt: skip
    return leads


DATES = st.sampled_from([None, BASE + timedelta(days=5), BASE + timedelta(days=11, hours=1), BASE + timedelta(days=30)])
TEXT = st.sampled_from([None, "a", "ac", "acme", "ADA", "_", "%", "o'b", "Zo", "ë", "corp"])
QUERIES = st.builds(
    LeadQuery,
    stages=st.sampled_from([(), ("New Lead",), ("Initial Contact", "Closed Won")]),
    status=st.sampled_from([None, "engaged", "HOT"]),
    engaged=st.sampled_from([None, True, False]),
    owner=st.sampled_from([None, "ada", "Bob"]),
    source=st.sampled_from([None, "WEB", "fair"]),
    tags=st.sampled_from([(), ("vip",), ("vip", "eu")]),
    company=TEXT,
    search=TEXT,
    created_after=DATES,
    created_before=DATES,
    contacted_before=DATES,
    follow_up_before=DATES,
    exclude_stages=st.sampled_from([(), ("Closed Won",)]),
    idle_since=DATES,
)


@pytest.fixture(scope="module")
def filled_store(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    from leadcli.store.sqlite import SqliteStore

    store = SqliteStore(tmp_path_factory.mktemp("match") / "leads.db")
    for lead in _leads():
        store.insert(lead, {"type": "lead_created", "by": "t", "changes": {}})
    yield store
    store.close()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(query=QUERIES)
def test_matcher_agrees_with_the_sqlite_store(filled_store, query: LeadQuery) -> None:  # type: ignore[no-untyped-def]
    from leadcli.domain.lead import to_jsonable

    expected = {lead["id"] for lead in filled_store.query(query)}
    everyone = list(filled_store.query(LeadQuery()))
    assert {lead["id"] for lead in everyone if matches(lead, query)} == expected
    # Events carry the lead as JSON (ISO strings): same answers.
    assert {lead["id"] for lead in everyone if matches(to_jsonable(lead), query)} == expected


class ProbedLog:
    """An event log where a range read is costly (FerretDB scans every event for it) and a
    look-up of one seq is cheap; counts the range reads."""

    def __init__(self) -> None:
        self.visible: dict[int, dict[str, Any]] = {}
        self.keyed: set[int] = set()  # seqs findable by key (written by this leadcli)
        self.range_reads = 0

    def write(self, seq: int, keyed: bool = True) -> None:
        self.visible[seq] = ev(seq)
        if keyed:
            self.keyed.add(seq)

    def fetch(self, after: int, limit: int) -> list[dict[str, Any]]:
        self.range_reads += 1
        return [self.visible[n] for n in sorted(self.visible) if n > after][:limit]

    def event_at(self, seq: int) -> dict[str, Any] | None:
        return self.visible[seq] if seq in self.keyed else None


def test_seq_tail_with_a_lookup_reads_the_range_only_at_start_after_a_burst_or_now_and_then() -> None:
    clock, log = Clock(), ProbedLog()
    log.write(1)
    tail = SeqTail(log.fetch, 0, lookup=log.event_at, interval=0.001, full_every=3.0, clock=clock)
    assert seqs(tail.poll(0.01)) == [1]
    reads = log.range_reads
    for _ in range(20):  # idle polls: one cheap look-up each, no range read
        assert tail.poll(0.002) == []
    log.write(2)
    log.write(3)
    assert seqs(tail.poll(0.01)) == [2, 3]
    assert log.range_reads == reads  # found by looking them up
    for n in range(4, 40):  # an import
        log.write(n)
    out: list[dict[str, Any]] = []
    while len(out) < 36:
        out += tail.poll(0.01)
    assert seqs(out) == list(range(4, 40)) and log.range_reads == reads + 1


def test_seq_tail_with_a_lookup_still_sees_events_it_cannot_look_up_and_late_seqs() -> None:
    # An older leadcli on a teammate's machine writes events without the key: the periodic
    # full read still brings them. And a seq visible late is still waited for, not skipped.
    clock, log = Clock(), ProbedLog()
    tail = SeqTail(log.fetch, 0, lookup=log.event_at, interval=0.001, grace=2.0, full_every=3.0, clock=clock)
    assert tail.poll(0.002) == []
    log.write(1, keyed=False)
    assert tail.poll(0.002) == []
    clock.now += 3.0
    assert seqs(tail.poll(0.01)) == [1]
    log.write(3)
    clock.now += 3.0
    assert tail.poll(0.002) == []  # 3 is held: 2 is not visible yet
    clock.now += 1.0
    log.write(2)
    log.write(4)
    assert seqs(tail.poll(0.01)) == [2, 3, 4]
    assert tail.position == 4


def test_live_code_reaches_stores_only_through_the_port() -> None:
    """Issue 16: no pymongo/sqlite3 outside store/, no `hasattr(store, …)`, no store opened by the CLI."""
    from conftest import ROOT

    for path in [*(ROOT / "leadcli" / "live").glob("*.py"), ROOT / "leadcli" / "cli" / "live.py"]:
        code = "\n".join(line for line in path.read_text().splitlines() if not line.lstrip().startswith("#"))
        for banned in ("import pymongo", "from pymongo", "import sqlite3", "hasattr(", ".events.watch(", "import describe_uri, open_store", "import open_store"):
            if "open_store" in banned and path.name == "watch.py":
                continue  # store_opener: the one place live/ opens a store, for serve's threads
            assert banned not in code, f"{path.name} uses {banned}"


class ListTail:
    """An own-event tail fed by the test."""

    def __init__(self) -> None:
        self.position = 0
        self.ready: list[dict[str, Any]] = []

    def poll(self, timeout: float) -> list[dict[str, Any]]:
        out, self.ready = self.ready, []
        if out:
            self.position = out[-1]["seq"]
        return out

    def close(self) -> None:
        pass


class ListSource:
    describe = "test"

    def __init__(self) -> None:
        self.ready: list[Any] = []

    def read(self) -> list[Any]:
        out, self.ready = self.ready, []
        return out

    def close(self) -> None:
        pass


def test_foreign_merge_drops_own_writes_even_when_their_event_comes_late_and_keeps_foreign_ones() -> None:
    from leadcli.store.tail import ForeignChange, ForeignMerge

    now = [0.0]
    own, source = ListTail(), ListSource()
    merge = ForeignMerge(own, source, every=0.0, grace=2.0, clock=lambda: now[0])
    t1, t2 = datetime(2026, 12, 1, 10, tzinfo=UTC), datetime(2026, 12, 1, 10, 1, tzinfo=UTC)
    mine = {"id": "a" * 24, "version": 1, "updated_at": t1, "name": "Ada"}
    source.ready = [ForeignChange("insert", mine["id"], mine, t1)]  # seen before its event
    assert merge.poll(0) == []  # held: its event may be on its way
    now[0] += 1.0
    own.ready = [{"seq": 1, "type": "lead_created", "lead_id": mine["id"], "lead": mine, "by": "ada"}]
    assert [e["seq"] for e in merge.poll(0)] == [1]  # once, as leadcli's
    theirs = {**mine, "updated_at": t2, "name": "Ada L."}  # same version, new updated_at: the web app
    web = {"id": "b" * 24, "updated_at": t2, "name": "Web"}  # no version: never leadcli's
    source.ready = [ForeignChange("update", mine["id"], theirs, t2), ForeignChange("insert", web["id"], web, t2)]
    got = merge.poll(0)
    assert [(e["type"], e["seq"], e["by"]) for e in got] == [("lead_updated", None, "(outside leadcli)"), ("lead_created", None, "(outside leadcli)")]
    assert got[0]["changes"] == {"name": ["Ada", "Ada L."]}
    lost = {"id": "c" * 24, "version": 3, "updated_at": t2}  # versioned, and no event ever comes
    source.ready = [ForeignChange("update", lost["id"], lost, t2), ForeignChange("delete", web["id"], None, t2)]
    assert [e["type"] for e in merge.poll(0)] == ["lead_deleted"]  # never leadcli's: at once
    now[0] += 2.5
    assert [e["lead_id"] for e in merge.poll(0)] == [lost["id"]]  # after the grace


def test_the_change_stream_on_leads_turns_changes_into_foreign_changes() -> None:
    """A replica set's change stream on `leads` (scripted): inserts, updates with the document as
    it now is, deletes; leadcli filling in a handle is not a change; the resume token is kept."""
    from contextlib import nullcontext

    from bson import ObjectId

    from leadcli.store.mongo_changes import LeadsChangeStream

    oid = ObjectId()
    doc = {"_id": oid, "name": "Web", "email": "w@example.com", "updated_at": datetime(2026, 12, 1, 10)}
    script = [
        {"_id": {"t": 1}, "operationType": "insert", "documentKey": {"_id": oid}, "fullDocument": doc},
        {"_id": {"t": 2}, "operationType": "update", "documentKey": {"_id": oid}, "fullDocument": {**doc, "name": "Web 2"},
         "updateDescription": {"updatedFields": {"name": "Web 2", "updated_at": doc["updated_at"]}, "removedFields": []}},
        {"_id": {"t": 3}, "operationType": "update", "documentKey": {"_id": oid}, "fullDocument": doc,
         "updateDescription": {"updatedFields": {"handle": "abc"}, "removedFields": []}},
        {"_id": {"t": 4}, "operationType": "delete", "documentKey": {"_id": oid}},
    ]  # fmt: skip
    opened: list[dict[str, Any]] = []

    class Stream:
        def __init__(self) -> None:
            self.left = list(script)
            self.resume_token: Any = None

        def try_next(self) -> Any:
            if not self.left:
                return None
            change = self.left.pop(0)
            self.resume_token = change["_id"]
            return change

        def close(self) -> None:
            pass

    class Leads:
        def watch(self, **options: Any) -> Stream:
            opened.append(options)
            return Stream()

    class Store:
        leads = Leads()

        def _errors(self) -> Any:
            return nullcontext()

    source = LeadsChangeStream(Store())  # type: ignore[arg-type]
    changes = source.read()
    assert [(c.op, c.lead_id, c.lead and c.lead["name"]) for c in changes] == [
        ("insert", str(oid), "Web"), ("update", str(oid), "Web 2"), ("delete", str(oid), None),
    ]  # fmt: skip
    assert changes[0].lead["updated_at"].tzinfo is not None  # type: ignore[index]  # naive BSON dates are UTC
    assert opened[0]["full_document"] == "updateLookup" and source.token == {"t": 4}


def test_a_broken_change_stream_reports_its_error_without_the_uri_password() -> None:
    class Broken:
        def try_next(self) -> None:
            raise BrokenStream("authentication failed for ada:s3cr3t@pw at db1")

        resume_token = None

        def close(self) -> None:
            pass

    tail = ChangeStreamTail(lambda **_: Broken(), lambda doc: ev(doc["seq"]), lambda after, limit: [], 0,
                            errors=(BrokenStream,), scrub=lambda text: text.replace("s3cr3t@pw", "***"))  # fmt: skip

    with pytest.raises(StoreUnavailable) as raised:
        tail.poll(0.01)

    assert "s3cr3t" not in str(raised.value) and "ada:***" in str(raised.value)
