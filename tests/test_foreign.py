"""Changes other apps make to a shared MongoDB `leads` collection (the Leads Artisan web app)
reach `watch` and `serve` — creates, updates, stage moves, deletes — with seq null and
`by` "(outside leadcli)", and leadcli's own writes still appear once (issue 12 item 3)."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from conftest import _free_port, invoke
from livehelp import Proc, WebApp

pytestmark = pytest.mark.mongo
OUTSIDE = "(outside leadcli)"


def _add(uri: str, email: str) -> str:
    result = invoke("--db", uri, "add", "--name", email.split("@")[0], "--email", email, "--company", "Acme", "-o", "ids")
    assert result.code == 0, result.stderr
    return result.stdout.strip()


def _check_story(events: list[dict[str, Any]], own: str, web: str) -> None:
    shown = [(e["type"], e["by"] == OUTSIDE, e["lead_id"]) for e in events]
    assert shown == [
        ("lead_created", False, own),
        ("lead_created", True, web),
        ("lead_updated", True, own),  # the web app edited leadcli's lead
        ("lead_stage_changed", True, web),
        ("lead_updated", False, own),  # leadcli's own edit: once, with its seq
        ("lead_deleted", True, web),
    ], shown
    assert [e["seq"] for e in events if e["by"] == OUTSIDE] == [None] * 4
    assert [e["seq"] for e in events if e["by"] != OUTSIDE] == [1, 2]
    assert events[2]["changes"] == {"company": ["Acme", "Acme Web"]} and events[2]["lead"]["company"] == "Acme Web"
    assert events[3]["changes"]["current_stage"] == ["New Lead", "Initial Contact"]  # (stage_updated_at moves too)
    assert events[5]["lead"]["email"] == "web@example.com"  # the lead as it was before the delete


def _story(uri: str, web: WebApp, pause: float = 0.0) -> tuple[str, str]:
    own = _add(uri, "ada@example.com")
    time.sleep(pause)
    web_id = web.create("Web Lead", "web@example.com")
    time.sleep(pause)
    web.update(own, company="Acme Web")
    time.sleep(pause)
    web.update(web_id, current_stage="Initial Contact")
    time.sleep(pause)
    assert invoke("--db", uri, "edit", own, "--status", "Engaged").code == 0
    time.sleep(pause)
    web.delete(web_id)
    return own, web_id


def _in_order(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Events in the order the writes were made (a held event may come a little later)."""
    return sorted(events, key=lambda e: e["at"])


def test_watch_shows_the_web_apps_writes_and_its_own_once(artisan_uri: str) -> None:
    web = WebApp(artisan_uri)
    watcher = Proc("--verbose", "--db", artisan_uri, "watch", "-o", "jsonl", "--timeout", "90")
    try:
        watcher.wait_stderr("watching")
        own, web_id = _story(artisan_uri, web, pause=0.3)
        events = watcher.events(6, timeout=40)
        _check_story(_in_order(events), own, web_id)
        assert watcher.interrupt() == 0
        assert watcher.rest_of_stdout() == []  # nothing twice
    finally:
        watcher.stop()
        web.close()


def test_since_still_replays_leadcli_events_losslessly_beside_web_writes(artisan_uri: str) -> None:
    web = WebApp(artisan_uri)
    try:
        _story(artisan_uri, web)
        result = invoke("--db", artisan_uri, "watch", "--since", "0", "-o", "jsonl", "--count", "2", "--timeout", "30")
        assert result.code == 0, result.stderr
        assert [json.loads(line)["seq"] for line in result.stdout.splitlines()] == [1, 2]
    finally:
        web.close()


def test_the_poll_by_updated_at_sees_the_same_story(artisan_uri: str) -> None:
    """The tail for a standalone MongoDB without an OpLog, driven here on FerretDB. It reads
    state, so it sees each write that lasts longer than its poll interval (0.5 s): the story's
    writes are a second apart, as people make them."""
    import threading

    from leadcli.domain.events import event_to_jsonable
    from leadcli.store import open_store
    from leadcli.store.mongo_changes import UpdatedAtPoll
    from leadcli.store.tail import ForeignMerge, SeqTail

    store: Any = open_store(artisan_uri)
    store.ensure_indexes()
    web = WebApp(artisan_uri)
    feed = ForeignMerge(SeqTail(store.events_after, 0, lookup=store.event_at), UpdatedAtPoll(store))
    try:
        assert feed.poll(0.5) == []  # the first read takes what is there as known
        ids: list[tuple[str, str]] = []
        writer = threading.Thread(target=lambda: ids.append(_story(artisan_uri, web, pause=1.0)))
        writer.start()
        events: list[dict[str, Any]] = []
        deadline = time.monotonic() + 60
        while len(events) < 6 and time.monotonic() < deadline:
            events += [event_to_jsonable(e) for e in feed.poll(0.5)]
        writer.join()
        _check_story(_in_order(events), *ids[0])
    finally:
        feed.close()
        web.close()
        store.close()


def test_a_browser_on_serve_hears_of_the_web_apps_writes_and_leadclis(artisan_uri: str) -> None:
    from websockets.sync.client import connect

    web = WebApp(artisan_uri)
    port = _free_port()
    server = Proc("--verbose", "--db", artisan_uri, "serve", "--port", str(port), "--allow-origin", "http://localhost:5173")
    try:
        server.wait_stderr("serving events")
        with connect(f"ws://127.0.0.1:{port}/api/v1/ws/user-7", origin="http://localhost:5173", open_timeout=10) as browser:  # type: ignore[arg-type]
            time.sleep(1.0)  # the server's tail is running
            web_id = web.create("Web Lead", "web@example.com")
            first = json.loads(browser.recv(timeout=20))
            own = _add(artisan_uri, "ada@example.com")
            second = json.loads(browser.recv(timeout=20))
        got = sorted([first, second], key=lambda m: m["lead"]["email"])
        assert [(m["type"], m["lead"]["id"]) for m in got] == [("create", own), ("create", web_id)]
        assert got[0]["userId"].startswith("leadcli:") and got[1]["userId"] == OUTSIDE
    finally:
        server.stop()
        web.close()
