"""Issue 12 item 1: on a MongoDB store shared with the Leads Artisan web app, every lead leadcli
writes stays readable by the web app's backend (tests/artisan_backend.py stands in for it);
what it could not read is refused naming the flag or column; `doctor` names what is already
unreadable and the emails stored in case variants, and `doctor --fix` repairs what is safe."""

from __future__ import annotations

import json
from pathlib import Path

import artisan_backend as backend
import pymongo
import pytest
from bson import ObjectId
from conftest import invoke

pytestmark = pytest.mark.mongo


@pytest.fixture
def leads(artisan_uri: str):  # type: ignore[no-untyped-def]
    """The shared `leads` collection as the backend sees it (a naive client, as Motor's)."""
    client = pymongo.MongoClient(artisan_uri)
    yield client.get_default_database().leads
    client.close()


def ok(*args: str, input: str | None = None) -> str:
    result = invoke(*args, input=input)
    assert result.code == 0, result.stderr
    return result.stdout


def assert_web_app_reads_everything(leads) -> None:  # type: ignore[no-untyped-def]
    assert backend.unreadable(leads) == {}
    backend.list_page(leads)  # the page the web app opens with: no 500


def raw_lead(email: str, **fields: object) -> dict:
    """A document as some other writer left it (an older leadcli, a script)."""
    now = backend.utcnow()
    doc: dict = {"_id": ObjectId(), "name": "Someone", "email": email, "company": "Acme", "status": "Not Engaged",
                 "engaged": False, "current_stage": "New Lead", "stage_history": [], "created_at": now, "updated_at": now}  # fmt: skip
    doc.update(fields)
    return {k: v for k, v in doc.items() if v is not ...}


def test_every_leadcli_write_leaves_documents_the_web_app_can_read(artisan_uri: str, leads, tmp_path: Path) -> None:
    db = ("--db", artisan_uri)
    ok(*db, "add", "--name", "Ada Lovelace", "--email", "Ada@Engines.io", "--company", "Analytical Engines")
    assert_web_app_reads_everything(leads)
    ok(*db, "add", "--json", "-", input=json.dumps({"name": "Grace Hopper", "email": "grace@navy.mil", "company": "US Navy", "stage": "negotiation"}))
    web = backend.create(leads, {"name": "Edsger Dijkstra", "email": "Edsger.D@TUE.nl", "company": "TU Eindhoven", "current_stage": "Meeting Scheduled"})
    assert_web_app_reads_everything(leads)

    ok(*db, "edit", "ada@engines.io", "--company", "Babbage & Co", "--tag", "vip", "--field", "tier=1", "--status", "Hot lead")
    assert_web_app_reads_everything(leads)
    ok(*db, "edit", "ada@engines.io", "--unset", "status")  # the web app cannot read a null status
    assert leads.find_one({"email": "ada@engines.io"})["status"] == "Not Engaged"
    ok(*db, "edit", "ada@engines.io", "--engaged", "--unset", "status")
    assert leads.find_one({"email": "ada@engines.io"})["status"] == "Engaged"
    ok(*db, "move", "ada@engines.io", "grace@navy.mil", web.id, "--to", "closed lost", "--note", "budget")
    ok(*db, "log", web.id, "--type", "call", "--note", "talked")
    assert_web_app_reads_everything(leads)

    csv = tmp_path / "crm.csv"
    csv.write_text(
        "Name,Email,Company,Stage,Created\n"
        "Alan Turing,alan@bletchley.uk,Bletchley Park,Initial Contact,2025-01-01\n"
        "Barbara Liskov,barbara@mit.edu,MIT,New Lead,2025-01-01\n"
    )
    ok(*db, "import", str(csv))
    csv.write_text("Name,Email,Company,Stage\nAlan Turing,alan@bletchley.uk,Bletchley Park Ltd,Proposal Sent\n")
    ok(*db, "import", str(csv), "--upsert")
    ok(*db, "stale", "--days", "30", "--move-to", "negotiation", "--yes")
    assert_web_app_reads_everything(leads)
    assert leads.count_documents({}) == 5
    # The web app still updates what leadcli wrote.
    alan = leads.find_one({"email": "alan@bletchley.uk"})
    backend.update(leads, str(alan["_id"]), {"current_stage": "Closed Won", "engaged": True})
    assert_web_app_reads_everything(leads)


def test_what_the_web_app_could_not_read_is_refused_naming_the_flag(artisan_uri: str, leads) -> None:
    db = ("--db", artisan_uri)
    added = invoke(*db, "add", "--name", "Ada", "--email", "ada@engines.io")
    assert added.code == 2
    assert added.stderr.startswith("error: company is missing") and "--company" in added.stderr
    assert "web_app_compatible = false" in added.stderr  # how a store no web app shares opts out
    assert added.stderr.count("\n") == 1
    long_company = "C" * 101  # leadcli's own limit is 200; the web app's 100
    added = invoke(*db, "add", "--name", "Ada", "--email", "ada@engines.io", "--company", long_company)
    assert added.code == 2 and "company is 101 characters (at most 100)" in added.stderr
    assert leads.count_documents({}) == 0

    ok(*db, "add", "--name", "Ada", "--email", "ada@engines.io", "--company", "Engines")
    for args in (("--unset", "company"), ("--company", long_company)):
        edited = invoke(*db, "edit", "ada@engines.io", *args)
        assert edited.code == 2 and "--company" in edited.stderr, args
    assert leads.find_one({})["company"] == "Engines"
    assert_web_app_reads_everything(leads)


def test_a_lead_the_web_app_cannot_read_is_not_written_again_until_fixed(artisan_uri: str, leads) -> None:
    """A document without a company (an older leadcli wrote it): moving it together with a good
    one moves neither, naming the lead and the flag; setting the company makes it readable."""
    db = ("--db", artisan_uri)
    ok(*db, "add", "--name", "Ada", "--email", "ada@engines.io", "--company", "Engines")
    broken = raw_lead("old@leadcli.io", company=None)
    leads.insert_one(broken)
    moved = invoke(*db, "move", "ada@engines.io", "old@leadcli.io", "--to", "initial contact")
    assert moved.code == 2
    assert f"leadcli edit {broken['_id']} --company" in moved.stderr  # how to fix it
    assert {d["current_stage"] for d in leads.find({})} == {"New Lead"}
    logged = invoke(*db, "log", "old@leadcli.io", "--type", "call")
    assert logged.code == 2 and "company is missing" in logged.stderr and f"leadcli edit {broken['_id']} --company" in logged.stderr
    ok(*db, "edit", "old@leadcli.io", "--company", "Old Co")
    ok(*db, "move", "ada@engines.io", "old@leadcli.io", "--to", "initial contact")
    assert_web_app_reads_everything(leads)


def test_import_rejects_rows_the_web_app_could_not_read_naming_the_column(artisan_uri: str, leads, tmp_path: Path) -> None:
    db = ("--db", artisan_uri)
    csv = tmp_path / "leads.csv"
    csv.write_text(
        "Name,Email,Company\n"
        "Ada,ada@engines.io,Engines\n"
        "Grace,grace@navy.mil,\n"
        f"Alan,alan@bletchley.uk,{'B' * 150}\n"
    )
    result = invoke(*db, "import", str(csv), "--rejects", str(tmp_path / "rejects.csv"))
    assert result.code == 1
    assert "row 3: company is missing" in result.stderr and "Company column" in result.stderr
    assert "row 4: company is 150 characters (at most 100)" in result.stderr
    assert [d["email"] for d in leads.find({})] == ["ada@engines.io"]
    dry = invoke(*db, "import", str(csv), "--dry-run", "--upsert")
    assert dry.code == 1 and "row 3: company is missing" in dry.stderr  # a dry run says the same
    csv.write_text(f"Email,Company\nada@engines.io,{'B' * 150}\n")
    upsert = invoke(*db, "import", str(csv), "--upsert")
    assert upsert.code == 1 and "row 2: company is 150 characters" in upsert.stderr
    assert leads.find_one({})["company"] == "Engines"
    assert_web_app_reads_everything(leads)


def test_a_store_no_web_app_shares_can_opt_out(artisan_uri: str, leadcli_home: Path, leads) -> None:
    (leadcli_home / "config.toml").write_text("[mongodb]\nweb_app_compatible = false\n")
    ok("--db", artisan_uri, "add", "--name", "Ada", "--email", "ada@engines.io")
    assert leads.find_one({})["company"] is None
    shown = json.loads(ok("--db", artisan_uri, "config", "show", "-o", "json"))
    assert shown["mongodb"]["web_app_compatible"] is False
    assert "web_app_unreadable" not in json.loads(ok("--db", artisan_uri, "doctor", "-o", "json"))
    (leadcli_home / "config.toml").write_text("[mongodb]\nweb_app_compatible = 'no'\n")
    bad = invoke("--db", artisan_uri, "count")
    assert bad.code == 2 and "mongodb.web_app_compatible must be true or false" in bad.stderr


def test_doctor_names_unreadable_leads_and_case_variants_and_fix_repairs_what_is_safe(artisan_uri: str, leads) -> None:
    db = ("--db", artisan_uri)
    ok(*db, "add", "--name", "Square Two", "--email", "sq.two@x.io", "--company", "Squares")
    backend.create(leads, {"name": "Square Two", "email": "Sq.Two@x.io", "company": "Squares"})
    no_status = raw_lead("status@x.io", status=None)
    no_company = raw_lead("company@x.io", company=...)  # missing altogether
    long_name = raw_lead("name@x.io", name="N" * 120, status=None)
    leads.insert_many([no_status, no_company, long_name])
    assert set(backend.unreadable(leads)) == {str(d["_id"]) for d in (no_status, no_company, long_name)}

    result = invoke(*db, "doctor", "-o", "json")
    assert result.code == 1
    report = result.json()
    listed = "\n".join(report["web_app_unreadable"])
    assert len(report["web_app_unreadable"]) == 3
    assert f"{no_status['_id']} status@x.io: status is empty (null)" in listed
    assert f"{no_company['_id']} company@x.io: company is missing" in listed
    assert f"{long_name['_id']} name@x.io: name is 120 characters (at most 100)" in listed
    assert len(report["email_case_variants"]) == 1 and "Sq.Two@x.io" in report["email_case_variants"][0]
    assert "sq.two@x.io" in report["email_case_variants"][0]
    assert result.stderr.startswith("error: 3 leads the Leads Artisan web app cannot read")
    assert "Sq.Two@x.io / sq.two@x.io" in result.stderr or "sq.two@x.io / Sq.Two@x.io" in result.stderr

    fixed = invoke(*db, "doctor", "--fix", "-o", "json")
    assert fixed.code == 1  # a company and a name only a person can give
    assert "1 lead(s) made readable" in fixed.json()["fixed"]
    assert backend.read(leads.find_one({"_id": no_status["_id"]})).status == "Not Engaged"
    assert set(backend.unreadable(leads)) == {str(no_company["_id"]), str(long_name["_id"])}
    assert len(fixed.json()["web_app_unreadable"]) == 2

    ok(*db, "edit", str(no_company["_id"]), "--company", "Acme")
    ok(*db, "edit", str(long_name["_id"]), "--name", "Short Name")
    leads.delete_one({"email": "Sq.Two@x.io"})
    clean = invoke(*db, "doctor", "-o", "json")
    assert clean.code == 0, clean.stderr
    assert clean.json()["web_app_unreadable"] == [] and clean.json()["email_case_variants"] == []
    assert_web_app_reads_everything(leads)


def test_an_email_stored_in_case_variants_is_never_resolved_to_one_of_them(artisan_uri: str, leads) -> None:
    db = ("--db", artisan_uri)
    mine = json.loads(ok(*db, "add", "--name", "Square Two", "--email", "sq.two@x.io", "--company", "Squares", "-o", "json"))
    theirs = backend.create(leads, {"name": "Square 2", "email": "Sq.Two@x.io", "company": "Squares"})
    for args in (("show", "sq.two@x.io"), ("show", "Sq.Two@x.io"), ("edit", "SQ.TWO@x.io", "--tag", "x"), ("move", "sq.two@x.io", "--to", "negotiation")):
        result = invoke(*db, *args)
        assert result.code == 2, args
        assert "matches 2 leads stored with different capitals" in result.stderr
        assert mine["id"] in result.stderr and theirs.id in result.stderr
    assert json.loads(ok(*db, "show", theirs.id, "-o", "json"))["email"] == "Sq.Two@x.io"
    # leadcli never makes a third variant: the email is taken, whatever its capitals.
    leads.delete_one({"_id": ObjectId(mine["id"])})
    added = invoke(*db, "add", "--name", "Again", "--email", "sq.two@X.io", "--company", "Squares")
    assert added.code == 4 and "Sq.Two@x.io already exists" in added.stderr
    assert json.loads(ok(*db, "show", "sq.two@x.io", "-o", "json"))["id"] == theirs.id


@pytest.mark.parametrize("prefix_ranges", [True, False])
def test_case_variants_are_found_by_index_ranges_or_one_regex(artisan_uri: str, leads, prefix_ranges: bool) -> None:
    """MongoDB serves the capitalisations of an email's first letters as index ranges; FerretDB
    (which reads every document anyway) gets the single case-insensitive regex. Same answer."""
    from leadcli.store.mongo import MongoStore

    emails = ["Sq.Two@x.io", "sq.two@x.io", "SQ.TWO@x.io", "sq.three@x.io", "sq.two@x.io.evil", "xsq.two@x.io", "Ünï.Sq@x.io"]
    leads.insert_many([raw_lead(email) for email in emails])
    store = MongoStore(artisan_uri)
    store._indexes_serve_regex_prefixes = prefix_ranges
    try:
        assert [lead["email"] for lead in store.get_all_by_email(" SQ.two@X.io ")] == emails[:3]
        assert [lead["email"] for lead in store.get_all_by_email("ünï.sq@x.io")] == ["Ünï.Sq@x.io"]
        assert store.get_all_by_email("nobody@x.io") == []
    finally:
        store.close()


def test_get_all_by_email_is_one_lead_on_a_store_only_leadcli_writes(store) -> None:  # type: ignore[no-untyped-def]
    from leadmaker import insert, make_lead

    ada = insert(store, make_lead(email="ada@engines.io"))
    assert [lead["id"] for lead in store.get_all_by_email(" ADA@Engines.IO ")] == [ada["id"]]
    assert store.get_all_by_email("grace@navy.mil") == []


def test_an_upsert_keeps_the_web_apps_spelling_of_the_email_it_matched(artisan_uri: str, leads, tmp_path: Path) -> None:
    # Seen against the real backend: `import --upsert` of a row matching a web-made lead rewrote
    # its email to lower case, so the web app's exact-match duplicate check then missed it and a
    # web user re-entering the address as before got a second lead.
    backend.create(leads, {"name": "Edsger Dijkstra", "email": "Edsger.D@TUE.nl", "company": "TU Eindhoven"})
    csv = tmp_path / "leads.csv"
    csv.write_text("Email,Company\nEdsger.D@tue.nl,Burroughs\n")
    ok("--db", artisan_uri, "import", str(csv), "--upsert")
    stored = leads.find_one({})
    assert (stored["email"], stored["company"]) == ("Edsger.D@tue.nl", "Burroughs")
    with pytest.raises(ValueError, match="duplicate"):
        backend.create(leads, {"name": "Edsger again", "email": "Edsger.D@TUE.nl", "company": "TU Eindhoven"})
    assert_web_app_reads_everything(leads)


def test_doctor_says_how_the_web_apps_writes_are_followed(artisan_uri: str, leads) -> None:
    # Seen against the real backend on FerretDB: doctor said "poll by seq (no change streams)",
    # as if watch and serve could not see the web app's writes, while they follow them.
    result = invoke("--db", artisan_uri, "doctor", "-o", "json")
    assert result.code == 0, result.stderr
    assert "other apps' writes: " in json.loads(result.stdout)["live_updates"]


def test_edit_never_gives_a_lead_an_email_another_lead_holds_in_other_capitals(artisan_uri: str, leads) -> None:
    """`add` refuses an email the web app stored with capitals (exit 4); `edit --email` to that
    email must too, else two leads share it and every command naming it is exit 2 from then on."""
    db = ("--db", artisan_uri)
    theirs = backend.create(leads, {"name": "Mary Jane", "email": "Mary.Jane@example.com", "company": "Acme"})
    mine = json.loads(ok(*db, "add", "--name", "Other", "--email", "other@example.com", "--company", "Squares", "-o", "json"))
    result = invoke(*db, "edit", mine["id"], "--email", "mary.jane@example.com")
    assert result.code == 4, result.stderr
    assert result.stderr.startswith("error: a lead with email Mary.Jane@example.com already exists")
    assert sorted(doc["email"] for doc in leads.find({})) == ["Mary.Jane@example.com", "other@example.com"]
    assert json.loads(ok(*db, "show", "mary.jane@example.com", "-o", "json"))["id"] == theirs.id
