"""The domain rules users meet on every command: stage names, DATE forms, field validation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from conftest import invoke

from leadcli.domain.dates import iso, parse_when
from leadcli.domain.errors import InvalidInput
from leadcli.domain.pipeline import DEFAULT_STAGES, Pipeline
from leadcli.domain.validation import validate_changes

# -- the pipeline -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "stage"),
    [
        ("New Lead", "New Lead"),
        ("new lead", "New Lead"),
        ("  CLOSED WON ", "Closed Won"),
        ("closed-won", "Closed Won"),
        ("Closed-Lost", "Closed Lost"),
        ("meeting_scheduled", "Meeting Scheduled"),
        ("proposal-sent", "Proposal Sent"),
    ],
)
def test_a_stage_matches_by_name_or_slug_in_any_case(typed: str, stage: str) -> None:
    assert Pipeline().match(typed) == stage


def test_an_unknown_stage_names_every_valid_one() -> None:
    with pytest.raises(InvalidInput) as caught:
        Pipeline().match("Won")
    assert caught.value.exit_code == 2
    assert "'Won'" in caught.value.message
    for stage in DEFAULT_STAGES:
        assert stage in caught.value.message


def test_a_configured_pipeline_replaces_the_default() -> None:
    pipeline = Pipeline.from_config(["Lead", "Demo", "Won", "Lost"], closed=["Won", "Lost"])
    assert pipeline.match("demo") == "Demo"
    assert pipeline.open_stages == ("Lead", "Demo")
    with pytest.raises(InvalidInput, match="Lead, Demo, Won, Lost"):
        pipeline.match("new-lead")


def test_a_closed_stage_outside_the_pipeline_is_rejected() -> None:
    with pytest.raises(InvalidInput, match="Done"):
        Pipeline.from_config(["Lead", "Won"], closed=["Done"])


def test_cli_unknown_stage_is_exit_2_listing_stages_and_writes_nothing() -> None:
    result = invoke("add", "--name", "Ada", "--email", "ada@example.com", "--stage", "qualified")
    assert result.code == 2
    assert result.stderr.startswith("error: unknown stage 'qualified'; valid stages: New Lead, Initial Contact")
    assert result.stdout == ""
    assert invoke("count").stdout == "0\n"


# -- DATE ---------------------------------------------------------------------------------------

NOW = datetime(2026, 11, 26, 13, 30, 15, 123456, tzinfo=UTC)
PARIS = ZoneInfo("Europe/Paris")  # UTC+1 in November


def when(text: str, **kwargs: object) -> str | None:
    return iso(parse_when(text, flag="--follow-up", now=NOW, **kwargs))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-12-01", "2026-12-01T00:00:00.000+00:00"),
        ("2026-12-01T09:15:00", "2026-12-01T09:15:00.000+00:00"),
        ("2026-12-01T09:15:00+02:00", "2026-12-01T07:15:00.000+00:00"),
        ("2026-12-01T09:15:00Z", "2026-12-01T09:15:00.000+00:00"),
        ("2026-12-01T09:15:00.987654-05:00", "2026-12-01T14:15:00.987+00:00"),
        ("today", "2026-11-26T00:00:00.000+00:00"),
        ("Yesterday", "2026-11-25T00:00:00.000+00:00"),
        ("tomorrow", "2026-11-27T00:00:00.000+00:00"),
        ("now", "2026-11-26T13:30:15.123+00:00"),
        ("-3d", "2026-11-23T13:30:15.123+00:00"),
        ("+2w", "2026-12-10T13:30:15.123+00:00"),
        ("+4h", "2026-11-26T17:30:15.123+00:00"),
        ("-90m", "2026-11-26T12:00:15.123+00:00"),
        # "leads from the last 6 months / year" had no unit: +1y and -6mo were unreadable
        ("-6mo", "2026-05-26T13:30:15.123+00:00"),
        ("+3mo", "2027-02-26T13:30:15.123+00:00"),
        ("-1y", "2025-11-26T13:30:15.123+00:00"),
        ("+2Y", "2028-11-26T13:30:15.123+00:00"),
    ],
)
def test_every_date_form_reads_in_utc(text: str, expected: str) -> None:
    assert when(text, zone=UTC) == expected


def test_dates_without_a_zone_are_read_in_the_given_timezone() -> None:
    assert when("2026-12-01", zone=PARIS) == "2026-11-30T23:00:00.000+00:00"
    assert when("2026-12-01T09:15", zone=PARIS) == "2026-12-01T08:15:00.000+00:00"
    assert when("today", zone=PARIS) == "2026-11-25T23:00:00.000+00:00"
    # An explicit offset wins over the zone; offsets are relative to now, whatever the zone.
    assert when("2026-12-01T09:15:00+00:00", zone=PARIS) == "2026-12-01T09:15:00.000+00:00"
    assert when("+1d", zone=PARIS) == iso(NOW + timedelta(days=1))


def test_today_in_a_zone_ahead_of_utc_is_that_zones_day() -> None:
    late = datetime(2026, 11, 26, 23, 30, tzinfo=UTC)  # already the 27th in Tokyo
    assert iso(parse_when("today", zone=ZoneInfo("Asia/Tokyo"), now=late)) == "2026-11-26T15:00:00.000+00:00"


def test_end_of_day_bounds_a_bare_day() -> None:
    assert when("2026-12-01", zone=UTC, end_of_day=True) == "2026-12-01T23:59:59.999+00:00"
    assert when("today", zone=UTC, end_of_day=True) == "2026-11-26T23:59:59.999+00:00"


@pytest.mark.parametrize("text", ["next tuesday", "2026-13-01", "3d", "+3q", "+99999999999y", "", "2026/12/01", "+99999999999d"])
def test_an_unreadable_date_is_invalid_input_naming_the_flag(text: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_when(text, flag="--follow-up", zone=UTC, now=NOW)
    assert caught.value.exit_code == 2
    assert caught.value.message.startswith(f"--follow-up: cannot read {text!r} as a date")


def test_cli_bad_date_is_exit_2_naming_the_flag_and_writes_nothing() -> None:
    result = invoke("add", "--name", "Ada", "--email", "ada@example.com", "--follow-up", "someday")
    assert result.code == 2
    assert result.stderr.startswith("error: --follow-up: cannot read 'someday' as a date")
    assert invoke("count").stdout == "0\n"


def test_cli_reads_dates_in_the_configured_timezone(leadcli_home) -> None:  # type: ignore[no-untyped-def]
    (leadcli_home / "config.toml").write_text('timezone = "Europe/Paris"\n')
    added = invoke("add", "--name", "Ada", "--email", "ada@example.com", "--follow-up", "2026-12-01", "-o", "json")
    assert added.code == 0, added.stderr
    assert added.json()["follow_up_at"] == "2026-11-30T23:00:00.000+00:00"
    # The environment beats the file.
    env = {"LEADCLI_TIMEZONE": "America/New_York"}
    edited = invoke("edit", "ada@example.com", "--follow-up", "2026-12-01T09:00", "-o", "json", env=env)
    assert edited.json()["follow_up_at"] == "2026-12-01T14:00:00.000+00:00"


def test_cli_unknown_timezone_is_exit_2() -> None:
    result = invoke("add", "--name", "Ada", "--email", "a@example.com", "--follow-up", "today", env={"LEADCLI_TIMEZONE": "Mars/Olympus"})
    assert result.code == 2
    assert "unknown timezone 'Mars/Olympus'" in result.stderr


# -- validation ---------------------------------------------------------------------------------


def test_email_is_trimmed_and_lowercased() -> None:
    assert validate_changes({"email": "  Ada.Lovelace@Example.COM \n"}) == {"email": "ada.lovelace@example.com"}


def test_name_is_trimmed_and_only_given_keys_come_back() -> None:
    assert validate_changes({"name": "  Ada Lovelace  ", "company": "  "}) == {"name": "Ada Lovelace", "company": None}


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"email": "not-an-email"}, "email"),
        ({"email": "ada@"}, "email"),
        ({"name": "   "}, "name"),
        ({"name": "x" * 101}, "name"),
        ({"status": "s" * 51}, "status"),
        ({"value": -1}, "value"),
        ({"value": "lots"}, "value"),
        ({"value": float("inf")}, "value"),
        ({"value": float("nan")}, "value"),
        ({"company": "c" * 201}, "company"),
        ({"engaged": "maybe"}, "engaged"),
        ({"tags": "vip"}, "tags"),
        ({"fields": {"": 1}}, "fields"),
        ({"shoe_size": 44}, "shoe_size"),
    ],
)
def test_each_rejection_names_the_field(data: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        validate_changes(data)
    assert caught.value.exit_code == 2
    assert caught.value.message.startswith(f"{field}")


def test_blank_optional_text_means_none() -> None:
    blanks = {"company": " ", "phone": "", "status": "\t", "owner": "  ", "source": "", "notes": " \n "}
    assert validate_changes(blanks) == dict.fromkeys(blanks)


def test_cli_blank_company_clears_it() -> None:
    invoke("add", "--name", "Ada", "--email", "ada@example.com", "--company", "Engines")
    result = invoke("edit", "ada@example.com", "--company", " ", "-o", "json")
    assert result.code == 0, result.stderr
    assert result.json()["company"] is None


def test_the_limits_themselves_are_accepted() -> None:
    accepted = validate_changes({"name": " " + "x" * 100 + " ", "status": "s" * 50, "value": 0})
    assert accepted == {"name": "x" * 100, "status": "s" * 50, "value": 0.0}


def test_several_bad_fields_are_reported_on_one_line() -> None:
    with pytest.raises(InvalidInput) as caught:
        validate_changes({"email": "nope", "value": -5})
    assert "email:" in caught.value.message and "value:" in caught.value.message
    assert "\n" not in caught.value.message


@pytest.mark.parametrize(
    ("args", "stdin", "needle"),
    [
        (["--name", "Ada", "--email", "ada at example.com"], None, "error: email: "),
        (["--name", "   ", "--email", "ada@example.com"], None, "error: name: "),
        (["--name", "x" * 101, "--email", "ada@example.com"], None, "error: name: "),
        (["--name", "Ada", "--email", "ada@example.com", "--status", "s" * 51], None, "error: status: "),
        (["--name", "Ada", "--email", "ada@example.com", "--value", "-1"], None, "error: value: "),
        (["--json", "-"], '{"name": "Ada", "email": "ada@example.com", "colour": "red"}', "error: colour: is not a lead field"),
        (["--json", "-"], '{"name": "Ada", "email": "ada@example.com", "id": "6650f1c2a1b2c3d4e5f60718"}', "error: id: is not a lead field"),
        (["--json", "-"], "[1, 2]", "error: --json: expected one JSON object"),
        (["--json", "-"], "{name: Ada}", "error: --json: not valid JSON"),
        (["--name", "Ada", "--email", "ada@example.com", "--field", "no-equals-sign"], None, "error: --field: expected KEY=VALUE"),
        (["--name", "Ada", "--email", "ada@example.com", "--status", "Engaged", "--not-engaged"], None, "error: --status 'Engaged' contradicts --not-engaged"),
    ],
)
def test_cli_rejection_is_exit_2_names_the_field_and_writes_nothing(args: list[str], stdin: str | None, needle: str) -> None:
    result = invoke("add", *args, input=stdin)
    assert result.code == 2, result.stderr
    assert result.stderr.startswith(needle), result.stderr
    assert result.stderr.count("\n") == 1
    assert result.stdout == ""
    assert invoke("count").stdout == "0\n"


def test_cli_invalid_edit_changes_nothing() -> None:
    added = invoke("add", "--name", "Ada", "--email", "ada@example.com", "--company", "Engines", "-o", "json").json()
    result = invoke("edit", "ada@example.com", "--company", "Babbage", "--email", "broken", "--value", "-3")
    assert result.code == 2
    assert "email:" in result.stderr and "value:" in result.stderr
    after = invoke("show", "ada@example.com", "-o", "json").json()
    assert after["company"] == "Engines"
    assert after["version"] == added["version"] == 1


def test_a_custom_field_that_is_not_a_plain_value_is_one_readable_error() -> None:
    """`add --json -` with `"fields": {"sizes": [1, 2]}` printed pydantic's four union members
    ("fields.sizes.constrained-str: …; fields.sizes.int: …; …") instead of one sentence."""
    with pytest.raises(InvalidInput) as caught:
        validate_changes({"fields": {"sizes": [1, 2], "ok": 1, "deep": {"a": 1}}, "value": "x"})
    assert caught.value.message == (
        "value: Input should be a valid number, unable to parse string as a number; "
        "fields.sizes: must be text, a number, true/false or null; "
        "fields.deep: must be text, a number, true/false or null"
    )


@pytest.mark.parametrize("stages", [["A", "A"], ["New", "new"], ["Closed Won", "closed-won"]])
def test_a_pipeline_listing_a_stage_twice_is_refused(stages: list[str]) -> None:
    """`stages = ["A", "A"]` in the config printed stage A twice in `stages` and `stats`."""
    with pytest.raises(InvalidInput, match="listed twice"):
        Pipeline.from_config(stages)


def test_a_month_offset_from_a_long_month_lands_on_the_shorter_months_last_day() -> None:
    end_of_march = datetime(2026, 3, 31, 12, 0, tzinfo=UTC)
    assert iso(parse_when("-1mo", zone=UTC, now=end_of_march)) == "2026-02-28T12:00:00.000+00:00"
    assert iso(parse_when("+1y", zone=UTC, now=datetime(2028, 2, 29, tzinfo=UTC))) == "2029-02-28T00:00:00.000+00:00"


def test_an_unreadable_date_names_the_offset_units() -> None:
    with pytest.raises(InvalidInput, match=r"units m h d w mo y"):
        parse_when("+1q", flag="--due")
