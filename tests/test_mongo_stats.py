r"""`stats` on MongoDB: one aggregation (store/mongo_stats.py) on a server that has date arithmetic,
the streamed Python pass (`domain.stays.stage_figures`) on FerretDB v1.

- Semantics: the pipeline, run by an aggregation engine (mongomock: FerretDB v1 cannot run it,
  and there is no MongoDB here), gives the figures `stage_figures` gives over the same documents,
  for generated leads in every shape the two apps write and some neither does: BSON dates, the
  web app's naive text with microseconds, text with offsets, `Z` or a space, text Python reads
  but the pipeline does not (summed in Python beside it), calendar-invalid text, missing stages
  and times, closed and open stages, histories out of order (clock skew), and a `now` with
  microseconds. Counts are equal; sums of seconds and values equal but for the order of float
  additions.
- Dispatch: against a scripted MongoDB wire server (mockupdb), `stage_stats` sends that one
  aggregate and its reply is the report; the odd leads it counts are read by one find; a server
  that does not know an operator gets the Python pass from then on; FerretDB never gets the
  pipeline. On the real FerretDB, tests/test_stats.py's hand-computed figures (its `mongo`
  cases) come through that fallback, and `test_ferretdb_stats_are_the_python_pass` says so.

mongomock 4.3 as the engine, and where it is not MongoDB. Its dates are faithful where the
pipeline uses them: stored to the millisecond, returned aware (tz_aware), date minus date in
milliseconds. It lacks $type, $reduce, $range, $zip, $substrCP, $strLenBytes, $toDouble,
$dateFromString (its $dateFromParts neither rolls over nor keeps milliseconds), so the pipeline
uses none of them. Gaps the pipeline is written around, each also right on MongoDB: a comparison
with a missing field drops the output field (MongoDB: missing sorts before null), so every
field is read through $ifNull; `$not: [x]` reads the array, so `$not: x`; expressions inside an
array literal are not evaluated, so a one-element array is a `$map` over `[0]`; `$mod` returns
floats, so `$toLong` follows; `$group` over no documents yields a row of zeros (MongoDB none:
`figures` reads either); `$sum` of doubles is a plain sum (MongoDB compensates: seconds are
compared to 1e-12); regexes are Python's (no `\z`, so the owner filter is not run here, and
TEXT_TIME ends with a lookahead both read alike). Not checkable here: that MongoDB still has
`$substr` (an alias of $substrBytes since 3.4; a server refusing an operator falls back to the
Python pass, code 168) and orders types in comparisons as documented.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import bson
import mockupdb
import mongomock
import pytest
from conftest import invoke
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from leadmaker import at, lead_with_moves

from leadcli.domain.errors import Failed
from leadcli.domain.query import LeadQuery
from leadcli.domain.stays import stage_figures
from leadcli.store import mongo_stats
from leadcli.store.mongo import STATS_PROJECTION, MongoStore
from leadcli.store.mongo_docs import from_document, to_document
from leadcli.store.mongo_query import lead_filter

NOW = at("2026-03-31")
STAGES = ("New Lead", "Initial Contact", "Negotiation", "Closed Won", "Closed Lost", "Legacy")
CLOSED = ("Closed Won", "Closed Lost")
MISSING = object()  # a key left out of the document


def on_mongomock(collection: Any) -> MongoStore:
    """A MongoStore whose `leads` are a mongomock collection, on a server taken for MongoDB."""
    store = MongoStore("mongodb://127.0.0.1:9/leads_db?serverSelectionTimeoutMS=100")
    store.leads = collection
    store._ferretdb = False
    return store


def mongomock_leads(docs: list[dict[str, Any]]) -> Any:
    collection = mongomock.MongoClient(tz_aware=True).leads_db.leads
    if docs:
        collection.insert_many(docs)
    return collection


def assert_same_figures(got: Any, expected: Any) -> None:
    (totals, engaged, days), (want_totals, want_engaged, want_days) = got, expected
    assert engaged == want_engaged
    assert totals.keys() == want_totals.keys()
    for stage, (n, value) in totals.items():
        assert n == want_totals[stage][0], stage
        assert math.isclose(value, want_totals[stage][1], rel_tol=1e-12), stage
    assert days.keys() == want_days.keys()
    for stage, (seconds, n) in days.items():
        assert n == want_days[stage][1], stage
        assert math.isclose(seconds, want_days[stage][0], rel_tol=1e-12, abs_tol=1e-6), stage


# -- semantics: the pipeline on an aggregation engine against the Python pass -----------------

MICROS = st.integers(min_value=0, max_value=90 * 86_400 * 10**6).map(lambda us: at("2026-01-01") + timedelta(microseconds=us))
OFFSETS = st.integers(min_value=-(23 * 60 + 59), max_value=23 * 60 + 59).map(lambda m: timezone(timedelta(minutes=m)))


def _naive(m: datetime) -> datetime:
    return m.replace(tzinfo=None)


# Times the pipeline reads itself (or, like Python, finds no time in).
TIMES = st.one_of(
    MICROS,  # a BSON date (stored to the millisecond)
    MICROS.map(lambda m: _naive(m).strftime("%Y-%m-%dT%H:%M:%S.%f")),  # the web app's stage_history text
    st.tuples(MICROS, OFFSETS, st.sampled_from(("seconds", "milliseconds", "microseconds"))).map(
        lambda t: t[0].astimezone(t[1]).isoformat(timespec=t[2])
    ),
    MICROS.map(lambda m: _naive(m).isoformat(timespec="milliseconds") + "Z"),
    MICROS.map(lambda m: _naive(m).isoformat(sep=" ")),
    st.sampled_from(("2026-02-30T10:00:00", "2025-02-29T00:00:00.000", "2100-02-29T08:00:00+01:00", "", None, 7, MISSING)),
)
# Text the pipeline leaves to Python, which reads some of it (a date alone, no seconds, one
# fraction digit, a leap day) and not the rest.
ODD_TIMES = st.one_of(
    MICROS.map(lambda m: m.date().isoformat()),
    MICROS.map(lambda m: _naive(m).isoformat(timespec="minutes")),
    MICROS.map(lambda m: _naive(m).strftime("%Y-%m-%dT%H:%M:%S.") + "5"),
    st.sampled_from(("2024-02-29T08:00", "soon", "2026-01-01T00:00:00\n")),
)


def leads(odd: bool) -> st.SearchStrategy[list[dict[str, Any]]]:
    """Lead documents; with `odd`, also in shapes the pipeline leaves to the Python pass."""
    times = st.one_of(TIMES, ODD_TIMES) if odd else TIMES
    entry = st.one_of(
        st.fixed_dictionaries({"to_stage": st.sampled_from((*STAGES, None, MISSING)), "changed_at": times, "from_stage": st.just(None)}),
        st.fixed_dictionaries({"to_stage": st.sampled_from(STAGES), "changed_at": MICROS}),
        st.sampled_from(("not an entry", 5)),
        *([st.fixed_dictionaries({"to_stage": st.just(42), "changed_at": MICROS})] if odd else []),  # a stage that is no text
    )
    values = (None, 0, 100, 2500.5, True, False, MISSING, *(("12",) if odd else ()))
    return st.lists(
        st.fixed_dictionaries(
            {
                "stage_history": st.one_of(st.lists(entry, max_size=6), st.sampled_from((None, "abc", MISSING))),
                "current_stage": st.sampled_from((*STAGES, None, MISSING)),
                "stage_updated_at": st.one_of(times, st.sampled_from(("", 0, 0.0, False, True))),
                "created_at": st.one_of(MICROS, times),
                "value": st.sampled_from(values),
                "engaged": st.sampled_from((True, False, None, 1, 0, "yes", "", MISSING)),
                "owner": st.sampled_from(("ada", "bob")),
            }
        ),
        max_size=8,
    )


def _document(spec: dict[str, Any]) -> dict[str, Any]:
    def clean(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: v for k, v in value.items() if v is not MISSING}
        if isinstance(value, list):
            return [clean(v) for v in value]
        return value

    return {key: clean(value) for key, value in spec.items() if value is not MISSING}


# Filters mongomock can run (its regexes are Python's, without `\z`: the owner filter's is
# checked as sent, in the dispatch tests below).
QUERIES = st.sampled_from((LeadQuery(), LeadQuery(stages=("New Lead", "Legacy", "Closed Won")), LeadQuery(engaged=True)))
NOWS = st.integers(min_value=0, max_value=10**6).map(lambda us: NOW + timedelta(microseconds=us))


def _check(docs: list[dict[str, Any]], query: LeadQuery, now: datetime) -> int:
    """stage_stats on the engine against stage_figures; the number of odd leads."""
    collection = mongomock_leads(docs)
    expected = stage_figures([from_document(doc) for doc in collection.find(lead_filter(query))], CLOSED, now)
    store = on_mongomock(collection)
    try:
        assert_same_figures(store.stage_stats(query, CLOSED, now), expected)
        assert store._stats_pipeline is True  # the pipeline ran, not the fallback
    finally:
        store.close()
    result = next(collection.aggregate(mongo_stats.pipeline(lead_filter(query), CLOSED, now, "New Lead")))
    return mongo_stats.figures(result)[1]


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(specs=leads(odd=False), query=QUERIES, now=NOWS)
def test_the_pipeline_alone_gives_the_python_figures(specs: list[dict[str, Any]], query: LeadQuery, now: datetime) -> None:
    assert _check([_document(spec) for spec in specs], query, now) == 0  # no lead left to Python


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(specs=leads(odd=True), query=QUERIES, now=NOWS)
def test_with_the_leads_it_leaves_to_python_the_figures_are_the_same(specs: list[dict[str, Any]], query: LeadQuery, now: datetime) -> None:
    _check([_document(spec) for spec in specs], query, now)


def test_leads_both_apps_write_are_summed_by_the_pipeline_alone() -> None:
    """leadcli's BSON dates and the web app's naive text are not left to Python."""
    leadcli = [
        lead_with_moves("a@example.com", moves=[("New Lead", "2026-03-01"), ("Initial Contact", "2026-03-11"), ("Proposal Sent", "2026-03-21T12:00")], value=5000),
        lead_with_moves("b@example.com", moves=[("New Lead", "2026-02-01"), ("Negotiation", "2026-02-15"), ("Closed Won", "2026-03-01")], value=8000, engaged=True),
    ]  # fmt: skip
    web = {
        "name": "W", "email": "w@example.com", "company": "C", "status": "Not Engaged", "engaged": False,
        "current_stage": "Initial Contact", "stage_updated_at": None, "created_at": datetime(2026, 1, 1, 8, 0),
        "stage_history": [
            {"from_stage": None, "to_stage": "New Lead", "changed_at": "2026-01-01T08:00:00.123456"},
            {"from_stage": "New Lead", "to_stage": "Initial Contact", "changed_at": "2026-01-02T08:00:00.654321"},
        ],
    }  # fmt: skip
    collection = mongomock_leads([*map(to_document, leadcli), web])
    result = next(collection.aggregate(mongo_stats.pipeline({}, CLOSED, NOW, "New Lead")))
    figures, odd = mongo_stats.figures(result)
    assert odd == 0
    assert_same_figures(figures, stage_figures([from_document(doc) for doc in collection.find()], CLOSED, NOW))
    # The web app's lead: New Lead from 08:00:00.123 to 08:00:00.654 a day later (the text's
    # microseconds truncated to milliseconds, as to_utc does), then Initial Contact to now.
    assert figures[2]["New Lead"] == (10 * 86400.0 + 86400.531 + 14 * 86400.0, 3)


def test_stage_names_are_values_in_the_pipeline() -> None:
    """A closed stage named like a field path is compared as text, never read as a field."""
    collection = mongomock_leads([to_document(lead_with_moves("a@example.com", moves=[("New Lead", "2026-03-01"), ("$stage_history", "2026-03-11")]))])
    store = on_mongomock(collection)
    try:
        _totals, _engaged, days = store.stage_stats(LeadQuery(), ("$stage_history",), NOW)
    finally:
        store.close()
    assert days == {"New Lead": (10 * 86400.0, 1)}  # the running stay in the closed stage is left out


# -- dispatch: what a MongoDB-like server is sent ---------------------------------------------


class ScriptedServer:
    """A standalone MongoDB wire server (mockupdb): `build_info` answers buildInfo, `aggregate`
    each aggregate (a reply document or an error code), `found` each find."""

    def __init__(self, build_info: dict[str, Any]) -> None:
        self.server = mockupdb.MockupDB(max_wire_version=17, min_wire_version=0, auto_ismaster=True)
        self.port = self.server.run()
        self.uri = f"mongodb://localhost:{self.port}/leads_db?serverSelectionTimeoutMS=5000"
        self.build_info = build_info
        self.aggregate: dict[str, Any] | int = {}
        self.found: list[dict[str, Any]] = []
        self.commands: list[tuple[str, dict[str, Any]]] = []
        self.lock = threading.Lock()
        self.server.autoresponds(self._answer)

    def _answer(self, request: Any) -> bool:
        doc = dict(request.doc)
        name = next(iter(doc))
        if name.lower() in ("hello", "ismaster"):
            return False  # mockupdb's own answer
        with self.lock:
            self.commands.append((name, doc))
        if name.lower() == "buildinfo":
            request.reply({"ok": 1, "version": "7.0.0", **self.build_info})
        elif name == "aggregate" and isinstance(self.aggregate, int):
            request.reply({"ok": 0, "code": self.aggregate, "errmsg": "Invalid $project :: caused by :: Unrecognized expression '$regexMatch'"})
        elif name in ("aggregate", "find", "listIndexes"):
            batch = [self.aggregate] if name == "aggregate" else self.found if doc[name] == "leads" and name == "find" else []
            request.reply({"ok": 1, "cursor": {"id": 0, "ns": f"leads_db.{doc[name]}", "firstBatch": batch}})
        else:
            request.reply({"ok": 1})
        return True

    def sent(self) -> list[str]:
        return [name for name, _doc in self.commands if name not in ("endSessions", "killCursors")]


@pytest.fixture
def scripted() -> Iterator[Callable[..., ScriptedServer]]:
    servers: list[ScriptedServer] = []

    def start(**build_info: Any) -> ScriptedServer:
        servers.append(ScriptedServer(build_info))
        return servers[-1]

    yield start
    for server in servers:
        server.server.stop()


def same_bson(a: Any, b: Any) -> bool:
    return bson.encode({"v": a}) == bson.encode({"v": b})


FACET = {
    "totals": [{"_id": "New Lead", "leads": 2, "value": 1500, "engaged": 1}, {"_id": None, "leads": 1, "value": 0, "engaged": 0}],
    "days": [{"_id": "New Lead", "seconds": 86400.5, "leads": 2}],
    "odd": [],
}
FIGURES = ({"New Lead": (2, 1500.0), None: (1, 0.0)}, 1, {"New Lead": (86400.5, 2)})
A_LEAD = to_document(lead_with_moves("a@example.com", moves=[("New Lead", "2026-03-01"), ("Closed Won", "2026-03-11")], value=200))


def stats(uri: str, query: LeadQuery, calls: int = 1) -> Any:
    store = MongoStore(uri)
    try:
        for _ in range(calls):
            figures = store.stage_stats(query, CLOSED, NOW)
        return figures
    finally:
        store.close()


def test_on_mongodb_stats_are_one_aggregate_and_its_reply_is_the_report(scripted: Callable[..., ScriptedServer]) -> None:
    server = scripted()
    server.aggregate = FACET
    query = LeadQuery(owner="ada")
    assert stats(server.uri, query) == FIGURES
    assert server.sent() == ["buildInfo", "aggregate"]
    (_name, command), = [c for c in server.commands if c[0] == "aggregate"]  # fmt: skip
    assert command["aggregate"] == "leads" and command["allowDiskUse"] is True
    assert same_bson(command["pipeline"], mongo_stats.pipeline(lead_filter(query), CLOSED, NOW, "New Lead"))


def test_the_stats_command_on_mongodb_prints_the_aggregate_s_figures(scripted: Callable[..., ScriptedServer]) -> None:
    server = scripted()
    server.aggregate = {
        "totals": [{"_id": "Proposal Sent", "leads": 2, "value": 7000, "engaged": 1}, {"_id": "Closed Won", "leads": 1, "value": 8000, "engaged": 1}],
        "days": [{"_id": "New Lead", "seconds": 3 * 86400.0 * 3, "leads": 3}, {"_id": "Proposal Sent", "seconds": 86400.0, "leads": 2}],
        "odd": [],
    }  # fmt: skip
    result = invoke("--db", server.uri, "stats", "-o", "json")
    assert result.code == 0, result.stderr
    report = result.json()
    assert (report["total"], report["engaged"], report["value"], report["win_rate"]) == (3, 2, 15000, 1.0)
    rows = {row["stage"]: (row["count"], row["value"], row["avg_days"]) for row in report["stages"]}
    assert rows["New Lead"] == (0, 0, 3.0) and rows["Proposal Sent"] == (2, 7000, 0.5) and rows["Closed Won"] == (1, 8000, None)
    assert [name for name in server.sent() if name in ("aggregate", "find")] == ["aggregate"]  # no lead read


def test_the_leads_the_pipeline_leaves_out_are_read_by_one_find_and_added(scripted: Callable[..., ScriptedServer]) -> None:
    server = scripted()
    server.aggregate = {**FACET, "odd": [{"_id": None, "leads": 1}]}
    server.found = [A_LEAD]
    query = LeadQuery(owner="ada")
    got = stats(server.uri, query)
    assert server.sent() == ["buildInfo", "aggregate", "find"]
    (_name, find), = [c for c in server.commands if c[0] == "find"]  # fmt: skip
    assert same_bson(find["filter"], {"$and": [lead_filter(query), mongo_stats.odd_filter()]})
    assert find["projection"] == STATS_PROJECTION
    python = stage_figures([from_document(A_LEAD)], CLOSED, NOW)
    assert python == ({"Closed Won": (1, 200.0)}, 0, {"New Lead": (10 * 86400.0, 1)})
    assert got == mongo_stats.merge(FIGURES, python)
    assert got == ({"New Lead": (2, 1500.0), None: (1, 0.0), "Closed Won": (1, 200.0)}, 1, {"New Lead": (86400.5 + 864000.0, 3)})


@pytest.mark.parametrize("code", [168, 238])  # InvalidPipelineOperator; NotImplemented, what FerretDB v1 answers
def test_a_server_without_an_operator_gets_the_python_pass_from_then_on(scripted: Callable[..., ScriptedServer], code: int) -> None:
    server = scripted()
    server.aggregate = code
    server.found = [A_LEAD]
    assert stats(server.uri, LeadQuery(), calls=2) == stage_figures([from_document(A_LEAD)], CLOSED, NOW)
    assert server.sent() == ["buildInfo", "aggregate", "find", "find"]
    finds = [doc for name, doc in server.commands if name == "find"]
    assert all(doc["filter"] == {} and doc["projection"] == STATS_PROJECTION for doc in finds)


def test_any_other_aggregate_error_is_an_error_not_other_figures(scripted: Callable[..., ScriptedServer]) -> None:
    server = scripted()
    server.aggregate = 2  # BadValue
    with pytest.raises(Failed, match="MongoDB at"):
        stats(server.uri, LeadQuery())
    assert "find" not in server.sent()


def test_ferretdb_is_never_sent_the_pipeline(scripted: Callable[..., ScriptedServer]) -> None:
    server = scripted(ferretdbVersion="1.24.0")
    server.found = [A_LEAD]
    assert stats(server.uri, LeadQuery(), calls=2) == stage_figures([from_document(A_LEAD)], CLOSED, NOW)
    assert server.sent() == ["buildInfo", "find", "find"]


@pytest.mark.mongo
def test_ferretdb_stats_are_the_python_pass(mongo_uri: str) -> None:
    """On the suite's FerretDB the store chooses the streamed pass (tests/test_stats.py checks
    its figures by hand on this server)."""
    store = MongoStore(mongo_uri)
    try:
        store.leads.insert_one(A_LEAD)
        assert store.stage_stats(LeadQuery(), CLOSED, NOW) == ({"Closed Won": (1, 200.0)}, 0, {"New Lead": (864000.0, 1)})
        assert store._stats_pipeline is False
    finally:
        store.close()

