"""`stats` against figures worked out by hand from five leads with fixed histories and a frozen
"now" (passed to the service), plus the command's JSON shape and its table in a pipe."""

from __future__ import annotations

import io
import re
from datetime import timedelta
from typing import Any

import pytest
from conftest import invoke
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from leadmaker import at, insert, lead_with_moves

NOW = at("2026-03-31")


@pytest.fixture
def funnel(store: Any) -> None:
    leads = [
        # L1: New Lead since 1 Mar -> New Lead 30 days (to NOW, open stage).
        lead_with_moves("l1@example.com", created="2026-03-01", value=1000),
        # L2: New Lead 10 d, Initial Contact 10.5 d (11 Mar -> 21 Mar 12:00), Proposal Sent 9.5 d (to NOW).
        lead_with_moves(
            "l2@example.com",
            moves=[("New Lead", "2026-03-01"), ("Initial Contact", "2026-03-11"), ("Proposal Sent", "2026-03-21T12:00")],
            value=5000, engaged=True, owner="ada",
        ),  # fmt: skip
        # L3: New Lead 4 d, Initial Contact 10 d, Negotiation 14 d (15 Feb -> 1 Mar, 2026 is not a
        # leap year), then Closed Won: a closed current stage does not count.
        lead_with_moves(
            "l3@example.com",
            moves=[("New Lead", "2026-02-01"), ("Initial Contact", "2026-02-05"), ("Negotiation", "2026-02-15"), ("Closed Won", "2026-03-01")],
            value=8000, engaged=True, owner="ada",
        ),  # fmt: skip
        # L4: New Lead 2 d, Negotiation 7 d, back to Proposal Sent 2 d, Negotiation again 8 d
        # (the lead's Negotiation total is 7 + 8 = 15 d), then Closed Lost (not counted).
        lead_with_moves(
            "l4@example.com",
            moves=[("New Lead", "2026-02-01"), ("Negotiation", "2026-02-03"), ("Proposal Sent", "2026-02-10"), ("Negotiation", "2026-02-12"), ("Closed Lost", "2026-02-20")],
            value=2000,
        ),  # fmt: skip
        # L5: New Lead 10 d, Closed Lost 10 d (reopened: a finished stay counts), then Initial
        # Contact from 21 Jan to NOW = 11 (Jan) + 28 (Feb) + 30 (Mar) = 69 d. No value.
        lead_with_moves("l5@example.com", moves=[("New Lead", "2026-01-01"), ("Closed Lost", "2026-01-11"), ("Initial Contact", "2026-01-21")]),
    ]
    for lead in leads:
        insert(store, lead)


def stats_at_now(store_uri: str, **filters: Any) -> dict[str, Any]:
    from leadcli.config import load_settings
    from leadcli.services.context import Workspace
    from leadcli.services.filters import FilterArgs, build_query
    from leadcli.services.reports import pipeline_stats

    ws = Workspace(load_settings(db=store_uri))
    try:
        return pipeline_stats(ws, build_query(ws, FilterArgs(filters)), now=NOW)
    finally:
        ws.close()


def test_stats_match_the_hand_computed_figures(store_uri: str, funnel: None) -> None:
    assert stats_at_now(store_uri) == {
        "total": 5,
        "engaged": 2,  # L2, L3
        "win_rate": 0.5,  # won 1 (L3) / (won 1 + lost 1 (L4)); L5 left Closed Lost, so it is not lost
        "value": 16000,  # 1000 + 5000 + 8000 + 2000
        "stages": [
            # New Lead: (30 + 10 + 4 + 2 + 10) / 5 = 56 / 5 = 11.2
            {"stage": "New Lead", "count": 1, "value": 1000, "avg_days": 11.2},
            # Initial Contact: (10.5 + 10 + 69) / 3 = 89.5 / 3 = 29.833…
            {"stage": "Initial Contact", "count": 1, "value": 0, "avg_days": 29.83},
            {"stage": "Meeting Scheduled", "count": 0, "value": 0, "avg_days": None},
            # Proposal Sent: (9.5 + 2) / 2 = 5.75
            {"stage": "Proposal Sent", "count": 1, "value": 5000, "avg_days": 5.75},
            # Negotiation: (14 + 15) / 2 = 14.5
            {"stage": "Negotiation", "count": 0, "value": 0, "avg_days": 14.5},
            # Closed Won: L3's stay is still running in a closed stage -> no finished stay.
            {"stage": "Closed Won", "count": 1, "value": 8000, "avg_days": None},
            # Closed Lost: L5's finished 10-day stay; L4's running stay does not count.
            {"stage": "Closed Lost", "count": 1, "value": 2000, "avg_days": 10.0},
        ],
    }


def test_stats_respect_filters(store_uri: str, funnel: None) -> None:
    ada = stats_at_now(store_uri, owner="ada")
    assert (ada["total"], ada["engaged"], ada["value"]) == (2, 2, 13000)  # L2, L3: 5000 + 8000
    assert ada["win_rate"] == 1.0  # won 1 / (won 1 + lost 0)
    by_stage = {row["stage"]: row for row in ada["stages"]}
    assert by_stage["New Lead"]["avg_days"] == 7.0  # (10 + 4) / 2
    assert by_stage["Initial Contact"]["avg_days"] == 10.25  # (10.5 + 10) / 2

    open_only = stats_at_now(store_uri, stages=("new-lead", "initial-contact"))
    assert (open_only["total"], open_only["win_rate"]) == (2, None)  # nothing closed: no win rate


def test_stats_command_json_shape(store_uri: str, funnel: None) -> None:
    result = invoke("--db", store_uri, "stats", "-o", "json")
    assert result.code == 0, result.stderr
    report = result.json()
    assert (report["total"], report["engaged"], report["win_rate"]) == (5, 2, 0.5)
    assert [(row["stage"], row["count"], row["value"]) for row in report["stages"]] == [
        ("New Lead", 1, 1000), ("Initial Contact", 1, 0), ("Meeting Scheduled", 0, 0), ("Proposal Sent", 1, 5000),
        ("Negotiation", 0, 0), ("Closed Won", 1, 8000), ("Closed Lost", 1, 2000),
    ]  # fmt: skip
    # Finished stays do not depend on the clock.
    assert [row["avg_days"] for row in report["stages"]][4:] == [14.5, None, 10.0]

    engaged_only = invoke("--db", store_uri, "stats", "--engaged", "-o", "json").json()
    assert (engaged_only["total"], engaged_only["engaged"], engaged_only["win_rate"]) == (2, 2, 1.0)


def test_stats_of_an_empty_store(store_uri: str) -> None:
    report = invoke("--db", store_uri, "stats", "-o", "json").json()
    assert (report["total"], report["engaged"], report["win_rate"], report["value"]) == (0, 0, None, 0)
    assert all(row["count"] == 0 and row["avg_days"] is None for row in report["stages"])


def test_stats_table_in_a_pipe_is_plain(store_uri: str, funnel: None) -> None:
    result = invoke("--db", store_uri, "stats")
    assert result.code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["STAGE", "COUNT", "VALUE", "AVG_DAYS"]
    assert lines[7].split() == ["Closed", "Lost", "1", "2000", "10"]
    assert [line.split() for line in lines[-3:]] == [["total", "5"], ["engaged", "2"], ["win_rate", "0.5"]]
    assert "\x1b[" not in result.stdout and "█" not in result.stdout


def test_stats_on_a_terminal_draws_bars_and_the_days_per_stage(store_uri: str, funnel: None) -> None:
    from rich.console import Console

    from leadcli.domain.pipeline import Pipeline
    from leadcli.output.rich_view import stats_view

    screen = io.StringIO()
    Console(file=screen, width=120, force_terminal=True, color_system=None).print(stats_view(stats_at_now(store_uri), Pipeline()))
    rows = {line.split("  ")[0].strip(): line for line in screen.getvalue().splitlines()}
    assert "avg days" in screen.getvalue()
    assert rows["Initial Contact"].rstrip().endswith("29.8")
    assert rows["Closed Won"].rstrip().endswith("█")  # no finished stay: the days cell is empty
    count_bar = {stage: re.search("█+", rows[stage]).group() for stage in ("New Lead", "Proposal Sent", "Closed Won")}  # type: ignore[union-attr]
    assert count_bar["New Lead"] == count_bar["Proposal Sent"] == count_bar["Closed Won"]  # one lead each


def test_stats_refuses_ids_output(store_uri: str) -> None:
    result = invoke("--db", store_uri, "stats", "-o", "ids")
    assert (result.code, result.stdout) == (2, "")


# -- the SQL aggregate against the one-pass Python reference ------------------------------------

STAGES = ("New Lead", "Initial Contact", "Negotiation", "Closed Won", "Closed Lost", "Legacy")
MOMENTS = st.integers(min_value=0, max_value=60 * 24 * 90).map(lambda m: at("2026-01-01") + timedelta(minutes=m))
ENTRY = st.tuples(st.sampled_from((*STAGES, None)), st.one_of(MOMENTS, st.none()))
LEADS = st.lists(
    st.fixed_dictionaries(
        {
            "history": st.lists(ENTRY, max_size=5),
            "current_stage": st.sampled_from((*STAGES, None)),
            "stage_updated_at": st.one_of(MOMENTS, st.none()),
            "created_at": MOMENTS,
            "value": st.sampled_from((None, 0.0, 100.0, 2500.5)),
            "engaged": st.booleans(),
            "owner": st.sampled_from(("ada", "bob")),
        }
    ),
    max_size=8,
)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(specs=LEADS, owner=st.sampled_from((None, "ada")))
def test_sqlite_stats_in_sql_equal_the_one_pass_reference(tmp_path_factory: Any, specs: list[dict[str, Any]], owner: str | None) -> None:
    """Out-of-order, repeated, stage-less and time-less history entries, a current stage the
    history does not end in, closed and unknown stages, filters: the SQL figures are the ones
    the reference (`summarize`, every lead's history read in Python) gives."""
    from leadcli.config import load_settings
    from leadcli.domain.query import LeadQuery
    from leadcli.services.context import Workspace
    from leadcli.services.reports import pipeline_stats, summarize

    path = tmp_path_factory.mktemp("stats") / "leads.db"
    ws = Workspace(load_settings(db=str(path)))
    try:
        for i, spec in enumerate(specs):
            record = lead_with_moves(f"l{i}@example.com", created=spec["created_at"], value=spec["value"], engaged=spec["engaged"], owner=spec["owner"])
            record["stage_history"] = [
                {"from_stage": None, "to_stage": stage, "changed_at": when, "by": "t", "notes": None} for stage, when in spec["history"]
            ]
            record["current_stage"], record["stage_updated_at"] = spec["current_stage"], spec["stage_updated_at"]
            insert(ws.store, record)
        query = LeadQuery(owner=owner)
        _assert_same_report(pipeline_stats(ws, query, now=NOW), summarize(ws.store.query(query), ws.pipeline, NOW))
        _assert_stays_as_migration_builds_them(ws.store)
        for n, record in enumerate(list(ws.store.query(LeadQuery()))[::2]):  # moves and re-moves, as `move` writes them
            moved = {**record, "current_stage": STAGES[n % len(STAGES)], "stage_updated_at": NOW - timedelta(days=n)}
            moved["stage_history"] = [*record["stage_history"], {"from_stage": None, "to_stage": moved["current_stage"], "changed_at": moved["stage_updated_at"], "by": "t", "notes": None}]
            ws.store.replace(moved, record["version"], {"type": "lead_stage_changed", "by": "t", "changes": {}})
        batch = [({**r, "current_stage": None}, r["version"], {"type": "lead_updated", "by": "t", "changes": {}}) for r in list(ws.store.query(LeadQuery()))[1::3]]
        assert ws.store.write_batch([], batch) == [None] * len(batch)
        _assert_same_report(pipeline_stats(ws, query, now=NOW), summarize(ws.store.query(query), ws.pipeline, NOW))
        _assert_stays_as_migration_builds_them(ws.store)
    finally:
        ws.store.close()


def _assert_same_report(got: dict[str, Any], expected: dict[str, Any]) -> None:
    assert _without_days(got) == _without_days(expected)
    for ours, theirs in zip(got["stages"], expected["stages"], strict=True):
        assert (ours["avg_days"] is None) == (theirs["avg_days"] is None), ours["stage"]
        if ours["avg_days"] is not None:  # rounded to 0.01: sums in another order may round apart
            assert abs(ours["avg_days"] - theirs["avg_days"]) <= 0.0100001, ours["stage"]


def _assert_stays_as_migration_builds_them(store: Any) -> None:
    """The stays the store wrote with each lead are the ones migration 8 derives from the
    stored documents in SQL (the path every pre-existing lead takes)."""
    from leadcli.store.sqlite_schema import _STAYS_FROM_DOCUMENTS

    def rows(sql: str) -> list[tuple[Any, ...]]:
        return sorted((pk, stage, None if f is None else round(f, 3), since) for pk, stage, f, since in store.db.execute(sql))

    assert rows("SELECT pk, stage, finished, running_since FROM lead_stays") == rows(_STAYS_FROM_DOCUMENTS)


def _without_days(report: dict[str, Any]) -> dict[str, Any]:
    return {**report, "stages": [{k: v for k, v in row.items() if k != "avg_days"} for row in report["stages"]]}
