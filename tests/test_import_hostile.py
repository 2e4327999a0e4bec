"""Hostile import files (issue 14 item 6): one cell, or one record, never aborts an import. It is
a rejected row with its number; the other rows are written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import invoke

DEEP = "[" * 100_000 + "]" * 100_000
HUGE = "1" * 5_000


def emails(*db: str) -> list[str]:
    return sorted(lead["email"] for lead in invoke(*db, "list", "--all", "-o", "json").json())


def row_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("row ")]


@pytest.mark.parametrize(
    ("zone", "cell"),
    [("Asia/Tokyo", "0001-01-01"), ("Europe/Paris", "01/01/0001"), ("America/New_York", "9999-12-31 23:59:59")],
)
def test_a_date_out_of_range_in_utc_is_a_rejected_row(store_uri: str, zone: str, cell: str) -> None:
    text = f"Name,Email,Last Contacted\nAda,ada@example.com,2026-01-02\nEdge,edge@example.com,{cell}\nBob,bob@example.com,\n"

    result = invoke("--db", store_uri, "import", "-", "--format", "csv", input=text, env={"LEADCLI_TIMEZONE": zone})

    assert result.code == 1, result.stderr
    assert row_lines(result.stderr) == [f"row 3: last_contacted: {cell!r} is out of range (in UTC it falls outside the years 1-9999)"]
    assert "unexpected" not in result.stderr
    assert emails("--db", store_uri) == ["ada@example.com", "bob@example.com"]


def test_history_and_activity_dates_out_of_range_are_rejected_rows() -> None:
    history = json.dumps([{"from_stage": None, "to_stage": "New Lead", "changed_at": "0001-01-01T00:00:00+05:00"}])
    activities = json.dumps([{"type": "call", "at": "9999-12-31T23:59:59-05:00"}])
    lines = [
        json.dumps({"name": "H", "email": "h@example.com", "stage_history": history}),
        json.dumps({"name": "A", "email": "a@example.com", "activities": activities}),
        json.dumps({"name": "Ok", "email": "ok@example.com"}),
    ]

    result = invoke("import", "-", "--format", "jsonl", input="\n".join(lines) + "\n")

    assert result.code == 1
    assert row_lines(result.stderr) == [
        "row 1: stage_history: entry 1: '0001-01-01T00:00:00+05:00' is not an ISO timestamp",
        "row 2: activities: entry 1: '9999-12-31T23:59:59-05:00' is not an ISO timestamp",
    ]
    assert emails() == ["ok@example.com"]


@pytest.mark.parametrize("fmt", ["json", "jsonl", "objects"])
def test_deep_nesting_and_huge_integers_in_json_are_rejected_rows(tmp_path: Path, fmt: str) -> None:
    items = [
        '{"name": "Ada", "email": "ada@example.com"}',
        '{"name": "Deep", "email": "deep@example.com", "fields": {"x": ' + DEEP + "}}",
        '{"name": "Huge", "email": "huge@example.com", "fields": {"n": ' + HUGE + "}}",
        DEEP,
        HUGE,
        '{"name": "Bob", "email": "bob@example.com", "notes": "a ] and a \\" and a [ in text"}',
    ]
    if fmt == "json":
        text = "[\n" + ",\n".join(items) + "\n]\n"
    elif fmt == "jsonl":
        text = "\n".join(items) + "\n"
    else:  # objects one after another, as a .json file
        items = [i for i in items if i.startswith("{")]
        text = "\n".join(items) + "\n"
    path = tmp_path / f"leads.{'jsonl' if fmt == 'jsonl' else 'json'}"
    path.write_text(text)

    result = invoke("import", str(path))

    assert result.code == 1, result.stderr
    reasons = row_lines(result.stderr)
    if fmt == "objects":
        assert reasons == ["row 2: not readable: nested too deeply", "row 3: not readable: a number longer than 4,300 digits"]
    else:
        assert reasons == [
            "row 2: not readable: nested too deeply",
            "row 3: not readable: a number longer than 4,300 digits",
            "row 4: not readable: nested too deeply",
            "row 5: not readable: a number longer than 4,300 digits",
        ]
    assert "unexpected" not in result.stderr
    assert emails() == ["ada@example.com", "bob@example.com"]
    assert [lead["notes"] for lead in invoke("list", "-o", "json").json() if lead["notes"]] == ['a ] and a " and a [ in text']


def test_deep_nesting_and_huge_integers_in_csv_cells_are_rejected_rows() -> None:
    text = (
        "Name,Email,Tags,Stage History,Custom Fields\n"
        f'T1,t1@example.com,"{DEEP}",,\n'
        f'T2,t2@example.com,"[{HUGE}]",,\n'
        f'H1,h1@example.com,,"{DEEP}",\n'
        f'F1,f1@example.com,,,"{{""n"": {HUGE}}}"\n'
        "Ok,ok@example.com,vip,,\n"
    )

    result = invoke("import", "-", "--format", "csv", input=text)

    assert result.code == 1
    assert row_lines(result.stderr) == [
        "row 2: tags: not readable: nested too deeply",
        "row 3: tags: not readable: a number longer than 4,300 digits",
        "row 4: stage_history: not readable: nested too deeply",
        "row 5: fields: not readable: a number longer than 4,300 digits",
    ]
    assert emails() == ["ok@example.com"]
