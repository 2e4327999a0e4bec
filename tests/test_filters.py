"""Every filter of list/search/count, alone and combined (AND), with the contract's DATE forms,
on both stores."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from conftest import invoke
from leadmaker import lead, seed

UTC_ENV = {"LEADCLI_TIMEZONE": "UTC"}


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


CRM = [
    lead("Ada Lovelace", company="Analytical Engines", owner="ada", source="web", tags=["vip", "enterprise"],
         value=1000.0, notes="met at the conference", created_at=at("2024-01-10T12:00"),
         follow_up_at=at("2024-02-01T09:00")),
    lead("Grace Hopper", company="US Navy", current_stage="Proposal Sent", status="Engaged", engaged=True,
         owner="grace", source="referral", tags=["vip"], value=5000.0, created_at=at("2024-02-10T00:00"),
         last_contacted=at("2024-02-15T10:00"), follow_up_at=at("2024-03-01T09:00")),
    lead("Alan Turing", company="Bletchley Park", current_stage="Negotiation", status="Engaged", engaged=True,
         owner="ada", source="web", tags=["enterprise"], value=12000.0, created_at=at("2024-03-10T08:00"),
         last_contacted=at("2024-03-12T10:00")),
    lead("Linus Torvalds", current_stage="Closed Won", created_at=at("2024-04-10T08:00"),
         last_contacted=at("2024-01-05T10:00")),
    lead("Margaret Hamilton", company="NASA Analytical", current_stage="Closed Lost", status="Cold",
         owner="Grace", source="Web", tags=["enterprise", "vip", "apollo"], value=300.0,
         created_at=at("2024-05-10T08:00")),
]  # fmt: skip


@pytest.fixture
def crm(store_uri: str) -> str:
    seed(store_uri, [dict(record) for record in CRM])
    return store_uri


def names(store_uri: str, *args: str) -> list[str]:
    result = invoke("--db", store_uri, "list", "--all", "--sort", "name", "--asc", "-o", "json", *args, env=UTC_ENV)
    assert result.code == 0, result.stderr
    return [item["name"] for item in result.json()]


ADA, GRACE, ALAN, LINUS, MARGARET = "Ada Lovelace", "Grace Hopper", "Alan Turing", "Linus Torvalds", "Margaret Hamilton"

CASES = [
    ((), [ADA, ALAN, GRACE, LINUS, MARGARET]),
    (("--stage", "negotiation"), [ALAN]),
    (("--stage", "closed-won", "--stage", "Closed Lost"), [LINUS, MARGARET]),
    (("--stage", "New Lead", "--stage", "new-lead"), [ADA]),
    (("--status", "engaged"), [ALAN, GRACE]),
    (("--status", "cold"), [MARGARET]),
    (("--engaged",), [ALAN, GRACE]),
    (("--not-engaged",), [ADA, LINUS, MARGARET]),
    (("--owner", "ada"), [ADA, ALAN]),
    (("--owner", "GRACE"), [GRACE, MARGARET]),
    (("--owner", "nobody"), []),
    (("--source", "web"), [ADA, ALAN, MARGARET]),
    (("--tag", "vip"), [ADA, GRACE, MARGARET]),
    (("--tag", "vip", "--tag", "enterprise"), [ADA, MARGARET]),
    (("--tag", "vip", "--tag", "enterprise", "--tag", "apollo"), [MARGARET]),
    (("--company", "analytical"), [ADA, MARGARET]),
    (("--company", "us"), [GRACE]),
    (("--company", "Navy"), [GRACE]),
    (("--search", "TURING"), [ALAN]),
    (("-q", "conference"), [ADA]),
    (("-q", "analytical"), [ADA, MARGARET]),
    (("--created-after", "2024-03-10"), [ALAN, LINUS, MARGARET]),
    (("--created-before", "2024-02-10"), [ADA]),
    (("--created-after", "2024-02-10", "--created-before", "2024-02-11"), [GRACE]),
    (("--created-after", "2024-03-10T08:00:00Z"), [ALAN, LINUS, MARGARET]),
    (("--created-after", "2024-03-10T10:00:00+02:00"), [ALAN, LINUS, MARGARET]),
    (("--created-after", "2024-03-10T08:00:00.001+00:00"), [LINUS, MARGARET]),
    (("--contacted-before", "2024-03-01"), [ADA, GRACE, LINUS, MARGARET]),
    (("--contacted-before", "2024-01-01"), [ADA, MARGARET]),
    (("--follow-up-before", "2024-02-15"), [ADA]),
    (("--follow-up-before", "2024-03-01T09:00:00Z"), [ADA, GRACE]),
    (("--owner", "ada", "--stage", "negotiation", "--engaged", "--tag", "enterprise", "-q", "alan"), [ALAN]),
    (("--owner", "ada", "--stage", "new-lead", "--engaged"), []),
    (("--source", "web", "--tag", "vip", "--created-before", "2024-04-01", "--company", "engines"), [ADA]),
    (("--stage", "closed-won", "--stage", "closed-lost", "--not-engaged", "--contacted-before", "2024-02-01"),
     [LINUS, MARGARET]),
]


@pytest.mark.parametrize(("args", "expected"), CASES, ids=[" ".join(a) or "none" for a, _ in CASES])
def test_filters_select_exactly_the_matching_leads(crm: str, args: tuple[str, ...], expected: list[str]) -> None:
    assert names(crm, *args) == expected
    counted = invoke("--db", crm, "count", *args, env=UTC_ENV)
    assert (counted.code, counted.stdout, counted.stderr) == (0, f"{len(expected)}\n", "")


def test_search_command_takes_the_same_filters(crm: str) -> None:
    result = invoke("--db", crm, "search", "a", "--owner", "ada", "--engaged", "-o", "ids", env=UTC_ENV)
    assert result.code == 0, result.stderr
    assert result.stdout.split() == [CRM[2]["id"]]


def test_relative_dates_are_read_against_now(store_uri: str) -> None:
    now = datetime.now(UTC)
    seed(
        store_uri,
        [
            lead("Ten Days", created_at=now - timedelta(days=10), follow_up_at=now + timedelta(days=10)),
            lead("Two Days", created_at=now - timedelta(days=2), follow_up_at=now + timedelta(days=3),
                 last_contacted=now - timedelta(hours=1)),
            lead("Just Now", created_at=now - timedelta(minutes=1), follow_up_at=now - timedelta(hours=2)),
        ],
    )  # fmt: skip
    assert names(store_uri, "--created-after", "-3d") == ["Just Now", "Two Days"]
    assert names(store_uri, "--created-before", "-1w") == ["Ten Days"]
    assert names(store_uri, "--created-after", "yesterday", "--created-before", "tomorrow") == ["Just Now"]
    assert names(store_uri, "--created-after", "tomorrow") == []
    assert names(store_uri, "--created-before", "today") == ["Ten Days", "Two Days"]
    assert names(store_uri, "--follow-up-before", "+1w") == ["Just Now", "Two Days"]
    assert names(store_uri, "--follow-up-before", "+2W") == ["Just Now", "Ten Days", "Two Days"]
    assert names(store_uri, "--contacted-before", "-3h") == ["Just Now", "Ten Days"]


@pytest.mark.parametrize("flag", ["--created-after", "--created-before", "--contacted-before", "--follow-up-before"])
@pytest.mark.parametrize("command", ["list", "count", "search"])
def test_an_unreadable_date_is_exit_2_naming_the_flag(tmp_path, flag: str, command: str) -> None:
    text = ["x"] if command == "search" else []
    result = invoke("--db", str(tmp_path / "leads.db"), command, *text, flag, "next tuesday")
    assert result.code == 2
    assert result.stdout == ""
    assert result.stderr.startswith("error: ") and flag in result.stderr and "next tuesday" in result.stderr


def test_an_unknown_stage_is_exit_2_naming_the_valid_ones(tmp_path) -> None:
    result = invoke("--db", str(tmp_path / "leads.db"), "list", "--stage", "won")
    assert result.code == 2
    assert "Closed Won" in result.stderr and "New Lead" in result.stderr


def test_dates_without_a_zone_are_read_in_the_configured_timezone(store_uri: str) -> None:
    seed(store_uri, [lead("Early", created_at=at("2024-06-01T03:00")), lead("Late", created_at=at("2024-06-01T09:00"))])
    tokyo = {"LEADCLI_TIMEZONE": "Asia/Tokyo"}  # 2024-06-01 12:00 in Tokyo is 03:00 UTC
    result = invoke("--db", store_uri, "list", "--created-after", "2024-06-01T12:00", "-o", "json", env=tokyo)
    assert [item["name"] for item in result.json()] == ["Late", "Early"]
    result = invoke("--db", store_uri, "list", "--created-after", "2024-06-01T12:00:01", "-o", "json", env=tokyo)
    assert [item["name"] for item in result.json()] == ["Late"]

