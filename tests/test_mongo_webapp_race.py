"""No lost updates between leadcli and the Leads Artisan web app on one MongoDB database.

The backend updates a lead with `find_one_and_update` and `$set` of only the fields sent plus
`updated_at = datetime.utcnow()` (naive; BSON keeps milliseconds), and never reads or bumps
leadcli's `version`. leadcli edits of OTHER fields of the same lead, racing it, must never roll
a web value back: leadcli writes only what it changed and sees the web write by `updated_at`.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pymongo
import pytest
from bson import ObjectId
from conftest import invoke
from pymongo import ReturnDocument

from leadcli.store import mongo

pytestmark = pytest.mark.mongo


class Backend:
    """Writes as the Leads Artisan backend does (its own naive-datetime client)."""

    def __init__(self, uri: str) -> None:
        self.client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(uri, serverSelectionTimeoutMS=5000)
        self.leads = self.client.get_default_database()["leads"]

    def create(self, name: str, email: str, company: str) -> str:
        now = datetime.utcnow()  # noqa: DTZ003 - what the backend does
        doc = {
            "name": name, "email": email, "company": company, "status": "Not Engaged", "engaged": False,
            "current_stage": "New Lead", "stage_updated_at": None, "last_contacted": None,
            "stage_history": [{"from_stage": None, "to_stage": "New Lead", "changed_at": now.isoformat()}],
            "created_at": now, "updated_at": now,
        }  # fmt: skip
        return str(self.leads.insert_one(doc).inserted_id)

    def update(self, lead_id: str, **fields: Any) -> dict[str, Any] | None:
        update = {"$set": {**fields, "updated_at": datetime.utcnow()}}  # noqa: DTZ003
        return self.leads.find_one_and_update({"_id": ObjectId(lead_id)}, update, return_document=ReturnDocument.AFTER)

    def read(self, lead_id: str) -> dict[str, Any]:
        doc = self.leads.find_one({"_id": ObjectId(lead_id)})
        assert doc is not None
        return doc


@pytest.fixture
def backend(mongo_uri: str) -> Iterator[Backend]:
    web = Backend(mongo_uri)
    yield web
    web.client.close()


def between_read_and_write(monkeypatch: pytest.MonkeyPatch, method: str, web_write: Any) -> dict[str, int]:
    """Run `web_write()` right after leadcli's first read of the lead (the real interleaving)."""
    real = getattr(mongo.MongoStore, method)
    state = {"armed": 0, "fired": 0}

    def read_then_web_write(self: Any, *args: Any, **kwargs: Any) -> Any:
        result = real(self, *args, **kwargs)
        if state["armed"]:
            state["armed"] = 0
            state["fired"] += 1
            web_write()
        return result

    monkeypatch.setattr(mongo.MongoStore, method, read_then_web_write)
    return state


@pytest.mark.parametrize("made_by", ["web app", "leadcli"])
def test_a_web_write_between_leadcli_read_and_write_is_never_rolled_back(
    made_by: str, mongo_uri: str, backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    if made_by == "web app":  # no `version`: leadcli sees it as version 0
        lead_id = backend.create("Ada", "ada@example.com", "Web 0")
    else:
        lead_id = invoke("--db", mongo_uri, "add", "--name", "Ada", "--email", "ada@example.com", "--company", "Web 0", "-o", "ids").stdout.strip()
    rounds = 12
    web = {"n": 0}

    def web_write() -> None:
        web["n"] += 1
        backend.update(lead_id, company=f"Web {web['n']}", engaged=web["n"] % 2 == 1)

    state = between_read_and_write(monkeypatch, "get", web_write)
    for i in range(rounds):
        state["armed"] = 1
        edit = ["--owner", f"owner-{i}"] if i % 3 else ["--add-tag", f"t{i}"]
        if i % 4 == 3:
            edit = ["--stage", "initial-contact" if i % 8 == 3 else "new-lead"]
        result = invoke("--db", mongo_uri, "edit", lead_id, *edit, "-o", "json")
        assert result.code == 0, result.stderr
        stored = backend.read(lead_id)
        # The web app's value survived leadcli's write, and leadcli's own change is there.
        assert stored["company"] == f"Web {web['n']}" and stored["engaged"] == (web["n"] % 2 == 1)
        if edit[0] == "--owner":
            assert stored["owner"] == f"owner-{i}"
        elif edit[0] == "--add-tag":
            assert f"t{i}" in stored["tags"]
    assert state["fired"] == rounds
    # leadcli saw each web write and retried over it, so its edits all landed once.
    final = backend.read(lead_id)
    assert final["version"] == (0 if made_by == "web app" else 1) + rounds
    assert final["tags"] == [f"t{i}" for i in range(rounds) if i % 3 == 0 and i % 4 != 3]


def test_a_web_write_during_an_upsert_import_is_kept(mongo_uri: str, backend: Backend, tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    lead_id = backend.create("Ada", "ada@example.com", "Web 0")
    state = between_read_and_write(monkeypatch, "find_by_emails", lambda: backend.update(lead_id, company="Web 1"))
    state["armed"] = 1
    rows = tmp_path / "rows.csv"
    rows.write_text("Name,Email,Owner\nAda,ada@example.com,grace\n")
    result = invoke("--db", mongo_uri, "import", str(rows), "--upsert")
    assert result.code == 0, result.stderr
    stored = backend.read(lead_id)
    assert state["fired"] == 1 and stored["company"] == "Web 1" and stored["owner"] == "grace"


def test_leadcli_edits_racing_web_writes_of_other_fields_never_roll_one_back(mongo_uri: str, backend: Backend) -> None:
    lead_id = backend.create("Ada", "ada@example.com", "Web 0")
    ferretdb = "ferretdbVersion" in backend.client.admin.command("buildInfo")
    confirmed = {"n": 0}
    stop = threading.Event()
    errors: list[str] = []

    def web_user() -> None:
        n = 0
        while not stop.is_set():
            n += 1
            if backend.update(lead_id, company=f"Web {n}") is None:
                errors.append("lead vanished")
                return
            confirmed["n"] = n
            stop.wait(0.01)  # web users saving forms, many times a second all the same

    thread = threading.Thread(target=web_user)
    thread.start()
    conflicts = 0
    try:
        for i in range(25):
            seen_before = confirmed["n"]
            result = invoke("--db", mongo_uri, "edit", lead_id, "--owner", f"owner-{i}", "--field", f"k{i % 3}=v{i}")
            # Either written, or (outpaced by the web writer 8 times running) a conflict, exit 4.
            assert result.code in (0, 4), result.stderr
            stored = backend.read(lead_id)
            if not ferretdb:  # FerretDB's own read-then-write race, below, can lose either side's write
                assert int(stored["company"].split()[1]) >= seen_before, "leadcli rolled a web value back"
            if result.code == 4:
                assert stored.get("owner") != f"owner-{i}" and "kept changing" in result.stderr
                conflicts += 1
            elif not ferretdb:
                # FerretDB v1 runs the backend's find_one_and_update itself as a read, then a
                # write of the whole document: a leadcli write landing in between is lost to
                # the backend's stale copy — FerretDB's race, which no client can close.
                assert stored.get("owner") == f"owner-{i}"
    finally:
        stop.set()
        thread.join()
    assert not errors and conflicts < 25
    if not ferretdb:  # there the injected interleavings above are the proof
        stored = backend.read(lead_id)
        assert stored["company"] == f"Web {confirmed['n']}"
