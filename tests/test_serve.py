"""`serve`: one feed of events over WebSocket at /ws — auth, the loopback rule, fan-out, slow
and rude clients, and `watch --server` resuming across a server restart. Real processes on
127.0.0.1 free ports; every loop is bounded."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
from conftest import _free_port, fresh_database, invoke, isolate
from livehelp import Proc

TOKEN = "s3cret-token"


def add(db: str, email: str, *extra: str) -> None:
    result = invoke("--db", db, "add", "--name", email.split("@")[0], "--email", email, *extra, "-o", "ids")
    assert result.code == 0, result.stderr


def start_server(db: str, port: int, *extra: str) -> Proc:
    server = Proc("--verbose", "--db", db, "serve", "--port", str(port), *extra)
    server.wait_stderr("serving events")
    return server


@pytest.fixture
def db(store_uri: str) -> str:
    """Each feed test runs on SQLite and on MongoDB (FerretDB)."""
    return store_uri


@pytest.fixture
def feed(db: str) -> Iterator[tuple[str, Proc]]:
    port = _free_port()
    server = start_server(db, port, "--token", TOKEN)
    try:
        yield f"ws://127.0.0.1:{port}/ws", server
    finally:
        server.stop()


def connect(url: str, token: str | None = TOKEN, header: bool = True):  # type: ignore[no-untyped-def]
    from websockets.sync.client import connect as ws_connect

    if token is not None and not header:
        url += ("&" if "?" in url else "?") + f"token={token}"
    headers = {"Authorization": f"Bearer {token}"} if token is not None and header else None
    return ws_connect(url, additional_headers=headers, open_timeout=10, close_timeout=1)


def receive(ws, n: int, timeout: float = 15) -> list[dict]:  # type: ignore[no-untyped-def]
    out = []
    deadline = time.monotonic() + timeout
    while len(out) < n:
        out.append(json.loads(ws.recv(timeout=max(0.01, deadline - time.monotonic()))))
    return out


def test_token_is_required_by_header_or_query(feed: tuple[str, Proc], db: str) -> None:
    from websockets.exceptions import InvalidStatus

    url, server = feed
    for token in (None, "wrong"):
        with pytest.raises(InvalidStatus) as refused:
            connect(url, token)
        assert refused.value.response.status_code == 401
    with connect(url) as by_header, connect(url, header=False) as by_query:
        add(db, "ada@example.com")
        assert receive(by_header, 1)[0]["lead"]["email"] == "ada@example.com"
        assert receive(by_query, 1)[0]["lead"]["email"] == "ada@example.com"
    assert TOKEN not in server.stderr_text()


def test_non_loopback_host_without_token_is_refused(db: str) -> None:
    result = invoke("--db", db, "serve", "--host", "0.0.0.0", "--port", "0")
    assert result.code == 2 and "--token" in result.stderr


def test_since_replays_then_goes_live_and_the_handshake_names_the_newest_seq(feed: tuple[str, Proc], db: str) -> None:
    url, _ = feed
    add(db, "a@example.com")
    add(db, "b@example.com")
    deadline = time.monotonic() + 30  # the server's tail passes them: its handshake says so
    while True:
        with connect(url) as probe:
            if probe.response.headers["X-Leadcli-Seq"] == "2" or time.monotonic() > deadline:
                break
        time.sleep(0.02)
    with connect(url + "?since=0") as replaying, connect(url) as live:
        assert live.response.headers["X-Leadcli-Seq"] == "2"
        add(db, "c@example.com")
        assert [e["seq"] for e in receive(replaying, 3)] == [1, 2, 3]
        assert [e["seq"] for e in receive(live, 1)] == [3]


def test_fan_out_to_20_clients_all_receiving_the_same_events(feed: tuple[str, Proc], db: str) -> None:
    url, _ = feed
    with ExitStack() as stack:
        clients = [stack.enter_context(connect(url)) for _ in range(20)]
        for i in range(5):
            add(db, f"l{i}@example.com")
        received = [[(e["seq"], e["lead"]["email"]) for e in receive(client, 5)] for client in clients]
    assert received[0] == [(i + 1, f"l{i}@example.com") for i in range(5)]
    assert all(r == received[0] for r in received)


def _insert_big_leads(db: str, n: int) -> None:
    """Fast writes straight through the store: n leads with 9 kB of notes each."""
    from leadcli.domain.dates import now_utc
    from leadcli.domain.lead import new_id
    from leadcli.store import open_store

    store = open_store(db)
    try:
        for i in range(n):
            now = now_utc()
            lead = {
                "id": new_id(), "name": f"Lead {i}", "email": f"big{i}@example.com", "current_stage": "New Lead",
                "engaged": False, "status": "Not Engaged", "tags": [], "fields": {}, "notes": "x" * 9000,
                "created_at": now, "updated_at": now, "stage_history": [], "version": 1,
            }  # fmt: skip
            store.insert(lead, {"type": "lead_created", "by": "bench", "at": now, "changes": {}})
    finally:
        store.close()


def test_a_client_that_never_reads_is_dropped_and_blocks_neither_others_nor_writers(tmp_path: Path) -> None:
    # Fan-out does not depend on the store; 9 MB of writes are quick only on SQLite.
    db = str(tmp_path / "leads.db")
    port = _free_port()
    server = start_server(db, port, "--client-queue", "200")
    stuck = socket.socket()
    try:
        # A client that completes the handshake and then never reads a byte.
        stuck.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        stuck.connect(("127.0.0.1", port))
        stuck.sendall(
            b"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        server.wait_stderr("joined (1 connected)")
        writes = 1000  # 9 MB: more than the kernel buffers for the stuck client, plus its queue
        with connect(f"ws://127.0.0.1:{port}/ws", None) as reader:
            seqs: list[int] = []
            thread = threading.Thread(target=lambda: seqs.extend(e["seq"] for e in receive(reader, writes, timeout=60)))
            thread.start()
            writer = threading.Thread(target=_insert_big_leads, args=(db, writes))
            writer.start()
            writer.join(timeout=60)
            assert not writer.is_alive()  # the writer finished without waiting on any client
            thread.join(timeout=60)
        assert seqs == list(range(1, writes + 1))
        server.wait_stderr("dropped a client")  # the stuck one, and only it
        assert not any("dropped" in line for line in server.stderr_lines[:-1])
    finally:
        stuck.close()
        server.stop()


def test_garbage_from_clients_does_not_bring_anything_down(feed: tuple[str, Proc], db: str) -> None:
    import urllib.error
    import urllib.request

    from websockets.exceptions import InvalidStatus

    url, _ = feed
    port = int(url.split(":")[2].split("/")[0])
    with pytest.raises(InvalidStatus) as wrong_path:
        connect(url.replace("/ws", "/nope"))
    assert wrong_path.value.response.status_code == 404
    with pytest.raises(urllib.error.HTTPError):
        urllib.request.urlopen(f"http://127.0.0.1:{port}/ws", timeout=5)
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        raw.sendall(b"\x00\xff garbage \r\n\r\n" * 100)
    with pytest.raises(InvalidStatus):
        connect(url + "?since=abc")
    with connect(url) as rude, connect(url) as polite:
        rude.send("hello?")
        rude.send(b"\x00\x01\x02")
        rude.send("x" * 100_000)  # over the size limit: this client is closed, alone
        add(db, "ada@example.com")
        assert receive(polite, 1)[0]["lead"]["email"] == "ada@example.com"


def test_watch_server_resumes_after_a_restart_without_loss_or_repeat(db: str) -> None:
    port = _free_port()
    url = f"ws://127.0.0.1:{port}/ws"
    server = start_server(db, port, "--token", TOKEN)
    watcher = Proc("--verbose", "watch", "--server", url, "--token", TOKEN, "-o", "jsonl", "--timeout", "60")
    try:
        watcher.wait_stderr("watching")
        add(db, "a@example.com")
        add(db, "b@example.com")
        assert [e["seq"] for e in watcher.events(2)] == [1, 2]
        server.stop()
        add(db, "c@example.com")  # written while the feed is down
        add(db, "d@example.com")
        server = start_server(db, port, "--token", TOKEN)
        watcher.wait_stderr("watching")  # reconnected
        add(db, "e@example.com")
        assert [e["lead"]["email"] for e in watcher.events(3)] == ["c@example.com", "d@example.com", "e@example.com"]
        assert watcher.interrupt() == 0
        assert watcher.rest_of_stdout() == []
    finally:
        watcher.stop()
        server.stop()


def test_watch_server_exits_5_when_the_server_stays_unreachable() -> None:
    result = invoke("watch", "--server", f"ws://127.0.0.1:{_free_port()}/ws", "--reconnect-for", "1")
    assert result.code == 5 and "unreachable" in result.stderr


def test_watch_server_with_a_wrong_token_is_exit_2(feed: tuple[str, Proc]) -> None:
    url, _ = feed
    result = invoke("watch", "--server", url, "--token", "nope", "--timeout", "5")
    assert result.code == 2 and "token" in result.stderr and "nope" not in result.stderr


def test_serve_exits_5_when_the_store_is_unreachable(tmp_path: Path) -> None:
    unusable = tmp_path / "leads.db"
    unusable.mkdir()  # a directory where the store should be (a named path in a missing directory is exit 2 now)
    result = invoke("--db", str(unusable), "serve", "--port", "0")
    assert result.code == 5 and result.stderr.startswith("error:")


def test_loopback_addresses_are_recognised() -> None:
    from leadcli.live.server import is_loopback

    assert all(is_loopback(h) for h in ("127.0.0.1", "127.8.9.10", "::1", "[::1]", "localhost"))
    assert not any(is_loopback(h) for h in ("0.0.0.0", "::", "192.168.1.20", "example.com"))


# -- who may connect (issue 14 item 1) ------------------------------------------------------

EVIL = "http://evil.example"


@pytest.fixture(scope="module", params=["sqlite", pytest.param("mongo", marks=pytest.mark.mongo)])
def open_feed(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, Proc]]:
    """serve with no token on loopback (the default), one lead already written, on each store.
    The tests using it only try handshakes (nothing they do changes the store or the server),
    so one server per store serves them all."""
    home = tmp_path_factory.mktemp("open-feed")
    with ExitStack() as cleanup:
        with pytest.MonkeyPatch.context() as env:  # the server's environment, and the add's
            isolate(env, home)
            if request.param == "sqlite":
                db = str(home / "leads.db")
            else:
                env.setenv("LEADCLI_WEB_APP_COMPATIBLE", "false")
                db = cleanup.enter_context(fresh_database(request.getfixturevalue("mongo_server")))
            add(db, "secret@example.com")
            port = _free_port()
            server = start_server(db, port, "--allow-origin", "http://localhost:5173")
        cleanup.callback(server.stop)
        yield port, server


@pytest.mark.parametrize("path", ["/ws?since=0", "/api/v1/ws/user-1"])
@pytest.mark.parametrize(
    "headers",
    [{"Origin": EVIL}, {"Origin": "null"}, {"Host": "evil.example:8765"}, {"Host": "127.0.0.1.nip.io"}, {"Origin": "http://localhost:5174"}, {"Origin": "http://localhost:5173\r\nOrigin: http://evil.example"}],
    ids=["evil-origin", "null-origin", "rebound-host", "rebound-host-2", "other-port-origin", "two-origins"],
)
def test_a_web_page_cannot_read_the_store_through_serve(open_feed: tuple[int, Proc], path: str, headers: dict[str, str]) -> None:
    from livehelp import raw_handshake

    port, _ = open_feed
    answer = raw_handshake(port, path, headers)
    assert answer.startswith(b"HTTP/1.1 403"), answer[:200]
    assert b"secret@example.com" not in answer


@pytest.mark.parametrize("headers", [{}, {"Origin": "http://localhost:5173"}, {"Host": "localhost:1"}, {"Host": "[::1]:8765"}])
def test_allowed_origins_and_clients_without_origin_are_served(open_feed: tuple[int, Proc], headers: dict[str, str]) -> None:
    from livehelp import raw_handshake

    port, _ = open_feed
    answer = raw_handshake(port, "/ws?since=0", headers, until=b"secret@example.com")
    assert answer.startswith(b"HTTP/1.1 101"), answer[:200]
    assert b"secret@example.com" in answer


def test_allow_origin_comes_from_the_config_and_bad_ones_are_usage_errors(tmp_path: Path) -> None:
    from livehelp import raw_handshake

    db = str(tmp_path / "leads.db")
    add(db, "secret@example.com")
    bad = invoke("--db", db, "serve", "--port", "0", "--allow-origin", "evil.example")
    assert bad.code == 2 and bad.stderr.startswith("error:") and "--allow-origin" in bad.stderr
    config = tmp_path / "config.toml"
    config.write_text('[serve]\nallow_origin = ["https://crm.example.com"]\n')
    port = _free_port()
    server = Proc("--verbose", "--db", db, "serve", "--port", str(port), env={"LEADCLI_CONFIG": str(config)})
    try:
        server.wait_stderr("serving events")
        assert raw_handshake(port, "/ws?since=0", {"Origin": "https://crm.example.com"}).startswith(b"HTTP/1.1 101")
        assert raw_handshake(port, "/ws?since=0", {"Origin": EVIL}).startswith(b"HTTP/1.1 403")
    finally:
        server.stop()


# -- the Leads Artisan web app's protocol (issue 12 item 3) ----------------------------------


def test_a_browser_gets_web_app_messages_for_leadcli_changes_with_the_token_in_the_path(db: str) -> None:
    from livehelp import raw_handshake
    from websockets.exceptions import InvalidStatus
    from websockets.sync.client import connect as ws_connect

    port = _free_port()
    server = start_server(db, port, "--token", TOKEN, "--allow-origin", "http://localhost:5173")
    try:
        base = f"ws://127.0.0.1:{port}/t/{TOKEN}/api/v1"  # what VITE_WS_URL is set to
        assert raw_handshake(port, "/api/v1/ws/u1", {"Origin": "http://localhost:5173"}).startswith(b"HTTP/1.1 401")
        assert raw_handshake(port, "/t/wrong/api/v1/ws/u1", {"Origin": "http://localhost:5173"}).startswith(b"HTTP/1.1 401")
        assert raw_handshake(port, f"/t/{TOKEN}/api/v1/ws/u1", {"Origin": EVIL}).startswith(b"HTTP/1.1 403")
        with pytest.raises(InvalidStatus):
            ws_connect(f"ws://127.0.0.1:{port}/t/{TOKEN}/api/v1/ws", open_timeout=10)  # no client id: 404
        with ws_connect(f"{base}/ws/user-1", origin="http://localhost:5173", open_timeout=10) as browser:  # type: ignore[arg-type]
            add(db, "ada@example.com", "--company", "Acme")
            message = json.loads(browser.recv(timeout=15))
            assert message["type"] == "create" and message["isRemote"] is True
            assert message["userId"].startswith("leadcli:")
            lead = message["lead"]
            assert lead["email"] == "ada@example.com" and lead["company"] == "Acme" and isinstance(lead["id"], str)
            assert "+" not in lead["created_at"] and lead["created_at"].count(":") == 2  # naive ISO, as the backend sends
            assert invoke("--db", db, "delete", lead["id"], "--yes").code == 0
            assert json.loads(browser.recv(timeout=15))["type"] == "delete"
    finally:
        server.stop()


# -- a write that lands while serve starts ---------------------------------------------------


def test_a_write_landing_while_serve_starts_does_not_silence_the_feed(tmp_path: Path) -> None:
    """An import running while `serve` starts: a lead committed after serve read its starting
    seq reaches the tail's first poll. The loop is held (as a busy machine may hold it) until
    that first batch has gone out, so the event is handed over before `run` has made its hub.
    It used to kill the tail thread (AttributeError on the missing hub): serve stayed up and
    never sent anything again. Now both leads arrive, once each."""
    import asyncio

    from leadmaker import make_lead

    from leadcli.live.server import EventServer
    from leadcli.store.sqlite import SqliteStore

    path = tmp_path / "leads.db"
    add(str(path), "zero@example.com")
    held = threading.Event()  # set: the loop may run again
    listening: list[int] = []
    up = threading.Event()
    loops: list[asyncio.AbstractEventLoop] = []
    tails: list[object] = []

    class StartingStore(SqliteStore):
        def last_seq(self) -> int:
            seq = super().last_seq()
            if not tails:  # serve reading where to start: hold its loop, and let the import write
                loops[0].call_soon_threadsafe(held.wait, 20)
                importer = SqliteStore(path)
                importer.insert(make_lead(email="first@example.com"), {"type": "lead_created", "by": "import", "changes": {}})
                importer.close()
            return seq

        def changes(self, after: int, others: bool = True):  # type: ignore[no-untyped-def]
            tail = super().changes(after, others)
            polled = tail.poll

            def poll(timeout: float):  # type: ignore[no-untyped-def]
                if tails.count(tail) >= 1:
                    held.set()  # the first batch was handed over: let the loop go on
                tails.append(tail)
                return polled(timeout)

            tail.poll = poll  # type: ignore[method-assign]
            return tail

    server = EventServer(lambda: StartingStore(path), token=None)
    tasks: list[asyncio.Task[None]] = []

    def on_listening(_host: str, port: int) -> None:
        listening.append(port)
        up.set()

    async def main() -> None:
        loops.append(asyncio.get_running_loop())
        tasks.append(asyncio.ensure_future(server.run("127.0.0.1", 0, on_listening)))
        try:
            await tasks[0]
        except asyncio.CancelledError:
            pass

    runner = threading.Thread(target=asyncio.run, args=(main(),), daemon=True)
    runner.start()
    try:
        assert up.wait(60), "serve never started listening"
        with connect(f"ws://127.0.0.1:{listening[0]}/ws?since=0", token=None) as ws:
            add(str(path), "second@example.com")
            got = receive(ws, 3)
            assert [(e["seq"], e["lead"]["email"]) for e in got] == [(1, "zero@example.com"), (2, "first@example.com"), (3, "second@example.com")]
    finally:
        held.set()
        if loops and tasks:
            loops[0].call_soon_threadsafe(tasks[0].cancel)
        runner.join(10)


def test_a_token_given_in_the_server_path_is_never_shown(db: str) -> None:
    """`serve` takes the token as a `/t/TOKEN` path prefix, so a user may well point `watch
    --server` at ws://HOST:PORT/t/TOKEN/ws. Its messages name the server: the `?token=` query was
    left out of them, the path token was printed as it came (in the "watching" line and in the
    exit-5 error a cron job logs)."""
    port = _free_port()
    url = f"ws://127.0.0.1:{port}/t/{TOKEN}/ws"
    down = invoke("watch", "--server", url, "--reconnect-for", "1")
    assert down.code == 5 and "unreachable" in down.stderr
    assert TOKEN not in down.stderr
    server = start_server(db, port, "--token", TOKEN)
    watcher = Proc("--verbose", "watch", "--server", url, "-o", "jsonl", "--timeout", "60")
    try:
        assert TOKEN not in watcher.wait_stderr("watching")
        add(db, "ada@example.com")
        assert watcher.events(1)[0]["lead"]["email"] == "ada@example.com"  # the path token was sent
        assert watcher.interrupt() == 0
        assert TOKEN not in watcher.stderr_text()
    finally:
        watcher.stop()
        server.stop()


def test_a_replay_after_the_store_file_was_replaced_by_a_newer_copy_loses_nothing(tmp_path: Path) -> None:
    """serve follows a store file replaced by a copy whose log continues (as `watch` does), and
    `?since=` replays must read that same file: they read the file that was there at the first
    replay, so a watcher reconnecting with `?since=1` after the swap got nothing of seqs 2-3."""
    import shutil

    db, copy = tmp_path / "leads.db", tmp_path / "copy.db"
    add(str(db), "a@example.com")
    port = _free_port()
    server = start_server(str(db), port)
    try:
        with connect(f"ws://127.0.0.1:{port}/ws?since=0", token=None) as first:
            assert [e["seq"] for e in receive(first, 1)] == [1]  # a replay: the file before the swap
            for suffix in ("", "-wal", "-shm"):
                if Path(f"{db}{suffix}").exists():
                    shutil.copy(f"{db}{suffix}", f"{copy}{suffix}")
            add(str(copy), "b@example.com")  # the copy moves on
            add(str(copy), "c@example.com")
            assert invoke("--db", str(copy), "count").code == 0  # checkpoint on close
            copy.replace(db)  # mv copy.db leads.db
            assert [e["seq"] for e in receive(first, 2, timeout=30)] == [2, 3]  # serve follows the new file
        with connect(f"ws://127.0.0.1:{port}/ws?since=1", token=None) as again:  # a watcher reconnecting
            add(str(db), "d@example.com")
            assert [(e["seq"], e["lead"]["email"]) for e in receive(again, 3)] == [(2, "b@example.com"), (3, "c@example.com"), (4, "d@example.com")]
    finally:
        server.stop()


def test_watch_refused_for_the_host_name_it_used_says_why_not_the_token(open_feed: tuple[int, Proc]) -> None:
    """A loopback-bound serve answers only to a loopback Host name; `127.1` reaches it but is not
    one, so it is refused (403). The user is told that, not to fix a token they never gave."""
    port, _ = open_feed
    result = invoke("watch", "--server", f"ws://127.1:{port}/ws", "--timeout", "5")
    assert result.code == 2, result.stderr
    assert "loopback" in result.stderr and "token" not in result.stderr


def test_a_server_url_watch_cannot_use_is_refused_without_echoing_its_token() -> None:
    result = invoke("watch", "--server", "ftp://feed.example:8765/t/S3CRET-TOKEN/ws?token=S3CRET-TOKEN")
    assert result.code == 2
    assert "S3CRET" not in result.stderr and "--server" in result.stderr
