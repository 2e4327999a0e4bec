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


# -- issue 13: numbers as the file writes them --------------------------------------------------


def values(*db: str) -> dict[str, float | None]:
    return {lead["email"]: lead["value"] for lead in invoke(*db, "list", "--all", "-o", "json").json()}


def test_numbers_with_currencies_and_grouping_are_read_as_written_and_ambiguous_ones_rejected(store_uri: str) -> None:
    rows = [
        ("usd", "USD 1,000", 1000), ("dollar", "$12,500", 12500), ("euro", "€1.200,50", 1200.5),
        ("eu", "12.500,00 €", 12500), ("plain", "1200", 1200), ("point", "12.5", 12.5),
        ("space", "1 234,56", 1234.56), ("swiss", "CHF 1'000.50", 1000.5), ("millions", "1.234.567", 1234567),
        ("code", "2,500.75 EUR", 2500.75), ("small", "0.125", 0.125),
    ]  # fmt: skip
    bad = [("comma", "12,5"), ("dot", "1.200"), ("groups", "12,34,567"), ("mixed", "1.200,5.3"), ("word", "lots")]
    text = "Name,Email,Deal Value\n" + "".join(f'{n},{n}@example.com,"{v}"\n' for n, v, _ in rows) + "".join(f'{n},{n}@example.com,"{v}"\n' for n, v in bad)

    result = invoke("--db", store_uri, "import", "-", "--format", "csv", input=text)

    assert result.code == 1
    first_bad = len(rows) + 2
    hint = "pass --decimal-comma if the file writes 1.234,56, --decimal-point if it writes 1,234.56"
    assert row_lines(result.stderr) == [
        f"row {first_bad}: value: '12,5' has a decimal comma or a misplaced grouping comma; {hint}",
        f"row {first_bad + 1}: value: '1.200' reads as 1.2 or as 1200; {hint}",
        f"row {first_bad + 2}: value: cannot read '12,34,567' as a number: its digit groups are not groups of three",
        f"row {first_bad + 3}: value: cannot read '1.200,5.3' as a number: its marks are not consistent",
        f"row {first_bad + 4}: value: cannot read 'lots' as a number",
    ]
    assert values("--db", store_uri) == {f"{n}@example.com": v for n, _, v in rows}
    stats = invoke("--db", store_uri, "stats", "-o", "json").json()
    assert sum(stage["value"] for stage in stats["stages"]) == pytest.approx(sum(v for _, _, v in rows))


def test_decimal_comma_reads_european_files_and_decimal_point_us_ones() -> None:
    eu = "Name;Email;Amount\nA;a@example.com;12,5\nB;b@example.com;1.200\nC;c@example.com;1.234,56 €\nD;d@example.com;1,234.56\n"
    result = invoke("import", "-", "--format", "csv", "--decimal-comma", input=eu)
    assert row_lines(result.stderr) == [
        "row 5: value: cannot read '1,234.56' as a number: its marks are not consistent; the import reads ',' as the decimal mark"
    ]
    assert values() == {"a@example.com": 12.5, "b@example.com": 1200, "c@example.com": 1234.56}

    us = "Name,Email,Amount\nE,e@example.com,1.200\nF,f@example.com,\"1,200\"\n"
    assert invoke("import", "-", "--format", "csv", "--decimal-point", input=us).code == 0
    assert {k: v for k, v in values().items() if k[0] in "ef"} == {"e@example.com": 1.2, "f@example.com": 1200}


def test_rejects_keeps_an_unsplittable_row_as_its_file_lines_so_it_can_be_fixed(tmp_path: Path) -> None:
    data, rejects = tmp_path / "crm.csv", tmp_path / "rejects.csv"
    data.write_bytes(b'Name,Email,Notes\r\nAda,ada@example.com,"said "hi" twice"\r\nBob,bob@example.com,ok\r\nNo Email,,x\r\n')

    result = invoke("import", str(data), "--rejects", str(rejects))

    assert result.code == 1
    assert rejects.read_bytes() == b'Name,Email,Notes,reason\nAda,ada@example.com,"said "hi" twice"\r\nNo Email,,x,email is required (an Email, Email Address or E-mail column)\n'.replace(
        b"x,email is required (an Email, Email Address or E-mail column)", b'x,"email is required (an Email, Email Address or E-mail column)"'
    )
    fixed = rejects.read_text(encoding="utf-8").replace('"said "hi" twice"', '"said ""hi"" twice"').replace("No Email,,", "No Email,no@example.com,")
    rejects.write_text(fixed, encoding="utf-8")

    again = invoke("import", str(rejects))

    assert again.code == 0, again.stderr
    assert emails() == ["ada@example.com", "bob@example.com", "no@example.com"]
    assert [lead["notes"] for lead in invoke("list", "-o", "json").json() if lead["email"] == "ada@example.com"] == ['said "hi" twice']


def test_rejects_keeps_an_unreadable_json_item_whole(tmp_path: Path) -> None:
    data, rejects = tmp_path / "leads.jsonl", tmp_path / "rejects.jsonl"
    deep = '{"name": "Deep", "email": "deep@example.com", "fields": {"x": ' + DEEP + "}}"
    data.write_text(deep + '\n{"name": "Ok", "email": "ok@example.com"}\n')

    assert invoke("import", str(data), "--rejects", str(rejects)).code == 1

    written = json.loads(rejects.read_text())
    assert written == {"line": deep, "reason": "not readable: nested too deeply"}


@pytest.mark.parametrize("version", ["1e30", "1e400", "NaN", '"99999999999999999999"', str(1 << 63)])
def test_a_version_past_64_bits_is_a_rejected_row_not_the_end_of_the_import(store_uri: str, version: str) -> None:
    """It stopped the whole import with `error: unexpected TypeError` (SQLite) or OverflowError
    (MongoDB): the good rows were not written either."""
    text = (
        '{"name": "Ada", "email": "ada@example.com", "version": 3}\n'
        f'{{"name": "Huge", "email": "huge@example.com", "version": {version}}}\n'
        '{"name": "Bob", "email": "bob@example.com"}\n'
    )

    result = invoke("--db", store_uri, "import", "-", "--format", "jsonl", input=text)

    assert result.code == 1, result.stderr
    assert [line.split(":")[0] for line in row_lines(result.stderr)] == ["row 2"]
    assert "version" in row_lines(result.stderr)[0] and "unexpected" not in result.stderr
    assert emails("--db", store_uri) == ["ada@example.com", "bob@example.com"]


def test_json_arrays_one_after_another_are_all_read_and_text_after_the_array_is_an_error(tmp_path: Path) -> None:
    """`export -o json >> all.json` twice makes two arrays: the second was ignored without a
    word (exit 0), as was anything else after the first array's closing bracket."""
    appended = tmp_path / "all.json"
    appended.write_text('[{"name": "Ada", "email": "ada@example.com"}]\n[]\n[\n{"name": "Bob", "email": "bob@example.com"},\n{"name": "Cy", "email": "cy"}\n]\n')

    result = invoke("import", str(appended))

    assert result.code == 1, result.stderr
    assert row_lines(result.stderr)[0].startswith("row 3: email:")
    assert emails() == ["ada@example.com", "bob@example.com"]
    trailing = tmp_path / "trailing.json"
    trailing.write_text('[{"name": "Di", "email": "di@example.com"}] and more')
    bad = invoke("import", str(trailing))
    assert bad.code == 2 and bad.stderr.startswith("error: not a JSON array of objects:"), bad.stderr
    assert "di@example.com" not in emails()
