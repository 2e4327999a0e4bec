"""Other apps' writes on a replica set (`LeadsChangeStream`): a stream that breaks or is
invalidated loses no change. Driven against a small model of a server's change log (no replica
set runs here): a stream opened with no token starts at the log's end, `resume_after`/
`start_after` a token after that change (`resume_after` an invalidate is refused, as MongoDB
refuses it), and a failure can be scheduled at a position of the log."""

from __future__ import annotations

from contextlib import nullcontext
from datetime import datetime
from typing import Any

import pytest
from bson import ObjectId
from pymongo import errors as mongo_errors

from leadcli.domain.errors import StoreUnavailable
from leadcli.store.mongo_changes import LeadsChangeStream


class ChangeLog:
    def __init__(self) -> None:
        self.changes: list[dict[str, Any]] = []
        self.fail_at: set[int] = set()  # positions whose read fails once (a non-resumable error)
        self.opens: list[dict[str, Any]] = []

    def insert(self, name: str) -> ObjectId:
        oid = ObjectId()
        doc = {"_id": oid, "name": name, "email": f"{name.lower()}@example.com", "updated_at": datetime(2026, 12, 1, 10)}
        self.changes.append({"_id": {"t": len(self.changes)}, "operationType": "insert", "documentKey": {"_id": oid}, "fullDocument": doc})
        return oid

    def invalidate(self) -> None:
        self.changes.append({"_id": {"t": len(self.changes)}, "operationType": "drop"})
        self.changes.append({"_id": {"t": len(self.changes)}, "operationType": "invalidate"})

    def watch(self, **options: Any) -> Stream:
        self.opens.append(options)
        if "resume_after" in options:
            token = options["resume_after"]
            if self.changes[token["t"]]["operationType"] == "invalidate":
                raise mongo_errors.OperationFailure("cannot resume after an invalidate", 260)
            return Stream(self, token["t"] + 1, token)
        if "start_after" in options:
            return Stream(self, options["start_after"]["t"] + 1, options["start_after"])
        return Stream(self, len(self.changes), None)


class Stream:
    def __init__(self, log: ChangeLog, position: int, token: Any) -> None:
        self.log, self.position, self.resume_token = log, position, token

    def try_next(self) -> Any:
        if self.position in self.log.fail_at:
            self.log.fail_at.discard(self.position)
            raise mongo_errors.OperationFailure("the stream broke", 8000)
        if self.position >= len(self.log.changes):
            return None
        change = self.log.changes[self.position]
        self.position += 1
        self.resume_token = change["_id"]
        return change

    def close(self) -> None:
        pass


def source(log: ChangeLog) -> LeadsChangeStream:
    class Store:
        leads = log

        def _errors(self) -> Any:
            return nullcontext()

        def _scrub(self, text: str) -> str:
            return text

    return LeadsChangeStream(Store())  # type: ignore[arg-type]


def read_all(stream: LeadsChangeStream, tries: int = 5) -> list[str]:
    """What a watcher is shown over a few reads, retrying a broken read as `follow_tail` does."""
    names: list[str] = []
    for _ in range(tries):
        try:
            names += [c.lead["name"] if c.lead else c.op for c in stream.read()]
        except StoreUnavailable:
            continue
    return names


def test_changes_read_before_the_stream_broke_are_not_lost() -> None:
    """Two web-app inserts, then the stream fails (an error pymongo does not resume): the
    watcher, retrying, is shown both, once each."""
    log = ChangeLog()
    stream = source(log)
    log.insert("Ada")
    log.insert("Grace")
    log.fail_at.add(2)
    log.insert("Alan")
    assert read_all(stream) == ["Ada", "Grace", "Alan"]


def test_writes_after_an_invalidate_are_seen_by_the_next_stream() -> None:
    """The leads collection is dropped and recreated (a restore): the stream ends with
    `invalidate`; the leads written to the new collection before the next read are shown."""
    log = ChangeLog()
    stream = source(log)
    log.insert("Ada")
    log.invalidate()
    assert read_all(stream, tries=1) == ["Ada"]
    log.insert("Grace")  # written before the watcher's next read
    assert read_all(stream, tries=1) == ["Grace"]
    assert log.opens[-1] == {"full_document": "updateLookup", "max_await_time_ms": 50, "start_after": {"t": 2}}


@pytest.mark.parametrize("broken", [False, True])
def test_a_reopened_stream_repeats_nothing(broken: bool) -> None:
    log = ChangeLog()
    stream = source(log)
    log.insert("Ada")
    assert read_all(stream, tries=1) == ["Ada"]
    if broken:
        log.fail_at.add(1)
    log.insert("Grace")
    assert read_all(stream) == ["Grace"]
