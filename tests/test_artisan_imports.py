"""Issue 12 item 4: what the Leads Artisan web app wrote or exported works in leadcli: a
leadcli backup (`export -o jsonl`) of a web-app database restores into either store, the web
app's own CSV export imports as it is, and its history (naive ISO `changed_at`, no
`stage_updated_at`) reads with UTC offsets and counts in `stats`."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import artisan_backend as backend
import pymongo
import pytest
from conftest import invoke

STAGES = backend.STAGES


def ok(*args: str, input: str | None = None) -> str:
    result = invoke(*args, input=input)
    assert result.code == 0, result.stderr
    return result.stdout


@pytest.fixture
def leads(artisan_uri: str):  # type: ignore[no-untyped-def]
    client = pymongo.MongoClient(artisan_uri)
    yield client.get_default_database().leads
    client.close()


def web_app_database(leads) -> list[str]:  # type: ignore[no-untyped-def]
    """Leads as the web app makes them: created in a stage (generated history), one moved and
    engaged afterwards, one contacted."""
    start = backend.utcnow() - timedelta(days=10)
    ids = [
        backend.create(leads, {"name": "Ada Lovelace", "email": "Ada.L@Engines.io", "company": "Analytical Engines",
                               "current_stage": "Proposal Sent", "stage_updated_at": start.isoformat()}, now=start).id,
        backend.create(leads, {"name": "Grace Hopper", "email": "grace@navy.mil", "company": "US Navy",
                               "last_contacted": "2026-11-01T15:30:00"}, now=start).id,
    ]  # fmt: skip
    backend.update(leads, ids[0], {"current_stage": "Negotiation", "engaged": True}, now=start + timedelta(days=6))
    return ids


@pytest.mark.mongo
def test_web_app_history_reads_with_utc_offsets_and_counts_in_stats(artisan_uri: str, leads) -> None:
    ada, _grace = web_app_database(leads)
    assert isinstance(leads.find_one({"email": "Ada.L@engines.io"})["stage_history"][0]["changed_at"], str)
    history = json.loads(ok("--db", artisan_uri, "history", ada, "-o", "json"))
    assert [e["to_stage"] for e in history] == [*STAGES[:4], "Negotiation"]
    for entry in history:
        assert entry["changed_at"].endswith("+00:00") and len(entry["changed_at"]) == len("2026-12-01T00:43:32.194+00:00")
    shown = json.loads(ok("--db", artisan_uri, "show", ada, "-o", "json"))
    # The backend left stage_updated_at at creation; the history says when the stage began.
    assert shown["stage_updated_at"] == history[-1]["changed_at"]
    table = ok("--db", artisan_uri, "history", ada)  # in a pipe: plain text, the same timestamps
    assert all(entry["changed_at"] in table for entry in history)

    stats = json.loads(ok("--db", artisan_uri, "stats", "-o", "json"))
    days = {row["stage"]: row["avg_days"] for row in stats["stages"]}
    # Ada: New Lead, Initial Contact and Meeting Scheduled a day each (back-dated by the
    # backend), Proposal Sent 6 days, Negotiation the 4 days since; Grace 10 days in New Lead.
    assert days["Initial Contact"] == days["Meeting Scheduled"] == 1.0
    assert days["New Lead"] == pytest.approx((1 + 10) / 2, abs=0.01)
    assert days["Proposal Sent"] == 6.0
    assert days["Negotiation"] == pytest.approx(4.0, abs=0.01)


@pytest.mark.mongo
@pytest.mark.parametrize("target", ["sqlite", "mongo"])
def test_a_backup_of_a_web_app_database_restores_into_either_store(artisan_uri: str, leads, target: str, tmp_path: Path) -> None:
    ids = web_app_database(leads)
    backup = ok("--db", artisan_uri, "export", "-o", "jsonl")
    exported = [json.loads(line) for line in backup.splitlines()]
    assert sorted(e["id"] for e in exported) == sorted(ids) and {e["version"] for e in exported} == {0}
    if target == "sqlite":
        into = str(tmp_path / "restored.db")
    else:  # the same database, emptied: the backup-and-restore recipe
        leads.delete_many({})
        into = artisan_uri
    result = invoke("--db", into, "import", "-", "--format", "jsonl", input=backup)
    assert result.code == 0, result.stderr
    restored = {e["id"]: e for e in map(json.loads, ok("--db", into, "export", "-o", "jsonl").splitlines())}
    assert set(restored) == set(ids)
    for before in exported:
        after = restored[before["id"]]
        assert after["email"] == before["email"].lower()  # leadcli stores emails lowercased
        for key in ("name", "company", "status", "engaged", "current_stage", "stage_updated_at",
                    "stage_history", "last_contacted", "created_at", "updated_at"):  # fmt: skip
            assert after[key] == before[key], key
    if target == "mongo":
        assert backend.unreadable(leads) == {}
        # Restoring again with --upsert changes nothing.
        again = invoke("--db", into, "import", "-", "--format", "jsonl", "--upsert", input=backup)
        assert again.code == 0 and "2 unchanged" in again.stderr, again.stderr


def web_export(leads: list[backend.ArtisanLead]) -> str:
    return backend.export_csv(leads)


def artisan_lead(name: str, email: str, company: str, stage: str = "New Lead", engaged: bool = False, contacted: str | None = None) -> backend.ArtisanLead:
    now = backend.utcnow()
    return backend.ArtisanLead(id="0" * 24, name=name, email=email, company=company, current_stage=stage, engaged=engaged,
                               last_contacted=contacted, created_at=now, updated_at=now)  # fmt: skip


def test_the_web_apps_own_csv_export_imports_as_it_is(store_uri: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEADCLI_TIMEZONE", "UTC")  # the browser wrote its local day; here UTC
    export = web_export([
        artisan_lead("Ada Lovelace", "ada@engines.io", "Analytical Engines", "Proposal Sent", True, "2026-11-01T09:00:00"),
        artisan_lead("Grace Hopper", "Grace.H@navy.mil", "US Navy", "Initial Contact"),
        artisan_lead("Alan Turing", "alan@acme.io", "Acme, Inc.", "Closed Won", True, "2026-11-26T23:00:00"),
        artisan_lead("Edsger Dijkstra, PhD", "edsger@tue.nl", "TU Eindhoven", "Negotiation"),
    ])  # fmt: skip
    assert export.splitlines()[1] == "Ada Lovelace,Analytical Engines,Proposal Sent,Yes,Nov 1, 2026,ada@engines.io"
    path = tmp_path / "all-leads-2026-12-01.csv"
    path.write_text(export)
    result = invoke("--db", store_uri, "import", str(path))
    assert result.code == 0, result.stderr
    got = {lead["email"]: lead for lead in json.loads(ok("--db", store_uri, "list", "--all", "-o", "json"))}
    assert set(got) == {"ada@engines.io", "grace.h@navy.mil", "alan@acme.io", "edsger@tue.nl"}
    ada, grace, alan, edsger = got["ada@engines.io"], got["grace.h@navy.mil"], got["alan@acme.io"], got["edsger@tue.nl"]
    assert (ada["company"], ada["current_stage"], ada["engaged"], ada["status"]) == ("Analytical Engines", "Proposal Sent", True, "Engaged")
    assert ada["last_contacted"] == "2026-11-01T00:00:00.000+00:00"
    assert grace["last_contacted"] is None and grace["engaged"] is False  # `-`: never contacted
    assert alan["company"] == "Acme, Inc." and alan["last_contacted"] == "2026-11-26T00:00:00.000+00:00"
    assert edsger["name"] == "Edsger Dijkstra, PhD" and edsger["company"] == "TU Eindhoven"
    assert all(lead["fields"] == {} for lead in got.values())
    # Re-importing the same export with --upsert changes nothing.
    again = invoke("--db", store_uri, "import", str(path), "--upsert")
    assert again.code == 0 and "4 unchanged" in again.stderr, again.stderr


def test_a_web_export_row_whose_comma_cannot_be_placed_is_rejected_with_how_to_fix_it(tmp_path: Path) -> None:
    path = tmp_path / "all-leads.csv"
    path.write_text(
        backend.EXPORT_HEADER + "\n"
        "Alan Turing,Bletchley Park, Hut 8,New Lead,No,-,alan@bletchley.uk\n"
        "Ada Lovelace,Engines,New Lead,No,Nov 1, 2026,ada@engines.io\n"
    )
    result = invoke("import", str(path))
    assert result.code == 1
    assert "row 2: has 7 values but the header has 6 columns: the name or company holds a comma" in result.stderr
    assert "double quotes" in result.stderr
    assert json.loads(ok("list", "-o", "json"))[0]["email"] == "ada@engines.io"
    # Quoted as the message says, it imports.
    path.write_text(backend.EXPORT_HEADER + '\nAlan Turing,"Bletchley Park, Hut 8",New Lead,No,-,alan@bletchley.uk\n')
    ok("import", str(path))
    assert json.loads(ok("show", "alan@bletchley.uk", "-o", "json"))["company"] == "Bletchley Park, Hut 8"


def test_a_web_app_record_without_stage_updated_at_takes_it_from_its_history(store_uri: str) -> None:
    """A record as the web app's API returns it (no version, no stage_updated_at, naive UTC
    history text without notes or by) imports with its history and when its stage began."""
    history = backend.generated_history("Meeting Scheduled", backend.utcnow().replace(microsecond=194057) - timedelta(days=3))
    record = {"id": "6650f1c2a1b2c3d4e5f60718", "name": "Ada", "email": "Ada@engines.io", "company": "Engines",
              "current_stage": "Meeting Scheduled", "stage_updated_at": None, "stage_history": history}  # fmt: skip
    result = invoke("--db", store_uri, "import", "-", "--format", "jsonl", input=json.dumps(record))
    assert result.code == 0, result.stderr
    lead = json.loads(ok("--db", store_uri, "show", "6650f1c2a1b2c3d4e5f60718", "-o", "json"))
    assert [e["to_stage"] for e in lead["stage_history"]] == STAGES[:3]
    assert all(e["changed_at"].endswith(".194+00:00") for e in lead["stage_history"])
    assert lead["stage_updated_at"] == lead["stage_history"][-1]["changed_at"]


def test_upserting_the_web_export_back_onto_its_database_loses_nothing(artisan_uri: str, leads, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Seen against the real backend: a team re-importing its "Export All" file with --upsert lost
    # each custom status (its Engaged No wrote "Not Engaged" over "Hot") and moved each last
    # contact back to midnight (the file carries the day only).
    monkeypatch.setenv("LEADCLI_TIMEZONE", "UTC")
    backend.create(leads, {"name": "Ada", "email": "ada@engines.io", "company": "Engines", "last_contacted": "2026-11-01T10:30:00"})
    backend.create(leads, {"name": "Grace", "email": "grace@navy.mil", "company": "Navy"})
    ok("--db", artisan_uri, "edit", "grace@navy.mil", "--status", "Hot")
    before = json.loads(ok("--db", artisan_uri, "list", "--all", "-o", "json"))
    path = tmp_path / "all-leads-2026-12-01.csv"
    path.write_text(backend.export_csv(backend.list_page(leads)))
    result = invoke("--db", artisan_uri, "import", str(path), "--upsert")
    assert result.code == 0 and "2 unchanged" in result.stderr, result.stderr
    assert json.loads(ok("--db", artisan_uri, "list", "--all", "-o", "json")) == before
