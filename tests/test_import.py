"""`leadcli import`: real-shaped exports in, every rejected row reported by its spreadsheet row,
the rest written with their events, on both stores."""

from __future__ import annotations

import csv
import json
import os
import pty
import select
import signal
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from conftest import ROOT, invoke, run_process, wait_for_leads

from leadcli.services.import_rows import parse_date
from leadcli.services.importer import Importer
from leadcli.store import open_store

FIXTURES = Path(__file__).parent / "fixtures"
LEADS_ARTISAN = FIXTURES / "leads_artisan_export.csv"
CRM = FIXTURES / "crm_export.csv"


def leads_by_email(uri: str) -> dict[str, dict]:
    listed = invoke("--db", uri, "list", "--all", "-o", "json")
    assert listed.code == 0, listed.stderr
    return {lead["email"]: lead for lead in listed.json()}


def events(uri: str) -> list[dict]:
    store = open_store(uri)
    try:
        return store.events_after(0, limit=100_000)
    finally:
        store.close()


def rejected_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("row ")]


def test_a_leads_artisan_export_imports_as_it_is(store_uri: str) -> None:
    result = invoke("--db", store_uri, "import", str(LEADS_ARTISAN))

    assert result.code == 1  # one row has a stage the pipeline does not know
    assert result.stdout == ""
    assert rejected_lines(result.stderr) == [
        "row 5: unknown stage 'Qualified'; valid stages: New Lead, Initial Contact, Meeting Scheduled, "
        "Proposal Sent, Negotiation, Closed Won, Closed Lost"
    ]
    assert "import: 4 inserted, 0 updated, 0 unchanged, 1 rejected" in result.stderr
    leads = leads_by_email(store_uri)
    assert sorted(leads) == ["ada@example.com", "alan@example.com", "barbara@example.com", "grace@example.com"]
    ada, alan = leads["ada@example.com"], leads["alan@example.com"]
    assert (ada["name"], ada["company"], ada["current_stage"]) == ("Ada Lovelace", "Analytical Engines", "New Lead")
    assert (ada["engaged"], ada["status"]) == (True, "Engaged")
    assert (leads["grace@example.com"]["engaged"], leads["grace@example.com"]["status"]) == (False, "Not Engaged")
    assert alan["company"] == "Bletchley Park, Hut 8"
    assert alan["last_contacted"].startswith("2026-11-2")  # 11/26/2026 local midnight, in UTC
    assert leads["barbara@example.com"]["current_stage"] == "Closed Won"
    assert ada["stage_history"][0]["to_stage"] == "New Lead"
    assert ada["stage_history"][0]["by"] == "tester"


def test_a_crm_export_maps_aliases_and_reports_each_bad_row(store_uri: str, tmp_path: Path) -> None:
    invoke("--db", store_uri, "add", "--name", "Already Here", "--email", "taken@example.com")
    rejects = tmp_path / "rejects.csv"

    result = invoke("--db", store_uri, "import", str(CRM), "--rejects", str(rejects))

    assert result.code == 1
    lines = rejected_lines(result.stderr)
    assert [line.split(":")[0] for line in lines] == ["row 5", "row 6", "row 7", "row 8"]
    assert "not-an-email" in lines[0] and "not a valid email address" in lines[0]
    assert "name is required" in lines[1]
    assert lines[2] == "row 7: duplicate of row 2 (email jose.mueller@example.com)"
    assert "taken@example.com already exists" in lines[3] and "--upsert" in lines[3]
    assert "import: 4 inserted, 0 updated, 0 unchanged, 4 rejected" in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("error: 4 row(s) rejected")

    leads = leads_by_email(store_uri)
    jose = leads["jose.mueller@example.com"]
    assert jose["name"] == "José Müller"
    assert jose["company"] == "Müller & Söhne, GmbH"
    assert jose["current_stage"] == "Meeting Scheduled"  # a Lead Status that is a stage
    assert (jose["phone"], jose["owner"], jose["source"]) == ("+49 30 1234567", "ada", "Trade show")
    assert jose["tags"] == ["vip", "emea"]
    assert jose["fields"] == {"Record ID": "1001"}  # unknown columns are kept as custom fields
    li = leads["li.lei@example.cn"]
    assert (li["name"], li["company"]) == ("李 雷", "北京科技")
    assert (li["status"], li["current_stage"]) == ("Open", "New Lead")  # a Lead Status that is not a stage
    assert li["notes"] == 'Said "call me" after lunch,\nthen left, early'
    assert leads["zoe@example.ie"]["name"] == "Zoë O'Brien"
    assert leads["unal@example.com.tr"]["company"] == "İstanbul A.Ş."
    assert leads["taken@example.com"]["name"] == "Already Here"

    with open(rejects, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    header = next(csv.reader(CRM.open(encoding="utf-8-sig")))
    assert rows[0] == [*header, "reason"]
    assert [r[2] for r in rows[1:]] == ["not-an-email", "noname@example.com", "jose.mueller@example.com", "taken@example.com"]
    assert rows[1][-1] == lines[0].removeprefix("row 5: ")


def test_fixed_rejects_reimport_cleanly(store_uri: str, tmp_path: Path) -> None:
    rejects = tmp_path / "rejects.csv"
    invoke("--db", store_uri, "import", str(CRM), "--rejects", str(rejects))
    text = rejects.read_text(encoding="utf-8").replace("not-an-email", "bad.email@example.com")
    text = text.replace(",,noname@example.com", "Nora,Name,noname@example.com")
    rejects.write_text(text, encoding="utf-8")

    again = invoke("--db", store_uri, "import", str(rejects), "--upsert")

    assert again.code == 0, again.stderr
    assert "import: 2 inserted, 1 updated, 0 unchanged, 0 rejected" in again.stderr
    leads = leads_by_email(store_uri)
    assert leads["noname@example.com"]["name"] == "Nora Name"
    assert "reason" not in leads["noname@example.com"]["fields"]  # the added column is not data
    assert leads["jose.mueller@example.com"]["company"] == "Dup Co"  # --upsert: the later row wins


def test_upsert_updates_by_email_records_the_stage_change_and_reruns_as_a_no_op(store_uri: str, tmp_path: Path) -> None:
    assert invoke("--db", store_uri, "import", str(CRM)).code == 1
    before = leads_by_email(store_uri)
    seq_before = len(events(store_uri))
    moved = tmp_path / "moved.csv"
    moved.write_text("Email,Stage,Deal Value\nzoe@example.ie,Closed Won,\"$12,500\"\nli.lei@example.cn,new lead,\n")

    result = invoke("--db", store_uri, "import", str(moved), "--upsert")

    assert result.code == 0, result.stderr
    assert "import: 0 inserted, 1 updated, 1 unchanged, 0 rejected" in result.stderr
    zoe = leads_by_email(store_uri)["zoe@example.ie"]
    assert (zoe["current_stage"], zoe["value"], zoe["version"]) == ("Closed Won", 12500, before["zoe@example.ie"]["version"] + 1)
    assert zoe["name"] == "Zoë O'Brien"  # columns the file does not have are kept
    assert [(h["from_stage"], h["to_stage"]) for h in zoe["stage_history"]][-1] == ("Negotiation", "Closed Won")
    new_events = events(store_uri)[seq_before:]
    assert [(e["type"], e["lead_id"]) for e in new_events] == [("lead_stage_changed", zoe["id"])]
    assert new_events[0]["changes"]["current_stage"] == ["Negotiation", "Closed Won"]

    after = leads_by_email(store_uri)
    rerun = invoke("--db", store_uri, "import", str(moved), "--upsert")
    assert "import: 0 inserted, 0 updated, 2 unchanged, 0 rejected" in rerun.stderr
    assert leads_by_email(store_uri) == after
    assert len(events(store_uri)) == seq_before + 1


def test_rerunning_the_same_import_with_upsert_writes_nothing(store_uri: str) -> None:
    invoke("--db", store_uri, "import", str(LEADS_ARTISAN))
    before, seq = leads_by_email(store_uri), len(events(store_uri))

    again = invoke("--db", store_uri, "import", str(LEADS_ARTISAN), "--upsert")

    assert again.code == 1  # the unknown stage is still rejected
    assert "import: 0 inserted, 0 updated, 4 unchanged, 1 rejected" in again.stderr
    assert leads_by_email(store_uri) == before
    assert len(events(store_uri)) == seq


def test_a_duplicate_in_a_later_batch_is_rejected_naming_the_first_row(store_uri: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Emails from earlier batches are remembered outside memory (store/scratch.py) and still
    reject a later duplicate; --upsert lets the later row update instead."""
    monkeypatch.setattr(Importer.__init__, "__kwdefaults__", {**Importer.__init__.__kwdefaults__, "batch_size": 2})
    text = "Name,Email\nAda,ada@example.com\nGrace,grace@example.com\nAlan,alan@example.com\nAda Again,ADA@example.com\n"

    result = invoke("--db", store_uri, "import", "-", "--format", "csv", input=text)

    assert result.code == 1
    assert rejected_lines(result.stderr) == ["row 5: duplicate of row 2 (email ada@example.com)"]
    assert sorted(leads_by_email(store_uri)) == ["ada@example.com", "alan@example.com", "grace@example.com"]
    upserted = invoke("--db", store_uri, "import", "-", "--format", "csv", "--upsert", input=text)
    assert upserted.code == 0, upserted.stderr
    assert leads_by_email(store_uri)["ada@example.com"]["name"] == "Ada Again"


@pytest.mark.parametrize("batch_size", [10_000, 1])
@pytest.mark.parametrize("dry_run", [False, True])
def test_a_row_is_no_duplicate_of_an_earlier_row_that_was_rejected(
    store_uri: str, monkeypatch: pytest.MonkeyPatch, batch_size: int, dry_run: bool
) -> None:
    """A CRM export naming a lead twice, the first time without a name: the first row is
    rejected, so nothing is in the store under that email and the second, valid row is written,
    whether the two rows land in one batch or in two (a duplicate is of a row that wrote)."""
    monkeypatch.setattr(Importer.__init__, "__kwdefaults__", {**Importer.__init__.__kwdefaults__, "batch_size": batch_size})
    text = "Name,Email\n,ada@example.com\nAda Lovelace,ada@example.com\nGrace,grace@example.com\n"

    result = invoke("--db", store_uri, "import", "-", "--format", "csv", *(["--dry-run"] if dry_run else []), input=text)

    assert result.code == 1
    assert rejected_lines(result.stderr) == ["row 2: name is required (a Name column, or First Name and Last Name)"]
    assert "2 inserted, 0 updated, 0 unchanged, 1 rejected" in result.stderr
    if not dry_run:
        assert leads_by_email(store_uri)["ada@example.com"]["name"] == "Ada Lovelace"


@pytest.mark.parametrize("batch_size", [10_000, 1])
@pytest.mark.parametrize("dry_run", [False, True])
def test_a_file_giving_two_leads_one_id_has_the_second_rejected_whatever_the_batches(
    store_uri: str, monkeypatch: pytest.MonkeyPatch, batch_size: int, dry_run: bool
) -> None:
    """An edited export names two different leads with one id: the second row is rejected, with
    the same words, in a dry run as in the real run, and whether the rows share a batch or not."""
    monkeypatch.setattr(Importer.__init__, "__kwdefaults__", {**Importer.__init__.__kwdefaults__, "batch_size": batch_size})
    lead_id = "6650aaaaaaaaaaaaaaaaaaaa"
    text = "".join(
        json.dumps({"id": lead_id, "name": name, "email": f"{name.lower()}@example.com"}) + "\n" for name in ("Ada", "Grace")
    )

    result = invoke("--db", store_uri, "import", "-", "--format", "jsonl", *(["--dry-run"] if dry_run else []), input=text)

    assert result.code == 1
    assert rejected_lines(result.stderr) == [f"row 2: id {lead_id} belongs to another lead (ada@example.com)"]
    assert "1 inserted, 0 updated, 0 unchanged, 1 rejected" in result.stderr
    if not dry_run:
        assert set(leads_by_email(store_uri)) == {"ada@example.com"}


def test_a_dry_run_names_the_first_row_of_a_duplicate_in_a_later_batch(store_uri: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A dry run writes nothing, so the store cannot say an email came earlier in the file: the
    scratch record of first rows does, across batches, as the real run would report it."""
    monkeypatch.setattr(Importer.__init__, "__kwdefaults__", {**Importer.__init__.__kwdefaults__, "batch_size": 2})
    text = "Name,Email\nAda,ada@example.com\nGrace,grace@example.com\nAlan,alan@example.com\nAda Again,ADA@example.com\n"

    result = invoke("--db", store_uri, "import", "-", "--format", "csv", "--dry-run", input=text)

    assert result.code == 1
    assert rejected_lines(result.stderr) == ["row 5: duplicate of row 2 (email ada@example.com)"]
    assert leads_by_email(store_uri) == {}


def test_dry_run_validates_and_reports_without_writing(store_uri: str) -> None:
    result = invoke("--db", store_uri, "import", str(CRM), "--dry-run")

    assert result.code == 1
    assert len(rejected_lines(result.stderr)) == 3  # nothing is in the store yet: no row 8 conflict
    assert "dry run, nothing written: 5 inserted, 0 updated, 0 unchanged, 3 rejected" in result.stderr
    assert leads_by_email(store_uri) == {}
    assert events(store_uri) == []


def test_every_write_has_its_event(store_uri: str) -> None:
    invoke("--db", store_uri, "import", str(LEADS_ARTISAN))

    leads = leads_by_email(store_uri)
    created = events(store_uri)
    assert sorted(e["lead_id"] for e in created) == sorted(lead["id"] for lead in leads.values())
    assert {e["type"] for e in created} == {"lead_created"}
    assert all(e["by"] == "tester" for e in created)


def test_json_array_and_jsonl_from_stdin_count_records_from_one(store_uri: str) -> None:
    records = [
        {"name": "Ada", "email": "ada@example.com", "stage": "negotiation", "tags": ["vip"], "value": 10},
        ["not", "an", "object"],
        {"name": "Bob", "email": "bob@example.com", "engaged": "maybe"},
        {"Full Name": "Cy", "E-mail": "cy@example.com", "follow_up_at": "2026-12-01T09:30:00Z", "fields": {"tier": 2}},
    ]
    as_json = invoke("--db", store_uri, "import", "-", "--format", "json", input=json.dumps(records, indent=1))

    assert as_json.code == 1
    assert rejected_lines(as_json.stderr) == [
        "row 2: expected a JSON object",
        "row 3: engaged: cannot read 'maybe' as yes or no (yes/no, true/false, 1/0)",
    ]
    leads = leads_by_email(store_uri)
    assert (leads["ada@example.com"]["current_stage"], leads["ada@example.com"]["tags"]) == ("Negotiation", ["vip"])
    assert leads["cy@example.com"]["follow_up_at"] == "2026-12-01T09:30:00.000+00:00"
    assert leads["cy@example.com"]["fields"] == {"tier": 2}

    lines = '{"name": "Dee", "email": "dee@example.com"}\n\n{not json}\n{"name": "Eve", "email": "ada@example.com"}\n'
    as_jsonl = invoke("--db", store_uri, "import", "-", input=lines)  # no extension: the data says JSONL

    assert as_jsonl.code == 1
    assert [line.split(":")[0] for line in rejected_lines(as_jsonl.stderr)] == ["row 2", "row 3"]
    assert "not valid JSON" in rejected_lines(as_jsonl.stderr)[0]
    assert "dee@example.com" in leads_by_email(store_uri)


def test_map_options_and_their_errors(store_uri: str, tmp_path: Path) -> None:
    data = tmp_path / "odd.csv"
    data.write_text("Who,Mail,Pipeline Step,Internal\nAda,ada@example.com,Proposal Sent,x\n")

    mapped = invoke("--db", store_uri, "import", str(data), "--map", "who=name", "--map", "MAIL=email",
                    "--map", "Pipeline Step=current_stage", "--map", "Internal=-")  # fmt: skip

    assert mapped.code == 0, mapped.stderr
    ada = leads_by_email(store_uri)["ada@example.com"]
    assert (ada["name"], ada["current_stage"], ada["fields"]) == ("Ada", "Proposal Sent", {})
    unknown = invoke("--db", store_uri, "import", str(data), "--map", "Who=nickname")
    assert unknown.code == 2 and "--map: unknown field 'nickname'" in unknown.stderr
    missing = invoke("--db", store_uri, "import", str(data), "--map", "Nope=name")
    assert missing.code == 2 and "no column 'Nope'" in missing.stderr


def test_file_level_problems_are_usage_errors(tmp_path: Path) -> None:
    assert invoke("import", str(tmp_path / "missing.csv")).code == 2
    latin = tmp_path / "latin1.csv"
    latin.write_bytes("Name,Email\nJos\xe9,jose@example.com\n".encode("latin-1"))
    result = invoke("import", str(latin))
    assert result.code == 2 and "not UTF-8" in result.stderr
    broken = tmp_path / "broken.json"
    broken.write_text('[{"name": "A", "email": "a@example.com"}, {"name": ')
    result = invoke("import", str(broken))
    assert result.code == 2 and "not a JSON array" in result.stderr
    assert invoke("import", str(broken), "--format", "xml").code == 2


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-26", datetime(2026, 11, 26, tzinfo=UTC)),
        ("2026-11-26T13:00:00Z", datetime(2026, 11, 26, 13, tzinfo=UTC)),
        ("11/26/2026", datetime(2026, 11, 26, tzinfo=UTC)),
        ("11/26/2026 2:30 PM", datetime(2026, 11, 26, 14, 30, tzinfo=UTC)),
        ("26.11.2026", datetime(2026, 11, 26, tzinfo=UTC)),
        ("26 Nov 2026", datetime(2026, 11, 26, tzinfo=UTC)),
        ("Nov 26, 2026", datetime(2026, 11, 26, tzinfo=UTC)),
        ("never", None),
    ],
)
def test_human_dates(text: str, expected: datetime | None) -> None:
    assert parse_date(text, UTC) == expected


def test_ambiguous_or_wrong_dates_are_rejected_with_the_rule() -> None:
    with pytest.raises(ValueError, match="month first"):
        parse_date("26/11/2026", UTC)


def test_full_records_are_validated(store_uri: str) -> None:
    records = [
        {"id": "not-an-id", "name": "A", "email": "a@example.com"},
        {"name": "B", "email": "b@example.com", "stage_history": [{"to_stage": "New Lead"}]},
        {"name": "C", "email": "c@example.com", "version": -1},  # 0 is a Leads Artisan lead's: imported
        {"name": "D", "email": "d@example.com", "last_contacted": "26/11/2026"},
        {"id": "6650f1c2a1b2c3d4e5f60718", "name": "E", "email": "e@example.com", "version": 3,
         "created_at": "2025-01-02T03:04:05.678+00:00"},
        {"name": "G", "email": "g@example.com", "fields": {"score": float("nan")}},
        {"name": "H", "email": "h@example.com", "fields": {"big": 2**64}},
    ]  # fmt: skip
    result = invoke("--db", store_uri, "import", "-", "--format", "jsonl", input="\n".join(map(json.dumps, records)))

    rows = ["row 1", "row 2", "row 3", "row 4", "row 6", "row 7"]
    assert [line.split(":")[0] for line in rejected_lines(result.stderr)] == rows
    assert "id: 'not-an-id' is not a leadcli id" in result.stderr
    assert "month first" in result.stderr
    assert "row 3: version: -1 is not a whole number of 0 or more" in result.stderr
    assert "row 6: fields.score: must be text, a number" in result.stderr  # NaN is not JSON, nor a number to sort
    assert "row 7: fields: big: a whole number must fit in 64 bits" in result.stderr  # not silently a float
    e = leads_by_email(store_uri)["e@example.com"]
    assert (e["id"], e["version"], e["created_at"]) == ("6650f1c2a1b2c3d4e5f60718", 3, "2025-01-02T03:04:05.678+00:00")
    clash = invoke("--db", store_uri, "import", "-", "--format", "jsonl",
                   input=json.dumps({"id": e["id"], "name": "F", "email": "f@example.com"}))  # fmt: skip
    assert clash.code == 1 and "belongs to another lead (e@example.com)" in clash.stderr


def _write_big_csv(path: Path, rows: int) -> None:
    with open(path, "w", newline="") as f:
        out = csv.writer(f)
        out.writerow(["Name", "Email", "Stage", "Company"])
        for i in range(rows):
            out.writerow([f"Lead {i}", f"lead{i}@example.com", "Initial Contact" if i % 3 else "New Lead", f"Co {i % 50}"])


def test_an_import_killed_midway_leaves_a_consistent_store_and_upsert_completes_it(tmp_path: Path) -> None:
    rows = 30_000
    data, db = tmp_path / "big.csv", tmp_path / "leads.db"
    _write_big_csv(data, rows)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "leadcli", "--db", str(db), "import", str(data)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        wait_for_leads(db, proc)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait()
    with sqlite3.connect(db) as peek:
        partial = peek.execute("SELECT count(*) FROM leads").fetchone()[0]
        orphans = peek.execute(
            "SELECT count(*) FROM leads WHERE id NOT IN (SELECT lead_id FROM events WHERE type = 'lead_created')"
        ).fetchone()[0]
        stray_events = peek.execute("SELECT count(*) FROM events WHERE lead_id NOT IN (SELECT id FROM leads)").fetchone()[0]
    assert 0 < partial < rows, "the import should have been killed midway"
    assert (orphans, stray_events) == (0, 0)

    finished = run_process("--db", str(db), "import", str(data), "--upsert")

    assert finished.code == 0, finished.stderr
    assert f"import: {rows - partial} inserted, 0 updated, {partial} unchanged, 0 rejected" in finished.stderr
    with sqlite3.connect(db) as check:
        assert check.execute("SELECT count(*), count(DISTINCT email) FROM leads").fetchone() == (rows, rows)
        assert check.execute("SELECT count(*), count(DISTINCT lead_id) FROM events").fetchone() == (rows, rows)


def test_a_terminal_shows_progress_and_a_pipe_gets_only_the_summary(tmp_path: Path) -> None:
    """stderr on a pseudo-terminal: a progress bar while the batches go in; on a pipe (cron,
    scripts) the same import prints only its summary line."""
    rows = 25_000  # three batches, so the bar moves
    data = tmp_path / "big.csv"
    _write_big_csv(data, rows)
    main, child = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "leadcli", "--db", str(tmp_path / "tty.db"), "import", str(data)],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=child,
        env={**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "100"}, start_new_session=True,
    )  # fmt: skip
    os.close(child)
    seen = b""
    try:
        while True:
            ready, _, _ = select.select([main], [], [], 60)
            assert ready, seen.decode(errors="replace")
            try:
                chunk = os.read(main, 65536)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            seen += chunk
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(main)
    terminal = seen.decode(errors="replace")
    assert "importing" in terminal and "rows" in terminal
    assert f"import: {rows} inserted, 0 updated, 0 unchanged, 0 rejected" in terminal

    piped = run_process("--db", str(tmp_path / "pipe.db"), "import", str(data))
    assert (piped.code, piped.stderr) == (0, f"import: {rows} inserted, 0 updated, 0 unchanged, 0 rejected\n")


def test_rejects_pointed_at_the_input_is_refused_and_the_input_kept(tmp_path: Path) -> None:
    data = tmp_path / "leads.csv"
    data.write_text("Name,Email,Stage\nAda,ada@example.com,Bogus\nGrace,grace@example.com,New Lead\n", encoding="utf-8")
    before = data.read_bytes()

    result = invoke("import", str(data), "--rejects", str(tmp_path / "." / "leads.csv"))

    assert (result.code, result.stderr) == (2, f"error: --rejects: {tmp_path / '.' / 'leads.csv'} is the file being imported; name another file\n")
    assert data.read_bytes() == before
    assert invoke("count").stdout.strip() == "0"


def test_broken_quoting_rejects_its_row_and_never_swallows_rows_silently(store_uri: str, tmp_path: Path) -> None:
    """Strict CSV: a quote not doubled inside a quoted cell rejects that row and the rows after
    it still go in; a quoted cell never closed (it would run to the end of the file) is a
    rejected row naming the lines it took, not a quiet success."""
    text = (
        "Name,Email,Notes\n"
        'Ada,ada@example.com,"He said "hi" there"\n'
        'Grace,grace@example.com,"fine ""quoted"" text"\n'
        'Alan,alan@example.com,"open quote\n'
        "Edsger,edsger@example.com,x\n"
    )
    rejects = tmp_path / "rejects.csv"

    result = invoke("--db", store_uri, "import", "-", "--format", "csv", "--rejects", str(rejects), input=text)

    assert result.code == 1
    assert rejected_lines(result.stderr) == [
        'row 2: cannot read this row (line 2 of the file): a quote inside a quoted cell must be doubled ("")',
        "row 4: cannot read this row (lines 4-5 of the file): a quoted cell is never closed",
    ]
    assert "import: 1 inserted, 0 updated, 0 unchanged, 2 rejected" in result.stderr
    assert leads_by_email(store_uri)["grace@example.com"]["notes"] == 'fine "quoted" text'
    # Rows the reader could not split: their file lines exactly as they came (issue 13), not
    # blank rows a re-import then rejects as "email is required"
    assert rejects.read_text(encoding="utf-8") == (
        "Name,Email,Notes,reason\n"
        'Ada,ada@example.com,"He said "hi" there"\n'
        'Alan,alan@example.com,"open quote\n'
        "Edsger,edsger@example.com,x\n"
    )


def test_a_huge_cell_is_one_rejected_row(store_uri: str) -> None:
    text = f"Name,Email,Notes\nAda,ada@example.com,{'x' * 200_000}\nGrace,grace@example.com,short\n"

    result = invoke("--db", store_uri, "import", "-", "--format", "csv", input=text)

    assert result.code == 1
    assert rejected_lines(result.stderr) == ["row 2: notes: String should have at most 10000 characters"]
    assert sorted(leads_by_email(store_uri)) == ["grace@example.com"]


def test_a_file_that_turns_bad_midway_says_what_was_written_and_upsert_completes_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Importer.__init__, "__kwdefaults__", {**Importer.__init__.__kwdefaults__, "batch_size": 100})
    data = tmp_path / "leads.csv"
    good = "".join(f"Lead {i},lead{i}@example.com\n" for i in range(2000))
    data.write_bytes(("Name,Email\n" + good).encode() + "José,jose@example.com\n".encode("latin-1"))

    result = invoke("import", str(data))

    assert result.code == 2
    *before, error = result.stderr.splitlines()
    assert error == 'error: the file is not UTF-8 text; save it as UTF-8 ("CSV UTF-8" in Excel)'
    written = int(invoke("count").stdout)
    assert 0 < written < 2000
    assert before == [f"import stopped after reading {before[0].split()[4]} rows: {written} inserted, 0 updated so far; "
                      "import the file again with --upsert to complete it"]  # fmt: skip
    data.write_bytes(("Name,Email\n" + good + "José,jose@example.com\n").encode())
    finished = invoke("import", str(data), "--upsert")
    assert f"import: {2001 - written} inserted, 0 updated, {written} unchanged, 0 rejected" in finished.stderr


def test_a_row_with_extra_cells_keeps_them_after_the_reason_in_the_input_s_delimiter(tmp_path: Path) -> None:
    data, rejects = tmp_path / "eu.csv", tmp_path / "rejects.csv"
    data.write_text("Name;Email;Stage\nW2;w2@example.com;New Lead;extra;more\nW3;w3@example.com;New Lead\n", encoding="utf-8")

    result = invoke("import", str(data), "--rejects", str(rejects))

    assert result.code == 1
    assert rejects.read_text(encoding="utf-8").splitlines() == [
        "Name;Email;Stage;reason",
        "W2;w2@example.com;New Lead;has 5 values but the header has 3 columns;extra;more",
    ]


def test_headers_blank_lines_reason_columns_maps_and_contradictions(store_uri: str) -> None:
    """Blank lines above the header count as spreadsheet rows; a `Reason` column that is not
    last is the file's data; --map targets match any case; a contradiction names columns."""
    text = "\n\nName,Email,Reason,Engaged,Lead Status,Mail\nR1,,Referral,no,Engaged,r1@example.com\nR2,,Web,yes,Engaged,r2@example.com\n"

    result = invoke("--db", store_uri, "import", "-", "--format", "csv", "--map", "Mail=EMAIL", input=text)

    assert rejected_lines(result.stderr) == ["row 4: status 'Engaged' contradicts engaged no"]
    r2 = leads_by_email(store_uri)["r2@example.com"]
    assert (r2["fields"], r2["engaged"]) == ({"Reason": "Web"}, True)
    missing = invoke("--db", store_uri, "import", "-", "--format", "csv", "--map", "Work Mail=email", input=text)
    assert missing.code == 2 and "--map: no column 'Work Mail' in the file" in missing.stderr


def test_a_dry_run_counts_what_the_real_run_does_when_a_file_names_a_lead_twice(store_uri: str) -> None:
    invoke("--db", store_uri, "import", "-", "--format", "csv", input="Name,Email\nU1,u1@example.com\n")
    text = "Name,Email,Stage\nU1,U1@example.com,Negotiation\nU3,u3@example.com,\nU3,u3@example.com,Closed Won\nU3,u3@example.com,Closed Won\n"

    dry = invoke("--db", store_uri, "import", "-", "--format", "csv", "--upsert", "--dry-run", input=text)
    real = invoke("--db", store_uri, "import", "-", "--format", "csv", "--upsert", input=text)

    assert "dry run, nothing written: 1 inserted, 2 updated, 1 unchanged, 0 rejected" in dry.stderr
    assert "import: 1 inserted, 2 updated, 1 unchanged, 0 rejected" in real.stderr


def test_two_columns_filling_one_field_with_different_values_reject_the_row(store_uri: str) -> None:
    """A CRM export with `Email` twice (or `Email` and `E-mail`, `Tier` twice) kept only the last
    column's value: the first one was dropped without a word. The same value twice, or one of
    them blank, is no conflict."""
    text = (
        "Name,Email,Tier,E-mail,Tier\n"
        "Ada,ada@example.com,gold,ada.work@example.com,gold\n"
        "Bob,bob@example.com,gold,,silver\n"
        "Cy,cy@example.com,,cy@example.com,gold\n"
        "Di,,gold,di@example.com,\n"
    )

    result = invoke("--db", store_uri, "import", "-", "--format", "csv", input=text)

    assert result.code == 1, result.stderr
    assert rejected_lines(result.stderr) == [
        "row 2: columns 'Email' and 'E-mail' both give email, with different values: 'ada@example.com' and 'ada.work@example.com'",
        "row 3: columns 'Tier' and 'Tier' both give fields.Tier, with different values: 'gold' and 'silver'",
    ]
    leads = leads_by_email(store_uri)
    assert sorted(leads) == ["cy@example.com", "di@example.com"]
    assert leads["cy@example.com"]["fields"] == {"Tier": "gold"} and leads["di@example.com"]["fields"] == {"Tier": "gold"}


def test_rejects_of_a_leads_artisan_export_keep_each_value_under_its_column_and_reimport(store_uri: str, tmp_path: Path) -> None:
    """The web app writes `Nov 1, 2026` unquoted: such a row has 7 cells. Its rejected row was
    written as those cells with the reason after the sixth, so ` 2026` stood under Email, the
    email after the reason, and the fixed file was rejected again (8 values, 7 columns)."""
    data = tmp_path / "all-leads-2026-12-01.csv"
    data.write_text("Name,Company,Stage,Engaged,Last Contacted,Email\nAda,Acme,Closed Won,Yes,Nov 1, 2026,ada@example\nBob,Bobco,New Lead,No,-,bob@example.com\n")
    rejects = tmp_path / "rejects.csv"

    first = invoke("--db", store_uri, "import", str(data), "--rejects", str(rejects))

    assert first.code == 1, first.stderr
    rows = list(csv.DictReader(rejects.open(encoding="utf-8")))
    assert [(r["Last Contacted"], r["Email"]) for r in rows] == [("Nov 1, 2026", "ada@example")]
    rejects.write_text(rejects.read_text(encoding="utf-8").replace(",ada@example,", ",ada@example.com,"), encoding="utf-8")
    again = invoke("--db", store_uri, "import", str(rejects), env={"LEADCLI_TIMEZONE": "UTC"})
    assert again.code == 0, again.stderr
    ada = leads_by_email(store_uri)["ada@example.com"]
    assert (ada["company"], ada["current_stage"], ada["engaged"]) == ("Acme", "Closed Won", True)
    assert ada["last_contacted"].startswith("2026-11-01") and ada["fields"] == {}


def test_a_value_under_a_column_without_a_name_rejects_its_row_instead_of_vanishing(store_uri: str) -> None:
    """A spreadsheet whose notes column was never given a header imported without those notes,
    and without a word; a value past the last column is a rejected row, so is this one. Blank
    columns without a name (Excel's trailing `,,`) are still fine."""
    text = "Name,Email,,Company,\nAda,ada@example.com,call back Monday,Acme,\nBob,bob@example.com,,Bobco,\n"

    result = invoke("--db", store_uri, "import", "-", "--format", "csv", input=text)

    assert result.code == 1, result.stderr
    assert rejected_lines(result.stderr) == ["row 2: column 3 has no name in the header but holds 'call back Monday'; name it or empty it"]
    assert sorted(leads_by_email(store_uri)) == ["bob@example.com"]


def test_map_tells_apart_columns_named_in_other_scripts(store_uri: str) -> None:
    """Header names were compared with every letter outside a-z dropped, so `Имя` and `Почта`
    (or `名前` and `メール`) were the same name to --map: `--map Почта=email` sent the name
    column to email too, and the row was read with the wrong email or rejected."""
    text = "Имя,Почта,Город\nАда,ada@example.com,Лондон\n"

    result = invoke("--db", store_uri, "import", "-", "--format", "csv", "--map", "Имя=name", "--map", "Почта=email", input=text)

    assert result.code == 0, result.stderr
    ada = leads_by_email(store_uri)["ada@example.com"]
    assert (ada["name"], ada["fields"]) == ("Ада", {"Город": "Лондон"})
    missing = invoke("--db", store_uri, "import", "-", "--format", "csv", "--map", "Телефон=phone", input=text)
    assert missing.code == 2 and "--map: no column 'Телефон' in the file" in missing.stderr


def test_blank_rows_above_the_header_as_excel_saves_them_are_skipped_and_counted(store_uri: str) -> None:
    """Excel saves an empty row of a sheet as its delimiters alone (`,,,`): a sheet with a blank
    row above its header was refused as having no header row (exit 2), though blank lines above
    the header are allowed."""
    text = ",,,\r\n;  ;\r\nName,Email,Company,Notes\r\nAda,ada@example.com,Acme,\r\nBob,bob,Bobco,\r\n"

    result = invoke("--db", store_uri, "import", "-", "--format", "csv", input=text)

    assert result.code == 1, result.stderr
    assert [line[:6] for line in rejected_lines(result.stderr)] == ["row 5:"]
    assert leads_by_email(store_uri)["ada@example.com"]["company"] == "Acme"
