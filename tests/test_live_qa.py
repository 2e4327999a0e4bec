"""Found by using `watch` and `serve` as a person would: what a watcher on a second screen sees."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import invoke

from leadcli.domain.errors import StoreUnavailable


def test_readable_view_keeps_one_event_per_line_whatever_the_text_holds(tmp_path: Path) -> None:
    # Notes pasted from an email hold newlines; someone's text may hold a terminal escape.
    db = str(tmp_path / "leads.db")
    added = invoke("--db", db, "add", "--name", "Ada", "--email", "ada@example.com", "--notes", "line one\nline two")
    assert added.code == 0, added.stderr
    escaped = "cleared\r\x1b[2Jscreen"
    assert invoke("--db", db, "edit", "ada@example.com", "--notes", escaped).code == 2  # refused as input now
    from leadcli.services.leads import diff
    from leadcli.store import open_store

    store = open_store(db)  # but an older store may hold it: written as an older leadcli did
    try:
        lead = store.get_by_email("ada@example.com")
        assert lead is not None
        store.replace({**lead, "notes": escaped}, lead["version"], {"type": "lead_updated", "by": "old", "changes": diff(lead, {**lead, "notes": escaped})})
    finally:
        store.close()
    assert invoke("--db", db, "log", "ada@example.com", "--type", "note", "--note", "a\tb\nc").code == 0
    result = invoke("--db", db, "watch", "--since", "0", "--count", "3", "--timeout", "60", "-o", "table")
    assert result.code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 3, lines
    assert "notes: line one line two → cleared" in lines[1]
    assert "\x1b" not in result.stdout and "\r" not in result.stdout and "\t" not in result.stdout
    assert "note: a b c" in lines[2]


@pytest.mark.mongo
def test_mongo_events_can_be_looked_up_by_seq_and_the_tail_uses_that(mongo_uri: str) -> None:
    # FerretDB scans every event for `seq > N`; a watcher polling that 10 times a second kept
    # a core busy once the log held a few thousand events. The next seq is now looked up by _id.
    from leadcli.store import open_store
    from leadcli.store.tail import SeqTail

    assert invoke("--db", mongo_uri, "add", "--name", "Ada", "--email", "ada@example.com").code == 0
    store = open_store(mongo_uri)
    try:
        assert store.event_at(1)["type"] == "lead_created" and store.event_at(2) is None  # type: ignore[attr-defined]
        tail = store.changes(1).own  # type: ignore[attr-defined]  # leadcli's events, beside other apps' writes
        assert isinstance(tail, SeqTail) and tail.lookup is not None
        reads = []
        tail.fetch = lambda after, limit: reads.append(after) or store.events_after(after, limit)  # type: ignore[method-assign]
        assert tail.poll(0.05) == [] and len(reads) == 1  # the first poll reads the range
        assert tail.poll(0.3) == [] and len(reads) == 1  # then only looks up seq 2
        assert invoke("--db", mongo_uri, "move", "ada@example.com", "--to", "negotiation").code == 0
        assert [e["type"] for e in tail.poll(5)] == ["lead_stage_changed"]
        assert len(reads) == 1  # looked up, not read by range
        # An event written by an older leadcli (no key) still arrives, by the periodic range read.
        old = store.events.find_one({"seq": 2}, {"_id": 0})  # type: ignore[attr-defined]
        store.events.insert_one({**old, "seq": 3})  # type: ignore[attr-defined]
        tail.full_every = 0.2
        assert [e["seq"] for e in tail.poll(5)] == [3]
    finally:
        store.close()


class SlowDeadStore:
    """A tail whose store is gone and takes pymongo's 5 s server selection to say so, on a fake clock."""

    position = 0

    def __init__(self, clock: list[float]) -> None:
        self.clock = clock

    def poll(self, timeout: float) -> list:
        self.clock[0] += 5.0
        raise StoreUnavailable("cannot reach MongoDB")

    def close(self) -> None:
        pass


def test_an_unreachable_store_ends_the_watch_once_reconnect_for_has_passed(monkeypatch: pytest.MonkeyPatch) -> None:
    # `watch --reconnect-for 4` on a MongoDB that went away exited after 13 s, not ~5: the
    # outage was counted from the end of the first failed try, which takes 5 s by itself.
    from leadcli.live import feed

    clock = [1000.0]

    class FakeTime:
        @staticmethod
        def monotonic() -> float:
            return clock[0]

        @staticmethod
        def sleep(seconds: float) -> None:
            clock[0] += seconds

    monkeypatch.setattr(feed, "time", FakeTime)
    with pytest.raises(StoreUnavailable, match="stayed unreachable for 4 s"):
        next(feed.follow_tail(SlowDeadStore(clock), budget=4.0))
    assert clock[0] - 1000.0 <= 4.0 + 5.0  # the budget, plus at most the try under way


def test_ctrl_c_ends_the_watch_with_one_line_saying_where_to_resume(tmp_path: Path) -> None:
    # Ctrl-C left the shell prompt glued to the terminal's "^C"; now the watch says where it
    # stopped, so the user can come back with --since and miss nothing.
    from livehelp import Proc

    db = str(tmp_path / "leads.db")
    assert invoke("--db", db, "add", "--name", "Ada", "--email", "ada@example.com").code == 0
    watcher = Proc("--verbose", "--db", db, "watch", "-o", "jsonl", "--stage", "negotiation")
    try:
        watcher.wait_stderr("watching")
        assert invoke("--db", db, "add", "--name", "Cy", "--email", "cy@example.com").code == 0  # filtered out
        assert invoke("--db", db, "add", "--name", "Bob", "--email", "bob@example.com", "--stage", "negotiation").code == 0
        assert [e["seq"] for e in watcher.events(1)] == [3]
        assert watcher.interrupt() == 0
        assert watcher.rest_of_stdout() == []
        stderr = watcher.stderr_text()
        assert stderr.splitlines()[-1].strip() == "stopped after seq 3; resume with: leadcli watch --since 3"
        assert "Traceback" not in stderr and "error" not in stderr
    finally:
        watcher.stop()
