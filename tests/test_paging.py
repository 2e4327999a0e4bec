"""Sorting by every contract field, both directions, and pages that partition the result: the
union of all pages is exactly `--all`, with no lead on two pages, even when sort keys tie."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from conftest import invoke
from leadmaker import lead, seed

from leadcli.domain.pipeline import DEFAULT_STAGES

SORTS = ["name", "company", "current_stage", "last_contacted", "created_at", "updated_at", "value"]
BASE = datetime(2024, 1, 1, tzinfo=UTC)


def many_leads() -> list[dict]:
    """23 leads with many ties and missing values in every sort field."""
    records = []
    for i in range(23):
        records.append(
            lead(
                ["Ada", "Bob", "Cy", "Dee"][i % 4] + f" {'XYZ'[i % 3]}",
                company=[None, "Acme", "Globex", "Acme"][i % 4],
                current_stage=[None, *DEFAULT_STAGES][(i * 3) % 8] if i % 5 else DEFAULT_STAGES[i % 7],
                last_contacted=None if i % 3 == 0 else BASE + timedelta(days=i % 4),
                created_at=BASE + timedelta(hours=i % 5),
                updated_at=BASE + timedelta(hours=i % 2),
                value=None if i % 4 == 1 else float((i * 7) % 5 * 100),
            )
        )
    return records


@pytest.fixture
def crowd(store_uri: str) -> tuple[str, list[dict]]:
    return store_uri, seed(store_uri, many_leads())


def ids(store_uri: str, *args: str) -> list[str]:
    result = invoke("--db", store_uri, "list", "-o", "ids", *args)
    assert result.code == 0, result.stderr
    return result.stdout.split()


def expected_order(records: list[dict], field: str, descending: bool) -> list[str]:
    def key(record: dict) -> tuple:
        value = record[field]
        if field == "current_stage":
            value = DEFAULT_STAGES.index(value) if value in DEFAULT_STAGES else len(DEFAULT_STAGES)
        return (value is not None, value if value is not None else 0, record["id"])  # missing values first

    return [r["id"] for r in sorted(records, key=key, reverse=descending)]


@pytest.mark.parametrize("direction", ["--asc", "--desc"])
@pytest.mark.parametrize("field", SORTS)
def test_sort_order_with_id_tie_break_and_pages_that_partition_it(crowd, field: str, direction: str) -> None:
    store_uri, records = crowd
    everything = ids(store_uri, "--sort", field, direction, "--all")
    assert everything == expected_order(records, field, direction == "--desc")
    pages = [ids(store_uri, "--sort", field, direction, "--page", str(n), "--page-size", "5") for n in range(1, 7)]
    assert [len(p) for p in pages] == [5, 5, 5, 5, 3, 0]
    assert [i for page in pages for i in page] == everything


def test_the_default_order_is_newest_first(crowd) -> None:
    store_uri, records = crowd
    assert ids(store_uri, "--all") == expected_order(records, "created_at", True)
    assert ids(store_uri) == expected_order(records, "created_at", True)[:20]


def test_current_stage_sorts_in_pipeline_order_not_alphabetically(store_uri: str) -> None:
    seed(store_uri, [lead(stage, current_stage=stage) for stage in sorted(DEFAULT_STAGES)])
    result = invoke("--db", store_uri, "list", "--sort", "current_stage", "--asc", "-o", "json")
    assert [item["current_stage"] for item in result.json()] == list(DEFAULT_STAGES)


def test_a_custom_pipeline_orders_the_stage_sort(store_uri: str, tmp_path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[pipeline]\nstages = ["Cold", "Warm", "Hot", "Won"]\nclosed = ["Won"]\n')
    seed(store_uri, [lead(stage, current_stage=stage) for stage in ("Won", "Cold", "Hot", "Warm")])
    result = invoke("--db", store_uri, "--config", str(config), "list", "--sort", "current_stage", "--desc", "-o", "json")
    assert [item["current_stage"] for item in result.json()] == ["Won", "Hot", "Warm", "Cold"]


def test_pages_of_a_filtered_sort_partition_the_filtered_result(crowd) -> None:
    store_uri, _ = crowd
    args = ("--company", "acme", "--sort", "value", "--asc")
    everything = ids(store_uri, *args, "--all")
    assert len(everything) == 11
    pages = [ids(store_uri, *args, "--page", str(n), "--page-size", "4") for n in range(1, 5)]
    assert [i for page in pages for i in page] == everything
    assert pages[-1] == []


def test_the_configured_page_size_is_the_default(crowd) -> None:
    store_uri, _ = crowd
    result = invoke("--db", store_uri, "list", "-o", "ids", env={"LEADCLI_PAGE_SIZE": "7"})
    assert len(result.stdout.split()) == 7


@pytest.mark.parametrize(
    ("args", "flag"),
    [(("--page", "0"), "--page"), (("--page-size", "0"), "--page-size"), (("--sort", "email"), "--sort")],
)
def test_bad_paging_or_sort_is_exit_2(tmp_path, args: tuple[str, ...], flag: str) -> None:
    result = invoke("--db", str(tmp_path / "leads.db"), "list", *args)
    assert result.code == 2
    assert result.stderr.startswith("error: ") and flag in result.stderr


def test_sqlite_serves_a_filtered_sorted_page_and_a_search_from_indexes(tmp_path) -> None:
    """The queries `list` sends for the common cases walk an index in order (no full scan, no
    sort of every lead), so page 50 of 100,000 leads stays fast (see bench/bench_search.py)."""
    from leadcli.domain.query import LeadQuery
    from leadcli.store.sqlite import SqliteStore
    from leadcli.store.sqlite_query import _order, _where

    store = SqliteStore(tmp_path / "leads.db")
    store.insert({**lead("Acme Buyer", company="Acme"), "version": 1}, {"type": "lead_created", "by": "t", "changes": {}})

    def plan(query: LeadQuery) -> str:
        where, params = _where(store.db, query)
        order = _order(query, params)
        rows = store.db.execute(f"EXPLAIN QUERY PLAN SELECT doc FROM leads{where} ORDER BY {order} LIMIT 20 OFFSET 980", params)
        return " | ".join(row[3] for row in rows)

    try:
        assert plan(LeadQuery(stages=("Proposal Sent",), owner="ada", sort="value")) == (
            "SEARCH leads USING INDEX leads_owner_stage_value (owner=? AND current_stage=?)"
        )
        assert plan(LeadQuery(owner="ada")) == "SEARCH leads USING INDEX leads_owner_created (owner=?)"
        for sort in ("name", "company", "created_at", "updated_at", "value", "last_contacted"):
            assert plan(LeadQuery(sort=sort)).startswith("SCAN leads USING INDEX"), sort
        assert "SEARCH lead_tags USING PRIMARY KEY" in plan(LeadQuery(tags=("vip",)))
        assert "leads_search VIRTUAL TABLE INDEX 0:M" in plan(LeadQuery(search="acme"))
        assert "leads_search VIRTUAL TABLE INDEX 0:M" in plan(LeadQuery(search="ac"))
        assert "TEMP B-TREE" not in plan(LeadQuery(stages=("Negotiation",), sort="value"))
    finally:
        store.close()


@pytest.mark.parametrize("args", [("--page", "9" * 22), ("--page", "999999999999", "--page-size", "99999999999")])
def test_a_page_beyond_any_store_is_empty_not_an_overflow(store_uri: str, args: tuple[str, ...]) -> None:
    invoke("--db", store_uri, "add", "--name", "Ada", "--email", "ada@example.com")
    result = invoke("--db", store_uri, "list", *args, "-o", "json")
    assert (result.code, result.json()) == (0, [])


def test_a_page_size_beyond_any_store_is_every_lead(store_uri: str) -> None:
    invoke("--db", store_uri, "add", "--name", "Ada", "--email", "ada@example.com")
    result = invoke("--db", store_uri, "list", "--page-size", "9" * 22, "-o", "ids")
    assert result.code == 0 and len(result.stdout.split()) == 1
