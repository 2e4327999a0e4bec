"""SQLite and MongoDB give the same leads, in the same order, for random combinations of
filters and sorts (the same data in both, read through the CLI as a user would)."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from conftest import invoke
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from leadmaker import lead, seed

from leadcli.domain.pipeline import DEFAULT_STAGES

pytestmark = pytest.mark.mongo

OWNERS = ["ada", "Ada", "grace", None]
SOURCES = ["web", "Referral", None]
TAGS = ["vip", "enterprise", "q3", "100%"]
WORDS = ["Acme", "acme corp", "O'Brien", "50% off", "a_b", "(x)", ".*", "Zoë", "東京", '"quoted"', "back\\slash"]
BASE = datetime(2024, 1, 1, tzinfo=UTC)


def population() -> list[dict]:
    rng = random.Random(7)
    records = []
    for _ in range(40):
        stage = rng.choice([*DEFAULT_STAGES, "Legacy Stage"])
        engaged = rng.random() < 0.5
        records.append(
            lead(
                f"{rng.choice(['Ada', 'Zoë', 'Bob', 'Conan'])} {rng.choice(WORDS)}",
                company=rng.choice([None, *WORDS]),
                notes=rng.choice([None, *WORDS]),
                current_stage=stage,
                status=rng.choice(["Engaged" if engaged else "Not Engaged", "cold"]),
                engaged=engaged,
                owner=rng.choice(OWNERS),
                source=rng.choice(SOURCES),
                tags=rng.sample(TAGS, rng.randrange(0, 3)),
                value=rng.choice([None, 0.0, 100.0, 250.5, 1000.0]),
                created_at=BASE + timedelta(days=rng.randrange(0, 60)),
                updated_at=BASE + timedelta(days=rng.randrange(0, 90)),
                last_contacted=rng.choice([None, BASE + timedelta(days=rng.randrange(0, 90))]),
                follow_up_at=rng.choice([None, BASE + timedelta(days=rng.randrange(30, 120))]),
            )
        )
    return records


DATES = ["2024-01-15", "2024-02-01T12:00:00Z", "2024-03-01"]
filters = st.fixed_dictionaries(
    {},
    optional={
        "--stage": st.lists(st.sampled_from(["new-lead", "negotiation", "closed-won", "proposal sent"]), min_size=1, max_size=2),
        "--status": st.sampled_from(["engaged", "COLD"]),
        "--engaged": st.sampled_from(["--engaged", "--not-engaged"]),
        "--owner": st.sampled_from(["ada", "GRACE"]),
        "--source": st.sampled_from(["web", "referral"]),
        "--tag": st.lists(st.sampled_from(TAGS), min_size=1, max_size=2),
        "--company": st.sampled_from(["acme", "o'b", "%", "_", "東", "zoë", '"'] ),
        "--search": st.sampled_from(["acme", "ada", "a", "%", "_b", ".*", "ZOË", "(x", "\\", "'brien", '"quo', "東京"]),
        "--created-after": st.sampled_from(DATES),
        "--created-before": st.sampled_from(DATES),
        "--contacted-before": st.sampled_from(DATES),
        "--follow-up-before": st.sampled_from(["2024-03-01", "2024-04-01"]),
    },
)
SORTS = ["name", "company", "current_stage", "last_contacted", "created_at", "updated_at", "value"]


def argv(chosen: dict) -> list[str]:
    args: list[str] = []
    for flag, value in chosen.items():
        if flag == "--engaged":
            args.append(value)
        elif isinstance(value, list):
            for item in value:
                args += [flag, item]
        else:
            args += [flag, value]
    return args


@pytest.fixture(scope="module")
def both_stores(tmp_path_factory, mongo_server: str):  # type: ignore[no-untyped-def]
    records = population()
    sqlite_uri = str(tmp_path_factory.mktemp("agree") / "leads.db")
    mongo_uri = f"{mongo_server}/leadcli_agree_{uuid.uuid4().hex[:10]}"
    seed(sqlite_uri, [dict(r) for r in records])
    seed(mongo_uri, [dict(r) for r in records])
    for uri in (sqlite_uri, mongo_uri):  # the comparisons below are about 40 real leads
        assert invoke("--db", uri, "count").stdout == "40\n"
    yield sqlite_uri, mongo_uri
    import pymongo

    client = pymongo.MongoClient(mongo_server, serverSelectionTimeoutMS=5000)
    client.drop_database(mongo_uri.rsplit("/", 1)[1])
    client.close()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(chosen=filters, sort=st.sampled_from(SORTS), direction=st.sampled_from(["--asc", "--desc"]))
def test_sqlite_and_mongo_agree_on_filters_and_order(both_stores, chosen: dict, sort: str, direction: str) -> None:
    args = [*argv(chosen), "--sort", sort, direction]
    env = {"LEADCLI_TIMEZONE": "UTC"}
    results = [invoke("--db", uri, "list", "--all", "-o", "ids", *args, env=env) for uri in both_stores]
    assert [r.code for r in results] == [0, 0], [r.stderr for r in results]
    assert results[0].stdout.split() == results[1].stdout.split()
    counts = [invoke("--db", uri, "count", *argv(chosen), env=env).stdout for uri in both_stores]
    assert counts[0] == counts[1] == f"{len(results[0].stdout.split())}\n"
