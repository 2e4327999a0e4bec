"""The LeadStore contract: every test runs on SQLite and on a MongoDB-wire server, so both
adapters give the same answers to the same calls."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from leadmaker import BASE, PIPELINE, event, make_lead, reference_order

from leadcli.domain.errors import Conflict, NotFound, VersionConflict
from leadcli.domain.query import SORT_FIELDS, LeadQuery


def test_insert_then_get_returns_the_same_lead(store) -> None:
    lead = make_lead(company="Analytical Engines", tags=["vip", "q3"], value=1200.5, owner="ops")
    assert store.insert(lead, event())["version"] == 1
    assert store.get(lead["id"]) == lead
    assert store.get_by_email(lead["email"].upper()) == lead
    assert store.get("0" * 24) is None
    assert store.get_by_email("nobody@example.com") is None


def test_find_by_prefix_finds_leads_whose_id_starts_with_it(store) -> None:
    first = make_lead(id="abcd0" + "0" * 19)
    second = make_lead(id="abcd1" + "0" * 19)
    other = make_lead(id="abce" + "0" * 20)
    for lead in (first, second, other):
        store.insert(lead, event())
    assert [x["id"] for x in store.find_by_prefix("abcd", limit=5)] == [first["id"], second["id"]]
    assert [x["id"] for x in store.find_by_prefix("abcd", limit=1)] == [first["id"]]
    assert [x["id"] for x in store.find_by_prefix("abcd1")] == [second["id"]]
    assert store.find_by_prefix("abcf") == []


def test_find_by_emails_finds_many_leads_in_one_call(store) -> None:
    """Bulk import looks up a whole batch of emails at once; a store answering one email per
    round trip made a 3,000-row import into MongoDB take minutes."""
    leads = [make_lead(email=f"p{i}@example.com") for i in range(3)]
    for lead in leads:
        store.insert(lead, event())
    found = store.find_by_emails([" P0@Example.com", "p2@example.com", "nobody@example.com", "p2@example.com"])
    assert sorted(lead["email"] for lead in found) == ["p0@example.com", "p2@example.com"]
    assert store.find_by_emails([]) == []


def test_duplicate_email_or_id_is_a_conflict(store) -> None:
    lead = make_lead(email="ada@example.com")
    store.insert(lead, event())
    with pytest.raises(Conflict, match="ada@example.com") as caught:
        store.insert(make_lead(email="ada@example.com"), event())
    assert not isinstance(caught.value, VersionConflict)
    with pytest.raises(Conflict, match="id"):
        store.insert({**make_lead(), "id": lead["id"]}, event())
    assert store.count(LeadQuery()) == 1


def test_replace_is_compare_and_set_on_version(store) -> None:
    lead = store.insert(make_lead(), event())
    changed = store.replace({**lead, "company": "Babbage & Co"}, 1, event("lead_updated"))
    assert changed["version"] == 2
    assert store.get(lead["id"])["company"] == "Babbage & Co"
    with pytest.raises(VersionConflict):
        store.replace({**lead, "company": "Stale"}, 1, event("lead_updated"))
    assert store.get(lead["id"])["company"] == "Babbage & Co"
    store.delete(store.get(lead["id"]), event("lead_deleted"))
    with pytest.raises(NotFound):
        store.replace({**lead, "company": "Gone"}, 2, event("lead_updated"))


def test_replace_to_an_email_another_lead_has_is_a_conflict(store) -> None:
    store.insert(make_lead(email="ada@example.com"), event())
    grace = store.insert(make_lead(email="grace@example.com"), event())
    with pytest.raises(Conflict, match="ada@example.com"):
        store.replace({**grace, "email": "ada@example.com"}, 1, event("lead_updated"))
    assert store.get(grace["id"])["email"] == "grace@example.com"


def test_delete_is_compare_and_set_too(store) -> None:
    lead = store.insert(make_lead(), event())
    store.replace({**lead, "notes": "called"}, 1, event("lead_updated"))
    with pytest.raises(VersionConflict):
        store.delete(lead, event("lead_deleted"))
    store.delete(store.get(lead["id"]), event("lead_deleted"))
    assert store.get(lead["id"]) is None
    with pytest.raises(NotFound):
        store.delete({**lead, "version": 2}, event("lead_deleted"))


@pytest.fixture
def crowd(store):
    """Six leads that differ in every filtered field."""
    day = timedelta(days=1)
    leads = {
        "ada": make_lead(name="Ada Lovelace", email="ada@engines.io", company="Analytical Engines", status="Engaged",
                         engaged=True, owner="Ops", source="web", tags=["vip", "q3"], value=5000.0,
                         current_stage="Negotiation", created_at=BASE, last_contacted=BASE + 3 * day,
                         follow_up_at=BASE + 10 * day, notes="Wants a demo"),
        "grace": make_lead(name="Grace Hopper", email="grace@navy.mil", company="US Navy", owner="ops",
                           source="referral", tags=["vip"], value=1000.0, current_stage="New Lead",
                           created_at=BASE + day, follow_up_at=BASE + 2 * day),
        "alan": make_lead(name="Alan Turing", email="alan@bletchley.uk", company="Bletchley Engines",
                          status="Cold", tags=["q3"], current_stage="Closed Won", created_at=BASE + 2 * day,
                          last_contacted=BASE + day),
        "edsger": make_lead(name="Edsger Dijkstra", email="ed@tue.nl", owner="sales", value=1000.0,
                            current_stage="Legacy Stage", created_at=BASE + 3 * day, notes="likes ENGINES"),
        "barbara": make_lead(name="Barbara Liskov", email="barbara@mit.edu", company=None, source="Web",
                             current_stage=None, created_at=BASE + 3 * day, last_contacted=BASE + 5 * day),
        "linus": make_lead(name="Linus", email="linus@kernel.org", company="Kernel", current_stage="Closed Lost",
                           created_at=BASE + 4 * day, engaged=True, status="Engaged"),
    }  # fmt: skip
    for lead in leads.values():
        store.insert(lead, event())
    return leads


def _names(store, query: LeadQuery, crowd) -> set[str]:
    by_id = {lead["id"]: name for name, lead in crowd.items()}
    found = {by_id[lead["id"]] for lead in store.query(query)}
    assert store.count(query) == len(found)
    return found


FILTERS = [
    (LeadQuery(stages=("Negotiation", "New Lead")), {"ada", "grace"}),
    (LeadQuery(status="engaged"), {"ada", "linus"}),
    (LeadQuery(engaged=True), {"ada", "linus"}),
    (LeadQuery(engaged=False), {"grace", "alan", "edsger", "barbara"}),
    (LeadQuery(owner="OPS"), {"ada", "grace"}),
    (LeadQuery(source="web"), {"ada", "barbara"}),
    (LeadQuery(tags=("vip",)), {"ada", "grace"}),
    (LeadQuery(tags=("vip", "q3")), {"ada"}),
    (LeadQuery(company="engines"), {"ada", "alan"}),
    (LeadQuery(search="engines"), {"ada", "alan", "edsger"}),
    (LeadQuery(search="NAVY"), {"grace"}),
    (LeadQuery(search="li"), {"edsger", "barbara", "linus"}),  # "likes", Liskov, Linus
    (LeadQuery(created_after=BASE + timedelta(days=3)), {"edsger", "barbara", "linus"}),
    (LeadQuery(created_before=BASE + timedelta(days=1)), {"ada"}),
    (LeadQuery(contacted_before=BASE + timedelta(days=4)), {"ada", "grace", "alan", "edsger", "linus"}),
    (LeadQuery(follow_up_before=BASE + timedelta(days=2)), {"grace"}),
    (LeadQuery(exclude_stages=("Closed Won", "Closed Lost")), {"ada", "grace", "edsger", "barbara"}),
    (LeadQuery(idle_since=BASE + timedelta(days=2)), {"grace", "alan"}),
    (LeadQuery(owner="ops", tags=("q3",), engaged=True), {"ada"}),
    (LeadQuery(ids=()), set()),
]


@pytest.mark.parametrize(("query", "expected"), FILTERS, ids=[repr(q).split("(")[1][:40] for q, _ in FILTERS])
def test_each_filter_selects_the_same_leads(store, crowd, query: LeadQuery, expected: set[str]) -> None:
    assert _names(store, query, crowd) == expected


def test_ids_filter(store, crowd) -> None:
    query = LeadQuery(ids=(crowd["ada"]["id"], crowd["linus"]["id"], "f" * 24, "not-an-id"))
    assert _names(store, query, crowd) == {"ada", "linus"}


TRICKY = [".*", "(", "%", "_", "\\", "'", '"', '{"$gt": ""}', "a|b", "[x]", "^$", "+?"]


def test_search_text_is_literal_whatever_its_characters(store) -> None:
    leads = {text: store.insert(make_lead(name=f"Lead {text} end"), event()) for text in TRICKY}
    plain = store.insert(make_lead(name="Plain Lead", company="Nothing special"), event())
    for text in TRICKY:
        found = {x["id"] for x in store.query(LeadQuery(search=text))}
        assert found == {lead["id"] for other, lead in leads.items() if text in other}, text
        assert store.count(LeadQuery(company=text)) == 0
        assert [x["id"] for x in store.query(LeadQuery(owner=text))] == []
    assert store.count(LeadQuery(search="lead")) == len(TRICKY) + 1
    assert plain["id"] not in {x["id"] for x in store.query(LeadQuery(search="%"))}


def test_status_owner_source_match_whole_values_only(store) -> None:
    store.insert(make_lead(owner="ops team", status="Engaged\n"), event())
    assert store.count(LeadQuery(owner="ops")) == 0
    assert store.count(LeadQuery(owner="OPS TEAM")) == 1
    assert store.count(LeadQuery(status="Engaged")) == 0


@pytest.mark.parametrize("sort", SORT_FIELDS)
@pytest.mark.parametrize("descending", [False, True])
def test_sorts_and_pages_follow_the_contract(store, crowd, sort: str, descending: bool) -> None:
    expected = reference_order(list(crowd.values()), sort, descending, PIPELINE)
    query = LeadQuery(sort=sort, descending=descending, stage_order=PIPELINE)
    assert [x["id"] for x in store.query(query)] == expected
    pages = [[x["id"] for x in store.query(query.page(n, 4))] for n in (1, 2, 3)]
    assert pages == [expected[:4], expected[4:], []]
    assert [x["id"] for x in store.query(query.replace(offset=1, limit=3))] == expected[1:4]
    assert list(store.query(query.replace(limit=0))) == []


def test_stage_sort_pages_across_stage_boundaries(store) -> None:
    leads = [make_lead(current_stage=stage) for stage in (*PIPELINE, None, "Legacy") for _ in range(2)]
    for lead in leads:
        store.insert(lead, event())
    for descending in (False, True):
        expected = reference_order(leads, "current_stage", descending, PIPELINE)
        query = LeadQuery(sort="current_stage", descending=descending, stage_order=PIPELINE)
        for offset in range(0, len(leads) + 1):
            for limit in (1, 3, None):
                got = [x["id"] for x in store.query(query.replace(offset=offset, limit=limit))]
                end = None if limit is None else offset + limit
                assert got == expected[offset:end], (descending, offset, limit)
        filtered = query.replace(exclude_stages=("Closed Won",), offset=3, limit=5)
        kept = [lead for lead in leads if lead["current_stage"] != "Closed Won"]
        assert [x["id"] for x in store.query(filtered)] == reference_order(kept, "current_stage", descending, PIPELINE)[3:8]


def test_count_and_stage_totals(store, crowd) -> None:
    assert store.count(LeadQuery()) == 6
    totals = store.stage_totals(LeadQuery())
    assert totals == {
        "Negotiation": (1, 5000.0),
        "New Lead": (1, 1000.0),
        "Closed Won": (1, 0.0),
        "Legacy Stage": (1, 1000.0),
        None: (1, 0.0),
        "Closed Lost": (1, 0.0),
    }
    assert store.stage_totals(LeadQuery(tags=("vip",))) == {"Negotiation": (1, 5000.0), "New Lead": (1, 1000.0)}
    # Counts alone (what `stages` shows; MongoDB then groups once, not twice): the same counts.
    counts_only = store.stage_totals(LeadQuery(), values=False)
    assert {stage: n for stage, (n, _value) in counts_only.items()} == {stage: n for stage, (n, _value) in totals.items()}


def test_events_record_every_write_in_order(store) -> None:
    assert store.last_seq() == 0
    assert store.events_after(0) == []
    lead = store.insert(make_lead(), event("lead_created"))
    store.replace({**lead, "current_stage": "Negotiation"}, 1, event("lead_stage_changed", current_stage=["New Lead", "Negotiation"]))
    store.replace({**lead, "current_stage": "Negotiation", "fields": {"a.b": "1"}, "tags": ["x"]}, 2, event("lead_updated", fields=[{}, {"a.b": "1"}], tags=[[], ["x"]]))
    store.delete(store.get(lead["id"]), event("lead_deleted"))
    events = store.events_after(0)
    assert [e["type"] for e in events] == ["lead_created", "lead_stage_changed", "lead_updated", "lead_deleted"]
    seqs = [e["seq"] for e in events]
    assert seqs == sorted(seqs) and len(set(seqs)) == 4 and seqs[0] > 0
    assert store.last_seq() == seqs[-1]
    assert all(e["lead_id"] == lead["id"] and e["by"] == "tester" for e in events)
    assert events[1]["changes"] == {"current_stage": ["New Lead", "Negotiation"]}
    assert events[2]["changes"] == {"fields": [{}, {"a.b": "1"}], "tags": [[], ["x"]]}
    assert events[1]["lead"]["current_stage"] == "Negotiation"
    assert events[3]["lead"]["version"] == 3  # the lead as it was before deletion
    assert events[0]["at"] == (BASE + timedelta(hours=1)).isoformat(timespec="milliseconds")
    assert [e["seq"] for e in store.events_after(seqs[1])] == seqs[2:]
    assert [e["seq"] for e in store.events_after(0, limit=2)] == seqs[:2]
    assert store.events_after(seqs[-1]) == []


def test_two_writers_taking_turns_number_events_without_gaps_or_repeats(store, store_uri: str) -> None:
    """Each process remembers the last seq it wrote (so an import does not look it up per
    lead); another writer in between must still get, and leave, the next number."""
    from leadcli.store import open_store

    other = open_store(store_uri)
    try:
        for i in range(3):
            store.insert(make_lead(email=f"a{i}@example.com"), event())
            other.insert(make_lead(email=f"b{i}@example.com"), event())
    finally:
        other.close()
    assert [e["seq"] for e in store.events_after(0)] == list(range(1, 7))


def test_failed_writes_record_no_event(store) -> None:
    lead = store.insert(make_lead(email="ada@example.com"), event())
    with pytest.raises(Conflict):
        store.insert(make_lead(email="ada@example.com"), event())
    with pytest.raises(VersionConflict):
        store.replace(lead, 5, event("lead_updated"))
    assert [e["type"] for e in store.events_after(0)] == ["lead_created"]


def test_find_by_emails_reads_many_leads_in_one_call(store) -> None:
    leads = [store.insert(make_lead(email=f"lead{i}@example.com"), event()) for i in range(3)]
    found = store.find_by_emails([" LEAD0@example.com", "lead2@example.com", "nobody@example.com", "lead0@example.com"])
    assert sorted(found, key=lambda x: x["email"]) == [leads[0], leads[2]]
    assert store.find_by_emails([]) == []


def test_write_batch_writes_each_lead_with_its_event_and_reports_each_failure(store) -> None:
    check_write_batch(store)


@pytest.mark.mongo
def test_mongo_bulk_write_path_writes_each_lead_and_reports_each_failure(mongo_uri: str) -> None:
    """On FerretDB the store takes a lease per updated lead; this drives MongoDB's unordered
    bulk_write path (the one real MongoDB uses) through the same cases."""
    from leadcli.store import open_store

    store = open_store(mongo_uri)
    try:
        store.write_lease = False
        check_write_batch(store)
    finally:
        store.close()


def check_write_batch(store) -> None:
    ada = store.insert(make_lead(email="ada@example.com", company="Engines"), event())
    grace = store.insert(make_lead(email="grace@example.com"), event())
    gone = store.insert(make_lead(email="gone@example.com"), event())
    store.delete(gone, event("lead_deleted"))
    new = [make_lead(email=f"new{i}@example.com", tags=["bulk"]) for i in range(3)]
    inserts = [
        (new[0], event()),
        (make_lead(email="ada@example.com"), event()),  # taken email
        (new[1], event()),
        ({**make_lead(email="fresh@example.com"), "id": grace["id"]}, event()),  # taken id
        (new[2], event()),
    ]
    updates = [
        ({**ada, "company": "Analytical"}, 1, event("lead_updated", company=["Engines", "Analytical"])),
        ({**grace, "company": "Stale"}, 4, event("lead_updated")),  # a stale version
        ({**grace, "email": "ada@example.com"}, 1, event("lead_updated")),  # another lead's email
        ({**gone, "company": "Ghost"}, 1, event("lead_updated")),  # deleted meanwhile
        ({**grace, "current_stage": "Negotiation"}, 1, event("lead_stage_changed")),
    ]
    seq = store.last_seq()
    results = store.write_batch(inserts, updates)

    assert [type(r).__name__ if r else None for r in results] == [
        None, "Conflict", None, "Conflict", None, None, "VersionConflict", "Conflict", "NotFound", None,
    ]  # fmt: skip
    assert "ada@example.com" in results[1].message and grace["id"] in results[3].message
    assert {x["email"] for x in store.query(LeadQuery(tags=("bulk",)))} == {f"new{i}@example.com" for i in range(3)}
    assert store.get(new[0]["id"]) == {**new[0], "version": 1}
    assert store.get(ada["id"])["company"] == "Analytical" and store.get(ada["id"])["version"] == 2
    assert store.get(grace["id"])["current_stage"] == "Negotiation" and store.get(grace["id"])["version"] == 2
    assert store.get_by_email("fresh@example.com") is None and store.get(gone["id"]) is None
    events = store.events_after(seq)
    assert [(e["type"], e["lead_id"]) for e in events] == [
        ("lead_created", new[0]["id"]), ("lead_created", new[1]["id"]), ("lead_created", new[2]["id"]),
        ("lead_updated", ada["id"]), ("lead_stage_changed", grace["id"]),
    ]  # fmt: skip
    assert [e["seq"] for e in events] == list(range(seq + 1, seq + 6))
    assert events[3]["changes"] == {"company": ["Engines", "Analytical"]} and events[3]["lead"]["version"] == 2
    assert store.write_batch([], []) == []


def test_activities_and_custom_fields_round_trip(store) -> None:
    fields = {"budget": 1200, "ratio": 0.5, "vip": True, "empty": None, "a.b": "dotted", "$gt": "dollar", "50%2E": "pct"}
    activities = [
        {"type": "call", "at": BASE, "by": "tester", "note": "left a message"},
        {"type": "note", "at": BASE + timedelta(minutes=5), "by": "ops", "note": None},
    ]
    lead = store.insert(make_lead(fields=fields, activities=activities), event())
    assert store.get(lead["id"])["fields"] == fields
    assert store.get(lead["id"])["activities"] == activities
    changed = {**lead, "fields": {"a.b": "changed"}, "activities": [*activities, {"type": "email", "at": BASE, "by": "x", "note": "hi"}]}
    store.replace(changed, 1, event("activity_logged"))
    stored = store.get(lead["id"])
    assert stored["fields"] == {"a.b": "changed"}
    assert len(stored["activities"]) == 3
    assert [x["id"] for x in store.query(LeadQuery(ids=(lead["id"],)))] == [lead["id"]]


def test_timestamps_round_trip_as_utc_with_milliseconds(store) -> None:
    paris = timezone(timedelta(hours=2))
    moment = datetime(2026, 6, 1, 14, 15, 16, 789000, tzinfo=paris)
    lead = store.insert(make_lead(created_at=moment, follow_up_at=moment + timedelta(days=1), last_contacted=moment), event())
    stored = store.get(lead["id"])
    for key in ("created_at", "updated_at", "stage_updated_at", "follow_up_at", "last_contacted"):
        assert stored[key].utcoffset() == timedelta(0), key
    assert stored["created_at"] == datetime(2026, 6, 1, 12, 15, 16, 789000, tzinfo=UTC)
    assert stored["stage_history"][0]["changed_at"] == moment
    assert store.count(LeadQuery(created_after=moment)) == 1
    assert store.count(LeadQuery(created_after=moment + timedelta(milliseconds=1))) == 0
    assert store.count(LeadQuery(created_before=moment + timedelta(milliseconds=1))) == 1


def test_describe_names_the_backend_and_counts_leads(store) -> None:
    store.insert(make_lead(), event())
    report = store.describe()
    assert report["backend"] in ("sqlite", "mongodb")
    assert report["leads"] == 1
    assert report["server_version"]
    assert any("email" in index for index in report["indexes"])


def test_concurrent_compare_and_set_writers_lose_no_update(store_uri: str) -> None:
    """On FerretDB v1, whose updates are a read then a write, this holds through the per-lead
    write lease (mongo_lease); on SQLite and real MongoDB through compare-and-set alone."""
    import threading

    from leadcli.store import open_store

    first = open_store(store_uri)
    lead = first.insert(make_lead(value=0.0), event())
    writers, increments, failures = 4, 10, []

    def bump() -> None:
        mine = open_store(store_uri)
        try:
            for _ in range(increments):
                while True:
                    current = mine.get(lead["id"])
                    try:
                        mine.replace({**current, "value": current["value"] + 1}, current["version"], event("lead_updated"))
                        break
                    except VersionConflict:
                        continue
        except Exception as exc:  # reported below: a thread's exception would otherwise vanish
            failures.append(exc)
        finally:
            mine.close()

    threads = [threading.Thread(target=bump) for _ in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    events = first.events_after(0, limit=1000)
    final = first.get(lead["id"])
    first.close()
    # Every successful write got its own event number, in order, without gaps…
    assert [e["seq"] for e in events] == list(range(1, 2 + writers * increments))
    # …and no write was lost.
    assert final["value"] == writers * increments
    assert final["version"] == 1 + writers * increments
