"""The replica-set paths of the MongoDB store — change streams and transactions — driven through
real pymongo against a scripted MongoDB wire server (mockupdb, MongoDB's own test server) that
answers as a one-member replica set does. FerretDB has neither, so this is where they run:

- `watch` on a replica set follows a change stream; the resume token it keeps is what it
  resumes with after the cursor is lost (pymongo's own resume, and leadcli's after an error
  pymongo gives up on), and after an `invalidate` the next stream starts with `startAfter`.
  Either way nothing is lost and nothing repeated.
- a write and its event share one transaction; when another writer takes the event's seq the
  transaction is aborted (the lead's insert with it) and redone with the next seq.

The server keeps collections in memory and understands just the commands and filters leadcli
sends; the change stream's batches are scripted per test.
"""

from __future__ import annotations

import datetime
import json
import threading
from collections.abc import Callable, Iterator
from typing import Any

import mockupdb
import pytest
from bson import ObjectId, Timestamp
from conftest import invoke

DB = "team"
EVENTS = "leadcli_events"


def _matches(doc: dict[str, Any], filt: dict[str, Any]) -> bool:
    for key, want in filt.items():
        have = doc.get(key)
        if isinstance(want, dict) and want and all(k.startswith("$") for k in want):
            for op, arg in want.items():
                if op == "$gt" and not (have is not None and have > arg):
                    return False
                if op == "$in" and have not in arg:
                    return False
                if op not in ("$gt", "$in"):
                    raise AssertionError(f"the scripted server does not know {op}")
        elif have != want:
            return False
    return True


class ReplicaSet:
    """A one-member replica set `rs0` on a free port. `changes` is the script of the change
    stream: each `aggregate` with `$changeStream` and each `getMore` on its cursor takes the next
    item — a list of change documents (a batch) or an int (an error code to answer with)."""

    def __init__(self) -> None:
        self.server = mockupdb.MockupDB(max_wire_version=17, min_wire_version=0, auto_ismaster=False)
        self.port = self.server.run()
        self.address = f"localhost:{self.port}"
        self.uri = f"mongodb://{self.address}/{DB}?serverSelectionTimeoutMS=5000"
        self.data: dict[str, list[dict[str, Any]]] = {}
        self.commands: list[tuple[str, dict[str, Any]]] = []
        self.changes: list[list[dict[str, Any]] | int] = []
        self.failing_commits = 0  # how many commits to answer with a TransientTransactionError
        self.batch_tokens: list[Any] = []  # each batch's postBatchResumeToken (or error code)
        self.open_transactions: dict[Any, list[tuple[str, dict[str, Any]]]] = {}
        self.on_insert: Callable[[str, dict[str, Any], bool], int | None] = lambda _c, _d, _t: None
        self.lock = threading.Lock()
        self.server.autoresponds(self._answer)

    # -- the wire ------------------------------------------------------------------------------

    def hello(self) -> dict[str, Any]:
        return {
            "ok": 1, "isWritablePrimary": True, "ismaster": True, "helloOk": True, "setName": "rs0",
            "hosts": [self.address], "me": self.address, "primary": self.address, "setVersion": 1,
            "electionId": ObjectId("7fffffff0000000000000001"), "maxWireVersion": 17, "minWireVersion": 0,
            "logicalSessionTimeoutMinutes": 30, "maxBsonObjectSize": 16 * 1024 * 1024,
            "maxMessageSizeBytes": 48_000_000, "maxWriteBatchSize": 100_000,
            "lastWrite": {"lastWriteDate": datetime.datetime.now(datetime.UTC), "opTime": {"ts": Timestamp(1, 1), "t": 1}},
        }  # fmt: skip

    def _answer(self, request: Any) -> bool:
        doc = dict(request.doc)
        name = next(iter(doc))
        with self.lock:
            if name.lower() not in ("hello", "ismaster"):
                self.commands.append((name, doc))
            reply = self._command(name, doc)
        if isinstance(reply, int):
            request.reply({"ok": 0, "errmsg": f"scripted error {reply}", "code": reply})
        else:
            request.reply(reply)
        return True

    def _command(self, name: str, doc: dict[str, Any]) -> dict[str, Any] | int:
        if name.lower() in ("hello", "ismaster"):
            return self.hello()
        if name == "buildInfo" or name == "buildinfo":
            return {"ok": 1, "version": "7.0.0", "versionArray": [7, 0, 0, 0]}
        if name in ("ping", "endSessions", "killCursors", "createIndexes"):
            return {"ok": 1}
        if name == "listIndexes":
            return {"ok": 1, "cursor": {"id": 0, "ns": f"{DB}.{doc[name]}", "firstBatch": []}}
        txn = (json.dumps(str(doc.get("lsid"))), doc.get("txnNumber")) if doc.get("autocommit") is False else None
        if name == "commitTransaction":
            if self.failing_commits:  # e.g. a primary stepped down: the transaction is gone
                self.failing_commits -= 1
                self.open_transactions.pop(txn, None)
                return {"ok": 0, "code": 251, "codeName": "NoSuchTransaction", "errmsg": "scripted", "errorLabels": ["TransientTransactionError"]}
            for collection, record in self.open_transactions.pop(txn, []):
                self.data.setdefault(collection, []).append(record)
            return {"ok": 1}
        if name == "abortTransaction":
            self.open_transactions.pop(txn, None)
            return {"ok": 1}
        if name == "insert":
            collection = doc[name]
            for record in doc["documents"]:
                code = self.on_insert(collection, record, txn is not None)
                if code is not None:
                    return {"ok": 1, "n": 0, "writeErrors": [{"index": 0, "code": code, "errmsg": "E11000 duplicate key error"}]}
                if txn is not None:
                    self.open_transactions.setdefault(txn, []).append((collection, record))
                else:
                    self.data.setdefault(collection, []).append(record)
            return {"ok": 1, "n": len(doc["documents"])}
        if name == "find":
            collection = doc[name]
            visible = self.data.get(collection, []) + [r for c, r in self.open_transactions.get(txn, []) if c == collection]
            found = [r for r in visible if _matches(r, doc.get("filter") or {})]
            for key, direction in reversed(list((doc.get("sort") or {}).items())):
                found.sort(key=lambda r, k=key: r.get(k), reverse=direction < 0)
            if doc.get("limit"):
                found = found[: abs(doc["limit"])]
            return {"ok": 1, "cursor": {"id": 0, "ns": f"{DB}.{collection}", "firstBatch": found}}
        if name == "update":  # leadcli's small bookkeeping documents (the setup marker, the seq hint)
            rows = self.data.setdefault(doc[name], [])
            n = 0
            for spec in doc["updates"]:
                found = [r for r in rows if _matches(r, spec["q"])]
                if not found and spec.get("upsert"):
                    found = [dict(spec["q"])]
                    rows.append(found[0])
                for row in found:
                    row.update(spec["u"].get("$set", {}))
                    for key, value in spec["u"].get("$max", {}).items():
                        row[key] = max(row.get(key, value), value)
                n += len(found)
            return {"ok": 1, "n": n, "nModified": n}
        if name == "aggregate" and doc["pipeline"] and "$changeStream" in doc["pipeline"][0]:
            return self._stream_batch("firstBatch")
        if name == "getMore":
            return self._stream_batch("nextBatch")
        raise AssertionError(f"the scripted server does not know {name}: {doc}")

    def _stream_batch(self, key: str) -> dict[str, Any] | int:
        step = self.changes.pop(0) if self.changes else []
        if isinstance(step, int):
            self.batch_tokens.append(step)
            return step
        # A quiet batch still moves the resume point on, as a replica set's does.
        token = step[-1]["_id"] if step else {"_data": f"quiet-{len(self.batch_tokens)}"}
        self.batch_tokens.append(token)
        for change in step:  # what the stream reports is in the collection too
            if change["operationType"] == "insert" and change["fullDocument"] not in self.data.setdefault(EVENTS, []):
                self.data[EVENTS].append(change["fullDocument"])
        invalidated = any(c["operationType"] == "invalidate" for c in step)
        cursor = {"id": 0 if invalidated else 4242, "ns": f"{DB}.{EVENTS}", key: step, "postBatchResumeToken": token}
        return {"ok": 1, "cursor": cursor}

    # -- what tests read -----------------------------------------------------------------------

    def sent(self, name: str) -> list[dict[str, Any]]:
        with self.lock:
            return [doc for n, doc in self.commands if n == name]

    def stream_opens(self) -> list[dict[str, Any]]:
        return [doc["pipeline"][0]["$changeStream"] for doc in self.sent("aggregate") if "$changeStream" in doc["pipeline"][0]]

    def close(self) -> None:
        self.server.stop()


@pytest.fixture
def replica_set(monkeypatch: pytest.MonkeyPatch) -> Iterator[ReplicaSet]:
    monkeypatch.setenv("LEADCLI_WEB_APP_COMPATIBLE", "false")  # no web app shares it (as mongo_uri)
    opened = ReplicaSet()
    try:
        yield opened
    finally:
        opened.close()


def event_document(seq: int, email: str) -> dict[str, Any]:
    """An event as leadcli stores it in MongoDB (what a teammate's leadcli wrote)."""
    at = datetime.datetime(2026, 12, 1, 9, 0, seq, tzinfo=datetime.UTC)
    oid = ObjectId()
    lead = {"_id": oid, "name": email.split("@")[0].title(), "email": email, "current_stage": "New Lead", "status": "Not Engaged",
            "engaged": False, "tags": [], "version": 1, "created_at": at, "updated_at": at, "stage_updated_at": at,
            "stage_history": [{"from_stage": None, "to_stage": "New Lead", "changed_at": at, "by": "kim", "notes": None}]}  # fmt: skip
    return {"_id": f"seq:{seq}", "seq": seq, "type": "lead_created", "at": at, "by": "kim", "lead_id": str(oid), "lead": lead, "changes": "{}"}


def inserted(seq: int, email: str) -> dict[str, Any]:
    """The change a replica set reports for that event's insert; its `_id` is the resume token."""
    return {"_id": {"_data": f"token-{seq}"}, "operationType": "insert", "fullDocument": event_document(seq, email),
            "ns": {"db": DB, "coll": EVENTS}, "documentKey": {"_id": f"seq:{seq}"}}  # fmt: skip


def watched(replica_set: ReplicaSet, count: int) -> list[int]:
    result = invoke("--verbose", "--db", replica_set.uri, "watch", "--since", "0", "--count", str(count), "--timeout", "60", "-o", "jsonl")
    assert result.code == 0, result.stderr
    return [json.loads(line)["seq"] for line in result.stdout.splitlines()]


def test_the_change_stream_resumes_a_lost_cursor_with_the_token_it_kept(replica_set: ReplicaSet) -> None:
    """Seq 1 is in the store before the watch starts; 2 comes on the stream; the cursor is then
    lost (CursorNotFound: pymongo resumes by itself), then the stream fails in a way pymongo
    gives up on (leadcli reopens it). Both resumptions name the token of the last change seen."""
    replica_set.data[EVENTS] = [event_document(1, "ada@example.com")]
    replica_set.changes = [
        [],  # the stream opens quietly
        [inserted(2, "grace@example.com")],
        43,  # CursorNotFound: the cursor was lost (a failover, a killed cursor)
        [],  # pymongo's resumed stream
        8000,  # an error pymongo does not resume: leadcli drops the stream and reopens it
        [],  # leadcli's reopened stream ...
        [inserted(3, "alan@example.com")],
    ]

    assert watched(replica_set, 3) == [1, 2, 3]

    opens = replica_set.stream_opens()
    assert len(opens) == 3, opens
    assert opens[0] == {}  # a new stream
    assert opens[1] == {"resumeAfter": {"_data": "token-2"}}  # pymongo's resume, after the change it gave
    last_before_error = replica_set.batch_tokens[replica_set.batch_tokens.index(8000) - 1]
    assert opens[2] == {"resumeAfter": last_before_error}  # leadcli's: the newest token it kept


def test_after_an_invalidate_the_next_stream_starts_after_it(replica_set: ReplicaSet) -> None:
    """The events collection was dropped or renamed: the stream ends with `invalidate`, which
    `resumeAfter` would be refused; the next stream is opened with `startAfter` its token."""
    invalidate = {"_id": {"_data": "token-invalidate"}, "operationType": "invalidate"}
    replica_set.changes = [
        [inserted(1, "ada@example.com")],
        [invalidate],
        [inserted(2, "grace@example.com")],
    ]

    assert watched(replica_set, 2) == [1, 2]

    opens = replica_set.stream_opens()
    assert len(opens) == 2, opens
    assert opens[1] == {"startAfter": {"_data": "token-invalidate"}}


def test_a_write_and_its_event_share_a_transaction_redone_when_its_seq_is_taken(replica_set: ReplicaSet) -> None:
    """`add` on a replica set: the lead and its event are inserted in one transaction. Another
    writer commits seq 1 just before ours: the event's insert fails on the unique seq, the
    transaction is aborted (the lead's insert goes with it), and redone as seq 2."""
    taken = []

    def another_writer_first(collection: str, record: dict[str, Any], in_transaction: bool) -> int | None:
        if collection == EVENTS and record["seq"] == 1 and not taken:
            taken.append(record)
            replica_set.data.setdefault(EVENTS, []).append(event_document(1, "kim@example.com"))
            return 11000
        return None

    replica_set.on_insert = another_writer_first
    added = invoke("--db", replica_set.uri, "add", "--name", "Ada Lovelace", "--email", "ada@example.com", "-o", "json")
    assert added.code == 0, added.stderr

    leads = replica_set.data.get("leads", [])
    assert [lead["email"] for lead in leads] == ["ada@example.com"]  # once: the aborted insert is gone
    events = sorted(replica_set.data[EVENTS], key=lambda e: e["seq"])
    assert [(e["seq"], e["lead"]["email"]) for e in events] == [(1, "kim@example.com"), (2, "ada@example.com")]
    assert str(leads[0]["_id"]) == added.json()["id"] == events[1]["lead_id"]

    writes = [doc for doc in replica_set.sent("insert") if doc["insert"] in ("leads", EVENTS)]
    assert [(w["insert"], w.get("startTransaction", False)) for w in writes] == [
        ("leads", True), (EVENTS, False), ("leads", True), (EVENTS, False),
    ]  # fmt: skip
    assert all(w.get("autocommit") is False for w in writes)
    first, second = (w["txnNumber"] for w in writes[::2])
    assert writes[1]["txnNumber"] == first and writes[3]["txnNumber"] == second
    assert [d["txnNumber"] for d in replica_set.sent("abortTransaction")] == [first]
    assert [d["txnNumber"] for d in replica_set.sent("commitTransaction")] == [second]


def test_a_transaction_whose_commit_fails_transiently_is_run_again_once_whole(replica_set: ReplicaSet) -> None:
    """The commit meets a TransientTransactionError (the primary stepped down): the server has
    dropped the transaction, and the whole write is run again in a new one — one lead, one
    event, nothing written twice."""
    replica_set.failing_commits = 1
    added = invoke("--db", replica_set.uri, "add", "--name", "Ada Lovelace", "--email", "ada@example.com", "-o", "json")
    assert added.code == 0, added.stderr

    assert [lead["email"] for lead in replica_set.data.get("leads", [])] == ["ada@example.com"]
    assert [(e["seq"], e["lead"]["email"]) for e in replica_set.data[EVENTS]] == [(1, "ada@example.com")]
    commits = replica_set.sent("commitTransaction")
    assert len(commits) == 2 and commits[0]["txnNumber"] != commits[1]["txnNumber"]
