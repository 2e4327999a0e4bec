"""leadcli on a database the Leads Artisan backend wrote: its documents (naive UTC datetimes,
no `version`, history without `by`, none of leadcli's extra fields) read correctly, and after
leadcli changes them they keep that backend's shape so it can still read them."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pymongo
import pytest
from bson import ObjectId
from conftest import invoke

pytestmark = pytest.mark.mongo

ARTISAN_FIELDS = {
    "_id", "name", "email", "company", "status", "engaged", "current_stage", "stage_updated_at",
    "stage_history", "last_contacted", "created_at", "updated_at",
}  # fmt: skip
CREATED = datetime(2026, 3, 2, 8, 15, 30, 250000)  # naive, UTC: how that backend stores time


def artisan_lead(name: str, email: str, stage: str = "New Lead", **extra: object) -> dict:
    return {
        "_id": ObjectId(),
        "name": name,
        "email": email,
        "company": "Analytical Engines",
        "status": "Not Engaged",
        "engaged": False,
        "current_stage": stage,
        "stage_updated_at": CREATED,
        "stage_history": [{"from_stage": None, "to_stage": stage, "changed_at": CREATED, "notes": "Lead created"}],
        "last_contacted": None,
        "created_at": CREATED,
        "updated_at": CREATED,
        **extra,
    }


@pytest.fixture
def artisan(artisan_uri: str):  # type: ignore[no-untyped-def]
    """The raw `leads` collection, written the way the backend does (a naive client)."""
    client = pymongo.MongoClient(artisan_uri)
    yield client.get_default_database().leads
    client.close()


def test_leadcli_reads_and_changes_leads_artisan_documents_keeping_their_shape(artisan_uri: str, artisan) -> None:
    owner_ref = ObjectId()
    ada = artisan_lead("Ada Lovelace", "ada@engines.io", owner_ref=owner_ref, __v=0)
    grace = artisan_lead("Grace Hopper", "grace@navy.mil", stage="Negotiation")
    artisan.insert_many([ada, grace])

    listed = invoke("--db", artisan_uri, "list", "-o", "json", "--sort", "name", "--asc")
    assert listed.code == 0, listed.stderr
    first = listed.json()[0]
    assert [x["id"] for x in listed.json()] == [str(ada["_id"]), str(grace["_id"])]
    assert first["created_at"] == "2026-03-02T08:15:30.250+00:00"
    assert first["version"] == 0 and first["tags"] == [] and first["fields"] == {} and first["phone"] is None
    assert first["stage_history"] == [
        {"from_stage": None, "to_stage": "New Lead", "changed_at": "2026-03-02T08:15:30.250+00:00", "by": None, "notes": "Lead created"}
    ]
    assert "owner_ref" not in first  # an ObjectId is not lead data a user can see or set

    shown = invoke("--db", artisan_uri, "show", "ada@engines.io", "-o", "json")
    assert shown.code == 0 and shown.json()["id"] == str(ada["_id"])
    assert invoke("--db", artisan_uri, "count", "--stage", "negotiation").stdout == "1\n"
    assert invoke("--db", artisan_uri, "search", "ENGINES", "-o", "ids").stdout.split() == [str(grace["_id"]), str(ada["_id"])]

    edited = invoke("--db", artisan_uri, "edit", "ada@engines.io", "--company", "Babbage & Co", "--tag", "vip", "-o", "json")
    assert edited.code == 0, edited.stderr
    assert edited.json()["version"] == 1
    moved = invoke("--db", artisan_uri, "edit", str(ada["_id"]), "--stage", "initial contact", "--note", "Called her", "-o", "json")
    assert moved.code == 0, moved.stderr
    assert moved.json()["version"] == 2

    doc = artisan.find_one({"_id": ada["_id"]})
    assert isinstance(doc["_id"], ObjectId)
    assert ARTISAN_FIELDS <= set(doc)
    assert doc["owner_ref"] == owner_ref and doc["__v"] == 0  # fields leadcli does not know stay untouched
    assert doc["company"] == "Babbage & Co" and doc["tags"] == ["vip"] and doc["version"] == 2
    assert doc["current_stage"] == "Initial Contact"
    for key in ("created_at", "updated_at", "stage_updated_at"):
        assert isinstance(doc[key], datetime), key
    assert doc["created_at"] == CREATED  # naive UTC in, same instant out
    assert doc["updated_at"] > CREATED and doc["stage_updated_at"] == doc["updated_at"]
    assert doc["stage_history"][0] == ada["stage_history"][0]
    last = doc["stage_history"][-1]
    assert last["from_stage"] == "New Lead" and last["to_stage"] == "Initial Contact"
    assert last["notes"] == "Called her" and last["by"] == "tester"
    assert isinstance(last["changed_at"], datetime)
    assert abs(last["changed_at"] - datetime.now(UTC).replace(tzinfo=None)).total_seconds() < 600

    # The other document was never written.
    assert artisan.find_one({"_id": grace["_id"]}) == grace


def test_versionless_documents_are_compare_and_set_too(artisan_uri: str, artisan) -> None:
    from leadcli.domain.errors import VersionConflict
    from leadcli.store.mongo import MongoStore

    lead = artisan_lead("Ada Lovelace", "ada@engines.io")
    artisan.insert_one(lead)
    store = MongoStore(artisan_uri)
    try:
        mine = store.get(str(lead["_id"]))
        theirs = store.get(str(lead["_id"]))
        assert mine["version"] == theirs["version"] == 0
        store.replace({**mine, "company": "Mine"}, 0, {"type": "lead_updated", "by": "a", "changes": {}})
        with pytest.raises(VersionConflict):
            store.replace({**theirs, "company": "Theirs"}, 0, {"type": "lead_updated", "by": "b", "changes": {}})
        assert store.get(str(lead["_id"]))["company"] == "Mine"
    finally:
        store.close()


def test_capitalised_emails_from_the_backend_still_resolve(artisan_uri: str, artisan) -> None:
    lead = artisan_lead("Ada Lovelace", "Ada@Engines.io")
    artisan.insert_one(lead)
    shown = invoke("--db", artisan_uri, "show", "ada@engines.io", "-o", "json")
    assert shown.code == 0, shown.stderr
    assert shown.json()["id"] == str(lead["_id"])


def test_doctor_explains_duplicate_emails_instead_of_crashing(artisan_uri: str, artisan) -> None:
    artisan.insert_many([artisan_lead("Ada", "ada@engines.io"), artisan_lead("Ada L.", "ada@engines.io")])
    for args in (("doctor",), ("doctor", "--fix")):
        result = invoke("--db", artisan_uri, *args)
        assert result.code == 1
        assert "Traceback" not in result.stderr
        assert result.stderr.startswith("error: emails are not unique")
        assert "ada@engines.io (2 leads)" in result.stderr
        assert re.search(r"^leads +2$", result.stdout, re.M)
    # Everything else keeps working on such a database.
    listed = invoke("--db", artisan_uri, "list", "-o", "ids")
    assert listed.code == 0 and len(listed.stdout.split()) == 2
    added = invoke("--db", artisan_uri, "add", "--name", "Grace", "--email", "grace@navy.mil", "--company", "US Navy")
    assert added.code == 0, added.stderr
    # Once the duplicate is gone, --fix builds the index and uniqueness is enforced.
    artisan.delete_one({"name": "Ada L."})
    fixed = invoke("--db", artisan_uri, "doctor", "--fix", "-o", "json")
    assert fixed.code == 0, fixed.stderr
    assert fixed.json()["email_unique"] is True and fixed.json()["problems"] == []
    assert invoke("--db", artisan_uri, "add", "--name", "Ada 2", "--email", "ada@engines.io", "--company", "Engines").code == 4


def test_stages_count_every_lead_whatever_its_value(artisan_uri: str, artisan) -> None:
    """`stages` on a database other apps write counts each lead in its stage, whatever its value
    (FerretDB groups by stage and value in one pass, issue 15): a text or boolean value, null or
    none; `stats` sums only the numbers, as MongoDB's `$sum` would."""
    values: list[object] = [1200.5, 1200.5, 300, "lots", True, None]
    artisan.insert_many([artisan_lead(f"Lead {i}", f"lead{i}@x.io", "Negotiation", value=v) for i, v in enumerate(values)])
    artisan.insert_many([artisan_lead("No Value", "novalue@x.io", "Negotiation"), artisan_lead("Won", "won@x.io", "Closed Won", value=99)])
    result = invoke("--db", artisan_uri, "stages", "-o", "json")
    assert result.code == 0, result.stderr
    counts = {row["stage"]: row["count"] for row in result.json()}
    assert (counts["Negotiation"], counts["Closed Won"], counts["New Lead"]) == (7, 1, 0)
    assert sum(counts.values()) == 8


def test_doctor_counts_the_leads_of_both_apps_on_its_one_pass(artisan_uri: str, artisan) -> None:
    """`doctor` counts the leads on the pass its checks make (issue 15: FerretDB reads every
    document for a count, so counting apart read the collection twice): the web app's and
    leadcli's alike."""
    artisan.insert_many([artisan_lead(f"Web {i}", f"web{i}@x.io") for i in range(3)])
    added = invoke("--db", artisan_uri, "add", "--name", "Cli", "--email", "cli@x.io", "--company", "C", "-o", "ids")
    assert added.code == 0, added.stderr
    report = invoke("--db", artisan_uri, "doctor", "-o", "json")
    assert report.code == 0, report.stderr
    assert report.json()["leads"] == 4
    artisan.delete_one({"email": "web0@x.io"})
    assert invoke("--db", artisan_uri, "doctor", "-o", "json").json()["leads"] == 3
