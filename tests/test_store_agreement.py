"""SQLite and MongoDB must give the same answers to the same LeadQuery: Hypothesis generates
leads and queries (filters, sorts, pages) and compares the two adapters."""

from __future__ import annotations

import tempfile
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from leadmaker import BASE, PIPELINE, event, make_lead

from leadcli.domain.query import SORT_FIELDS, LeadQuery

pytestmark = pytest.mark.mongo

# ASCII plus the characters that are syntax in SQL LIKE, FTS, regexes or Mongo queries. (Case
# folding beyond ASCII differs by design: SQLite's NOCASE/LIKE fold ASCII only.)
ALPHABET = "aAbB .%_\\*($'\"{}"
TEXT = st.text(alphabet=ALPHABET, min_size=1, max_size=6)
STAGES = (*PIPELINE, "Legacy", None)
# Short needles that often hit (and differ in case from) the generated text.
NEEDLE = st.text(alphabet=ALPHABET, min_size=1, max_size=2) | TEXT
MINUTES = st.integers(min_value=0, max_value=5).map(lambda m: BASE + timedelta(minutes=m))


@st.composite
def leads(draw: st.DrawFn) -> list[dict]:
    out = []
    for index in range(draw(st.integers(min_value=0, max_value=9))):
        out.append(
            make_lead(
                name=draw(TEXT),
                email=f"u{index}@zz{index}.io",  # no letter the needles use
                company=draw(st.none() | TEXT),
                status=draw(st.sampled_from(["Engaged", "Not Engaged", "cold", "COLD"])),
                engaged=draw(st.booleans()),
                owner=draw(st.sampled_from([None, "ops", "OPS", "sales"])),
                source=draw(st.sampled_from([None, "web", "Referral"])),
                tags=draw(st.lists(st.sampled_from(["vip", "q3", "new"]), unique=True, max_size=3)),
                value=draw(st.sampled_from([None, 0.0, 10.0, 250.5, 1000.0])),
                notes=draw(st.none() | TEXT),
                current_stage=draw(st.sampled_from(STAGES)),
                created_at=draw(MINUTES),
                last_contacted=draw(st.none() | MINUTES),
                follow_up_at=draw(st.none() | MINUTES),
            )
        )
    return out


FILTERS = {
    "stages": st.lists(st.sampled_from([s for s in STAGES if s]), unique=True, min_size=1, max_size=3).map(tuple),
    "status": st.sampled_from(["engaged", "COLD", "not engaged"]),
    "engaged": st.booleans(),
    "owner": st.sampled_from(["ops", "Sales", "nobody"]),
    "source": st.sampled_from(["WEB", "referral"]),
    "tags": st.lists(st.sampled_from(["vip", "q3", "new"]), unique=True, min_size=1, max_size=2).map(tuple),
    "company": NEEDLE,
    "search": NEEDLE,
    "created_after": MINUTES,
    "created_before": MINUTES,
    "contacted_before": MINUTES,
    "follow_up_before": MINUTES,
    "exclude_stages": st.just(("Closed Won", "Closed Lost")),
    "idle_since": MINUTES,
}


@st.composite
def queries(draw: st.DrawFn) -> LeadQuery:
    """A few filters at a time (all of them at once would rarely match anything), a sort
    and a page."""
    names = draw(st.lists(st.sampled_from(sorted(FILTERS)), unique=True, max_size=2))
    return LeadQuery(
        **{name: draw(FILTERS[name]) for name in names},
        sort=draw(st.sampled_from(SORT_FIELDS)),
        descending=draw(st.booleans()),
        stage_order=PIPELINE,
        offset=draw(st.integers(min_value=0, max_value=10)),
        limit=draw(st.none() | st.integers(min_value=0, max_value=6)),
    )


def test_sqlite_and_mongo_agree_on_every_query(mongo_server: str) -> None:
    from leadcli.store.mongo import MongoStore
    from leadcli.store.sqlite import SqliteStore

    database = f"leadcli_agree_{uuid.uuid4().hex[:10]}"
    mongo = MongoStore(f"{mongo_server}/{database}")
    workdir = Path(tempfile.mkdtemp(prefix="leadcli-agree-"))

    @settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(data=leads(), probes=st.lists(queries(), min_size=1, max_size=4))
    def check(data: list[dict], probes: list[LeadQuery]) -> None:
        for name in ("leads", "leadcli_events"):
            mongo.db[name].delete_many({})
        sqlite = SqliteStore(workdir / f"{uuid.uuid4().hex}.db")
        try:
            for lead in data:
                sqlite.insert(lead, event())
                mongo.insert(lead, event())
            for query in probes:
                assert [x["id"] for x in mongo.query(query)] == [x["id"] for x in sqlite.query(query)], query
                assert mongo.count(query) == sqlite.count(query), query
                assert mongo.stage_totals(query) == sqlite.stage_totals(query), query
            assert [x for x in mongo.query(LeadQuery())] == [x for x in sqlite.query(LeadQuery())]
        finally:
            sqlite.close()

    try:
        check()
    finally:
        mongo.client.drop_database(database)
        mongo.close()
