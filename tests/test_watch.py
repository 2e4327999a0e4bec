"""`watch`: every write shows up as the contract's event, in order, filtered by the event's
lead; `--since` replays; `--count`, `--timeout` and Ctrl-C end with 0; a dead store ends with 5."""

from __future__ import annotations

import json
import os
import pty
import re
import select
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT, invoke
from livehelp import Proc

from leadcli.domain.events import EVENT_FIELDS


def add(db: str, name: str, email: str, *extra: str) -> str:
    result = invoke("--db", db, "add", "--name", name, "--email", email, *extra, "-o", "ids")
    assert result.code == 0, result.stderr
    return result.stdout.strip()


def replay(db: str, count: int, *args: str) -> list[dict]:
    """The first `count` events `watch --since 0 ARGS` prints. It stops at the count, not at a
    deadline: a replay that takes longer than expected is not cut short (the timeout is a
    safety net for a watch that would hang)."""
    result = invoke("--db", db, "watch", "--since", "0", "--count", str(count), "--timeout", "60", "-o", "jsonl", *args)
    assert result.code == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


def last_seq(db: str) -> int:
    from leadcli.store import open_store

    store = open_store(db)
    try:
        return store.last_seq()
    finally:
        store.close()


def test_each_kind_of_write_is_one_event_in_order(store_uri: str) -> None:
    lead_id = add(store_uri, "Ada Lovelace", "ada@example.com", "--company", "Engines")
    assert invoke("--db", store_uri, "edit", "ada@example.com", "--company", "Babbage & Co").code == 0
    assert invoke("--db", store_uri, "edit", "ada@example.com", "--stage", "initial-contact", "--note", "called").code == 0
    assert invoke("--db", store_uri, "delete", lead_id, "--yes").code == 0

    events = replay(store_uri, 4)
    assert [e["type"] for e in events] == ["lead_created", "lead_updated", "lead_stage_changed", "lead_deleted"]
    assert last_seq(store_uri) == events[-1]["seq"]  # and no other event
    assert all(list(e) == list(EVENT_FIELDS) for e in events)
    seqs = [e["seq"] for e in events]
    assert seqs == sorted(seqs) and len(set(seqs)) == 4 and seqs[0] >= 1
    assert {e["lead_id"] for e in events} == {lead_id}
    assert all(e["by"] == "tester" and e["at"].endswith("+00:00") for e in events)
    created, updated, moved, deleted = events
    assert created["lead"]["company"] == "Engines" and created["lead"]["version"] == 1
    assert updated["changes"] == {"company": ["Engines", "Babbage & Co"]}
    assert moved["changes"] == {"current_stage": ["New Lead", "Initial Contact"]}
    assert moved["lead"]["stage_history"][-1]["notes"] == "called"
    assert deleted["lead"]["current_stage"] == "Initial Contact"  # the lead before deletion


def test_since_replays_only_what_came_after(store_uri: str) -> None:
    for i in range(3):
        add(store_uri, f"Lead {i}", f"l{i}@example.com")
    everything = replay(store_uri, 3)
    after_first = invoke("--db", store_uri, "watch", "--since", str(everything[0]["seq"]), "--count", "2", "-o", "jsonl")
    assert after_first.code == 0, after_first.stderr
    assert [json.loads(line)["seq"] for line in after_first.stdout.splitlines()] == [e["seq"] for e in everything[1:]]


def test_filters_apply_to_the_events_lead(store_uri: str) -> None:
    add(store_uri, "Ada", "ada@acme.com", "--tag", "vip", "--owner", "Ada")
    add(store_uri, "Bob", "bob@other.com", "--owner", "bob")
    assert invoke("--db", store_uri, "edit", "bob@other.com", "--stage", "negotiation").code == 0
    assert invoke("--db", store_uri, "edit", "ada@acme.com", "--stage", "negotiation").code == 0
    # One end marker per filter below, matching that filter only: a replay stops at its marker
    # (a count, not a deadline), having passed over every event before it.
    add(store_uri, "End 1", "end1@marker.example.com", "--tag", "vip")
    add(store_uri, "End 2", "end2@marker.example.com", "--stage", "negotiation")
    add(store_uri, "End 3", "end3@other.example.com", "--owner", "bob")
    add(store_uri, "End 4", "end4@marker.example.com", "--stage", "closed-won")

    def emails(marker: str, *filters: str, expected: int) -> list[tuple[str, str]]:
        found = [(e["type"], e["lead"]["email"]) for e in replay(store_uri, expected + 1, *filters)]
        assert found[-1:] == [("lead_created", marker)], found
        return found[:-1]

    assert emails("end1@marker.example.com", "--tag", "vip", expected=2) == [("lead_created", "ada@acme.com"), ("lead_stage_changed", "ada@acme.com")]
    assert emails("end2@marker.example.com", "--stage", "negotiation", expected=2) == [("lead_stage_changed", "bob@other.com"), ("lead_stage_changed", "ada@acme.com")]
    assert emails("end3@other.example.com", "--owner", "BOB", "-q", "other", expected=2) == [("lead_created", "bob@other.com"), ("lead_stage_changed", "bob@other.com")]
    assert emails("end4@marker.example.com", "--stage", "closed-won", expected=0) == []


def test_count_stops_after_n_events_and_json_is_one_array(tmp_path: Path) -> None:
    db = str(tmp_path / "leads.db")
    for i in range(3):
        add(db, f"Lead {i}", f"l{i}@example.com")
    result = invoke("--db", db, "watch", "--since", "0", "--count", "2", "-o", "json")
    assert result.code == 0, result.stderr
    assert [e["lead"]["email"] for e in json.loads(result.stdout)] == ["l0@example.com", "l1@example.com"]
    ids = invoke("--db", db, "watch", "--since", "0", "--count", "1", "-o", "ids", "--fields", "seq,lead_id")
    assert ids.stdout.strip() == json.loads(result.stdout)[0]["lead_id"]


def test_timeout_ends_with_0_and_default_starts_at_the_newest(tmp_path: Path) -> None:
    db = str(tmp_path / "leads.db")
    add(db, "Old", "old@example.com")
    result = invoke("--db", db, "watch", "--timeout", "0.3")
    assert (result.code, result.stdout) == (0, "")


def test_bad_output_format_is_usage_error(tmp_path: Path) -> None:
    result = invoke("--db", str(tmp_path / "leads.db"), "watch", "-o", "xml", "--timeout", "0")
    assert result.code == 2 and "valid formats" in result.stderr


def test_unreachable_store_ends_with_5(tmp_path: Path) -> None:
    unusable = tmp_path / "leads.db"
    unusable.mkdir()  # a directory where the store should be (a named path in a missing directory is exit 2 now)
    result = invoke("--db", str(unusable), "watch", "--timeout", "1")
    assert result.code == 5 and result.stderr.startswith("error:")


def test_live_watch_prints_writes_from_other_processes_and_ctrl_c_ends_with_0(store_uri: str) -> None:
    add(store_uri, "Before", "before@example.com")
    watcher = Proc("--verbose", "--db", store_uri, "watch", "-o", "jsonl")
    try:
        watcher.wait_stderr("watching")
        add(store_uri, "Ada", "ada@example.com")
        assert invoke("--db", store_uri, "edit", "ada@example.com", "--stage", "meeting-scheduled").code == 0
        events = watcher.events(2)
        assert [(e["type"], e["lead"]["email"]) for e in events] == [
            ("lead_created", "ada@example.com"),
            ("lead_stage_changed", "ada@example.com"),
        ]
        assert watcher.interrupt() == 0
        assert watcher.rest_of_stdout() == []
        assert "error" not in watcher.stderr_text()
    finally:
        watcher.stop()


def test_live_json_array_is_closed_on_ctrl_c(tmp_path: Path) -> None:
    db = str(tmp_path / "leads.db")
    add(db, "Ada", "ada@example.com")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "leadcli", "--db", db, "watch", "--since", "0", "-o", "json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
    )  # fmt: skip
    try:
        seen = b""
        deadline = time.monotonic() + 20
        while b"ada@example.com" not in seen and time.monotonic() < deadline:
            if select.select([proc.stdout], [], [], 0.1)[0]:
                seen += os.read(proc.stdout.fileno(), 65536)  # type: ignore[union-attr]
        assert b"ada@example.com" in seen  # flushed while the watch goes on
        proc.send_signal(signal.SIGINT)
        rest, err = proc.communicate(timeout=20)
        assert proc.returncode == 0, err
        assert [e["lead"]["email"] for e in json.loads(seen + rest)] == ["ada@example.com"]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _run_in_terminal(args: list[str], writes: list[list[str]], expect: list[str], timeout: float = 20) -> str:
    """Run leadcli on a pseudo-terminal, do the writes once it is watching, read until `expect`."""
    main, child = pty.openpty()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "160", "LINES": "40", "TERM": "xterm"}
    proc = subprocess.Popen([sys.executable, "-m", "leadcli", *args], stdin=child, stdout=child, stderr=child, env=env)
    os.close(child)
    seen = b""
    done_writes = False
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline and not all(e.encode() in seen for e in expect):
            ready, _, _ = select.select([main], [], [], 0.1)
            if ready:
                try:
                    seen += os.read(main, 65536)
                except OSError:
                    break
            if not done_writes and (b"watching" in seen or b"waiting for changes" in seen):
                for write in writes:
                    assert invoke(*write).code == 0
                done_writes = True
        return seen.decode(errors="replace")
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        os.close(main)


def test_terminal_view_and_board_update_live(tmp_path: Path) -> None:
    db = str(tmp_path / "leads.db")
    add(db, "Grace Hopper", "grace@example.com")
    writes = [
        ["--db", db, "add", "--name", "Ada Lovelace", "--email", "ada@example.com"],
        ["--db", db, "edit", "ada@example.com", "--stage", "proposal-sent"],
    ]
    lines = _run_in_terminal(["--db", db, "watch"], writes, ["moved", "Proposal Sent"])
    assert "added" in lines and "Ada Lovelace <ada@example.com>" in lines and "moved" in lines

    writes = [["--db", db, "edit", "grace@example.com", "--stage", "negotiation"]]
    board = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", _run_in_terminal(["--db", db, "watch", "--board"], writes, ["moved"]))
    assert "Proposal Sent" in board and "Ada Lovelace" in board  # the board starts from the store, then follows the events
    assert "moved Grace Hopper  New Lead → Negotiation" in board


def test_board_in_a_pipe_prints_the_board_as_it_is_at_the_end(tmp_path: Path) -> None:
    db = str(tmp_path / "leads.db")
    add(db, "Ada Lovelace", "ada@example.com", "--stage", "negotiation")
    add(db, "Alan Turing", "alan@example.com", "--stage", "negotiation")
    result = invoke("--db", db, "watch", "--board", "--timeout", "0.2", "--not-engaged", env={"COLUMNS": "200"})
    assert result.code == 0, result.stderr
    lines = result.stdout.splitlines()
    names, counts = next((line, lines[i + 1]) for i, line in enumerate(lines) if "Negotiation" in line)
    assert counts[names.index("Negotiation") :].split()[0] == "2" and "Alan Turing" in result.stdout
    assert "\x1b[" not in result.stdout


@pytest.mark.parametrize("fmt", ["csv", "tsv"])
def test_csv_and_tsv_have_a_header_then_one_row_per_event(tmp_path: Path, fmt: str) -> None:
    db = str(tmp_path / "leads.db")
    add(db, "Ada", "ada@example.com")
    result = invoke("--db", db, "watch", "--since", "0", "--count", "1", "-o", fmt, "--fields", "seq,type,lead_id")
    sep = "," if fmt == "csv" else "\t"
    header, row = result.stdout.splitlines()
    assert header == sep.join(["seq", "type", "lead_id"]) and row.split(sep)[1] == "lead_created"


def test_move_log_and_import_emit_their_events(store_uri: str, tmp_path: Path) -> None:
    add(store_uri, "Ada", "ada@example.com")
    assert invoke("--db", store_uri, "move", "ada@example.com", "--to", "negotiation", "--note", "keen").code == 0
    assert invoke("--db", store_uri, "log", "ada@example.com", "--type", "call", "--note", "left a message").code == 0
    rows = tmp_path / "rows.csv"
    rows.write_text("Name,Email,Company\nGrace,grace@example.com,Navy\nBob,bob@example.com,\n")
    imported = invoke("--db", store_uri, "import", str(rows))
    assert imported.code == 0, imported.stderr
    events = replay(store_uri, 5)[1:]
    assert [(e["type"], e["lead"]["email"]) for e in events] == [
        ("lead_stage_changed", "ada@example.com"),
        ("activity_logged", "ada@example.com"),
        ("lead_created", "grace@example.com"),
        ("lead_created", "bob@example.com"),
    ]
    moved, logged = events[0], events[1]
    assert moved["changes"]["current_stage"] == ["New Lead", "Negotiation"]
    assert logged["lead"]["activities"][-1]["note"] == "left a message"
    assert logged["lead"]["last_contacted"] is not None


@pytest.mark.mongo
def test_mongo_without_change_streams_is_tailed_by_seq(mongo_server: str) -> None:
    # FerretDB (like a standalone mongod) has no change streams: the tail reads by seq.
    import uuid

    from leadcli.store import open_store
    from leadcli.store.tail import ForeignMerge, SeqTail

    store = open_store(f"{mongo_server}/leadcli_test_{uuid.uuid4().hex[:12]}")
    try:
        assert store.server_info()["change_streams"] is False  # type: ignore[attr-defined]
        tail = store.changes(0)
        assert isinstance(tail, ForeignMerge) and isinstance(tail.own, SeqTail)
        db_uri = f"{mongo_server}/{store.db.name}"  # type: ignore[attr-defined]
        add(db_uri, "Ada", "ada@example.com", "--company", "Engines")  # a store the web app may share
        add(db_uri, "Bob", "bob@example.com", "--company", "Bob Co")
        events = tail.poll(5)
        assert [e["lead"]["email"] for e in events] == ["ada@example.com", "bob@example.com"]
        assert tail.position == 2
    finally:
        store.client.drop_database(store.db.name)  # type: ignore[attr-defined]
        store.close()


# -- hostile or odd servers, huge seqs, a replaced store (issue 14 items 7-9) ---------------


def test_since_beyond_what_a_store_holds_is_a_usage_error(tmp_path: Path) -> None:
    result = invoke("--db", str(tmp_path / "leads.db"), "watch", "--since", str(2**63), "--timeout", "1")
    assert result.code == 2 and result.stderr.startswith("error:") and "unexpected" not in result.stderr


class FakeFeed:
    """A WebSocket server on a free port that sends each client the given messages."""

    def __init__(self, messages: list[str | bytes]) -> None:
        import threading

        from websockets.sync.server import serve

        self.messages = messages
        self.server = serve(self._handler, "127.0.0.1", 0)
        self.port = self.server.socket.getsockname()[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def _handler(self, ws) -> None:  # type: ignore[no-untyped-def]
        for message in self.messages:
            ws.send(message)
        try:
            ws.recv(timeout=30)
        except Exception:  # noqa: BLE001 - the watcher left
            pass

    def url(self, path: str = "/ws") -> str:
        return f"ws://127.0.0.1:{self.port}{path}"

    def close(self) -> None:
        self.server.shutdown()


@pytest.mark.parametrize(
    "message, said",
    [
        ("this is not json", "not JSON"),
        (b"\xff\xfe binary", "not JSON"),
        ('{"hello": "world"}', "not a leadcli or Leads Artisan event"),
        ('{"seq": "x", "type": "lead_created"}', "bad seq"),
        ('{"type": "update", "lead": {"name": "no id"}}', "without a lead id"),
        ('{"type": "update", "lead": {"id": "a1", "updated_at": "yesterday"}}', "unreadable date"),
    ],
)
def test_a_message_watch_cannot_read_is_one_error_line_and_exit_2(message: str | bytes, said: str) -> None:
    feed = FakeFeed([message])
    try:
        result = invoke("watch", "--server", feed.url(), "--timeout", "20")
    finally:
        feed.close()
    assert result.code == 2, result.stderr
    assert result.stderr.startswith("error:") and said in result.stderr and "unexpected" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_a_frame_over_the_limit_is_refused_with_exit_2(monkeypatch: pytest.MonkeyPatch) -> None:
    from leadcli.live import client

    monkeypatch.setattr(client, "MAX_FRAME", 4096)
    feed = FakeFeed(["[" + "1," * 5000 + "1]"])
    try:
        result = invoke("watch", "--server", feed.url(), "--timeout", "20")
    finally:
        feed.close()
    assert result.code == 2 and "larger than" in result.stderr and "unexpected" not in result.stderr


def web_lead(lead_id: str, name: str, moves: list[tuple[str, str]], created_at: str, updated_at: str) -> dict[str, Any]:
    """A lead as the Leads Artisan web app sends it on its feed (naive UTC times, as the backend
    writes them): its stage history is `moves` [(stage, changed_at), …], the last its stage."""
    history, previous = [], None
    for stage, when in moves:
        history.append({"from_stage": previous, "to_stage": stage, "changed_at": when})
        previous = stage
    return {
        "id": lead_id, "name": name, "email": f"{name.split()[0].lower()}@example.com", "company": name[0],
        "status": "Not Engaged", "engaged": False, "current_stage": previous, "stage_updated_at": None,
        "stage_history": history, "last_contacted": None, "created_at": created_at, "updated_at": updated_at,
    }  # fmt: skip


def watch_web_feed(messages: list[tuple[str, dict[str, Any]]], user: str) -> list[dict[str, Any]]:
    """What `watch --server` prints (jsonl) for the web app's own feed sending `messages`
    [(type, lead), …] from `user`."""
    feed = FakeFeed([json.dumps({"type": kind, "lead": lead, "userId": user, "isRemote": True}) for kind, lead in messages])
    try:
        result = invoke("watch", "--server", feed.url("/api/v1/ws/leadcli-watch"), "-o", "jsonl", "--count", str(len(messages)), "--timeout", "20")
    finally:
        feed.close()
    assert result.code == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_watch_server_prints_the_web_apps_own_feed() -> None:
    moves = [("New Lead", "2026-12-01T00:43:32.194057"), ("Initial Contact", "2026-12-01T00:50:00.000001")]
    lead = web_lead("6650f1c2a1b2c3d4e5f60718", "Web Lead", moves, "2026-12-01T00:43:32.194000", "2026-12-01T00:50:00.000000")
    events = watch_web_feed([(kind, lead) for kind in ("create", "update", "delete")], user="u-42")
    assert [e["type"] for e in events] == ["lead_created", "lead_stage_changed", "lead_deleted"]
    assert all(e["seq"] is None and e["by"] == "(outside leadcli)" for e in events)
    assert events[1]["changes"] == {"current_stage": ["New Lead", "Initial Contact"]}
    assert events[0]["lead"]["created_at"] == "2026-12-01T00:43:32.194+00:00"  # naive UTC read as UTC
    assert events[0]["lead"]["stage_history"][0]["changed_at"].endswith("+00:00")


def _sqlite_add(db: str, email: str) -> None:
    assert invoke("--db", db, "add", "--name", "x", "--email", email, "-o", "ids").code == 0


def test_watch_follows_a_store_file_replaced_by_a_newer_copy(tmp_path: Path) -> None:
    import shutil

    db, copy = tmp_path / "leads.db", tmp_path / "copy.db"
    _sqlite_add(str(db), "a@example.com")
    watcher = Proc("--db", str(db), "watch", "-o", "jsonl", "--since", "0", "--timeout", "60")
    try:
        assert [e["seq"] for e in watcher.events(1)] == [1]
        for suffix in ("", "-wal", "-shm"):
            if Path(f"{db}{suffix}").exists():
                shutil.copy(f"{db}{suffix}", f"{copy}{suffix}")
        _sqlite_add(str(copy), "b@example.com")  # the copy moves on
        (Path(f"{copy}-shm")).unlink(missing_ok=True)
        _sqlite_add(str(copy), "c@example.com")
        assert invoke("--db", str(copy), "count").code == 0  # checkpoint on close
        copy.replace(db)  # mv copy.db leads.db
        got = watcher.events(2, timeout=20)
        assert [(e["seq"], e["lead"]["email"]) for e in got] == [(2, "b@example.com"), (3, "c@example.com")]
        _sqlite_add(str(db), "d@example.com")
        assert [e["lead"]["email"] for e in watcher.events(1)] == ["d@example.com"]
    finally:
        watcher.stop()


def test_watch_exits_5_when_the_store_is_replaced_by_an_older_backup(tmp_path: Path) -> None:
    import shutil

    db, backup = tmp_path / "leads.db", tmp_path / "backup.db"
    _sqlite_add(str(db), "a@example.com")
    assert invoke("--db", str(db), "count").code == 0
    shutil.copy(db, backup)
    watcher = Proc("--db", str(db), "watch", "-o", "jsonl", "--since", "0", "--timeout", "60")
    try:
        _sqlite_add(str(db), "b@example.com")
        assert [e["seq"] for e in watcher.events(2)] == [1, 2]
        backup.replace(db)  # restoring a backup: its log ends at seq 1
        assert watcher.wait(timeout=30) == 5
        err = watcher.stderr_text()
        assert err.startswith("error:") and "replaced" in err and "start watch again" in err
    finally:
        watcher.stop()


def test_a_web_edit_soon_after_a_web_create_is_not_shown_as_a_move() -> None:
    # Seen against the real backend: create a lead in the web app, then toggle "engaged" a
    # fraction of a second later: the update carries the history the create generated, its last
    # entry ~0.3 s older than updated_at. The backend stamps a move's entry and updated_at in one
    # synchronous step (microseconds apart), so this is an edit, not a stage change.
    moves = [("New Lead", "2026-11-28T05:51:28.135411"), ("Negotiation", "2026-12-02T05:51:28.135411")]
    created = web_lead("6650f1c2a1b2c3d4e5f60719", "Quick", moves, "2026-12-02T05:51:28.135000", "2026-12-02T05:51:28.135000")
    edited = created | {"engaged": True, "status": "Engaged", "updated_at": "2026-12-02T05:51:28.408000"}
    events = watch_web_feed([("create", created), ("update", edited)], user="u-1")
    assert [e["type"] for e in events] == ["lead_created", "lead_updated"]
    assert "current_stage" not in events[1]["changes"]
