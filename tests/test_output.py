"""Output that scripts parse: every format, --fields, plain tables in a pipe, quoting in csv/tsv,
and errors as one `error:` line on stderr with stdout left empty."""

from __future__ import annotations

import csv
import io
import json
import re

import pytest
from conftest import invoke, run_process

from leadcli.domain.lead import LEAD_FIELDS

AWKWARD = {
    "comma": "Babbage, Lovelace & Co",
    "quote": 'The "Difference" Engine',
    "newline": "line one\nline two",
    "tab": "col\tumn",
    "backslash": "C:\\leads\\new",
    "leading_quote": '"quoted" at the start',
    "unicode": "Zoë Ångström — 東京",
}
BOX_DRAWING = re.compile("[\u2500-\u257f]")


def add(name: str, email: str, *extra: str) -> dict:  # type: ignore[type-arg]
    result = invoke("add", "--name", name, "--email", email, *extra, "-o", "json")
    assert result.code == 0, result.stderr
    return result.json()  # type: ignore[no-any-return]


@pytest.fixture
def two_leads() -> list[dict]:  # type: ignore[type-arg]
    first = add("Ada Lovelace", "ada@example.com", "--company", "Engines", "--tag", "vip", "--tag", "uk", "--value", "1500")
    second = add("Grace Hopper", "grace@example.com", "--stage", "negotiation", "--field", "rank=admiral")
    return [second, first]  # newest first, as list prints them


# -- every format -------------------------------------------------------------------------------


def test_json_of_a_list_is_one_array_of_full_records(two_leads: list[dict]) -> None:  # type: ignore[type-arg]
    result = invoke("list", "-o", "json")
    assert result.code == 0 and result.stderr == ""
    assert json.loads(result.stdout) == two_leads
    assert list(json.loads(result.stdout)[0]) == list(LEAD_FIELDS)


def test_jsonl_is_one_object_a_line(two_leads: list[dict]) -> None:  # type: ignore[type-arg]
    lines = invoke("list", "-o", "jsonl").stdout.splitlines()
    assert [json.loads(line) for line in lines] == two_leads


def test_ids_is_one_id_a_line(two_leads: list[dict]) -> None:  # type: ignore[type-arg]
    assert invoke("list", "-o", "ids").stdout == "".join(f"{lead['id']}\n" for lead in two_leads)


@pytest.mark.parametrize("fmt", ["csv", "tsv"])
def test_csv_and_tsv_have_a_header_and_every_field(fmt: str, two_leads: list[dict]) -> None:  # type: ignore[type-arg]
    text = invoke("list", "-o", fmt).stdout
    rows = list(csv.DictReader(io.StringIO(text), delimiter="," if fmt == "csv" else "\t"))
    assert list(rows[0]) == list(LEAD_FIELDS)
    assert [row["email"] for row in rows] == ["grace@example.com", "ada@example.com"]
    ada = rows[1]
    assert (ada["tags"], ada["value"], ada["engaged"], ada["company"], ada["phone"]) == ("vip, uk", "1500", "false", "Engines", "")
    assert json.loads(rows[0]["fields"]) == {"rank": "admiral"}
    assert json.loads(ada["stage_history"])[0]["to_stage"] == "New Lead"


def test_table_in_a_pipe_is_plain_aligned_text(two_leads: list[dict]) -> None:  # type: ignore[type-arg]
    result = invoke("list")
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["ID", "HANDLE", "NAME", "EMAIL", "COMPANY", "CURRENT_STAGE", "STATUS", "OWNER", "VALUE", "FOLLOW_UP_AT"]
    assert lines[1].startswith(two_leads[0]["id"] + "  " + two_leads[0]["id"][-10:] + "  Grace Hopper")
    assert len(lines) == 3
    assert lines[2].index("ada@example.com") == lines[1].index("grace@example.com")  # columns line up


@pytest.mark.parametrize("fmt", ["table", "json", "jsonl", "csv", "tsv", "ids"])
def test_fields_pick_and_order_columns_in_every_format(fmt: str, two_leads: list[dict]) -> None:  # type: ignore[type-arg]
    result = invoke("list", "-o", fmt, "--fields", "email, name ,value")
    assert result.code == 0, result.stderr
    out = result.stdout
    if fmt == "json":
        assert json.loads(out) == [{"email": lead["email"], "name": lead["name"], "value": lead["value"]} for lead in two_leads]
    elif fmt == "jsonl":
        assert [list(json.loads(line)) for line in out.splitlines()] == [["email", "name", "value"]] * 2
    elif fmt in ("csv", "tsv"):
        rows = list(csv.reader(io.StringIO(out), delimiter="," if fmt == "csv" else "\t"))
        assert rows == [["email", "name", "value"], ["grace@example.com", "Grace Hopper", ""], ["ada@example.com", "Ada Lovelace", "1500"]]
    elif fmt == "table":
        assert out.splitlines()[0].split() == ["EMAIL", "NAME", "VALUE"]
        assert two_leads[0]["id"] not in out
    else:  # ids are ids, whatever the fields
        assert out.split() == [lead["id"] for lead in two_leads]


@pytest.mark.parametrize("fmt", ["table", "json", "jsonl", "csv", "tsv", "ids"])
def test_show_prints_one_record_in_every_format(fmt: str, two_leads: list[dict]) -> None:  # type: ignore[type-arg]
    ada = two_leads[1]
    result = invoke("show", "ada@example.com", "-o", fmt, "--fields", "id,email,tags,activities")
    assert result.code == 0, result.stderr
    if fmt == "json":
        assert result.json() == {"id": ada["id"], "email": ada["email"], "tags": ["vip", "uk"], "activities": []}
    elif fmt == "table":
        assert result.stdout.splitlines() == [f"id          {ada['id']}", "email       ada@example.com", "tags        vip, uk", "activities"]
    elif fmt == "ids":
        assert result.stdout == f"{ada['id']}\n"
    else:
        assert ada["email"] in result.stdout


@pytest.mark.parametrize("command", [["list"], ["show", "ada@example.com"], ["add", "--name", "X", "--email", "x@example.com"]])
def test_an_unknown_field_is_exit_2_naming_the_valid_ones(command: list[str], two_leads: list[dict]) -> None:  # type: ignore[type-arg]
    result = invoke(*command, "-o", "json", "--fields", "name,shoe_size")
    assert result.code == 2
    assert result.stdout == ""
    assert result.stderr.startswith("error: --fields: unknown field(s) shoe_size; valid fields: id, name, email, company")
    assert result.stderr.count("\n") == 1


def test_an_unknown_format_is_exit_2_naming_the_valid_ones(two_leads: list[dict]) -> None:  # type: ignore[type-arg]
    result = invoke("list", "-o", "xml")
    assert (result.code, result.stdout) == (2, "")
    assert result.stderr == "error: --output: unknown format 'xml'; valid formats: table, json, jsonl, csv, tsv, ids\n"


# -- awkward values -----------------------------------------------------------------------------


@pytest.fixture
def awkward_lead() -> dict:  # type: ignore[type-arg]
    fields = [arg for key, value in AWKWARD.items() for arg in ("--field", f"{key}={value}")]
    return add(AWKWARD["comma"], "odd@example.com", "--company", AWKWARD["quote"], "--notes", AWKWARD["newline"] + "\t" + AWKWARD["backslash"], *fields)


@pytest.mark.parametrize("fmt", ["csv", "tsv"])
def test_csv_and_tsv_round_trip_awkward_values(fmt: str, awkward_lead: dict) -> None:  # type: ignore[type-arg]
    result = invoke("list", "-o", fmt, "--fields", "name,company,notes,fields")
    rows = list(csv.reader(io.StringIO(result.stdout, newline=""), delimiter="," if fmt == "csv" else "\t"))
    assert rows[0] == ["name", "company", "notes", "fields"]
    assert rows[1][:3] == [AWKWARD["comma"], AWKWARD["quote"], AWKWARD["newline"] + "\t" + AWKWARD["backslash"]]
    assert json.loads(rows[1][3]) == AWKWARD
    assert len(rows) == 2


def test_json_and_jsonl_round_trip_awkward_values(awkward_lead: dict) -> None:  # type: ignore[type-arg]
    assert invoke("list", "-o", "json").json()[0]["fields"] == AWKWARD
    assert json.loads(invoke("list", "-o", "jsonl").stdout)["notes"] == AWKWARD["newline"] + "\t" + AWKWARD["backslash"]


def test_a_piped_table_keeps_one_line_per_lead_with_awkward_values(awkward_lead: dict) -> None:  # type: ignore[type-arg]
    lines = invoke("list", "--fields", "email,notes").stdout.splitlines()
    assert len(lines) == 2
    assert "line one line two" in lines[1]
    # A tab in a value made the plain table misalign (and split a `cut -f` column); a
    # carriage return rewrote the terminal line.
    assert "\t" not in lines[1] and "\r" not in lines[1]


def test_piped_show_indents_the_lines_of_multi_line_notes() -> None:
    """`show | grep '^notes'` style parsing: a note's second line printed at column 0 looked
    like a field named after its first word."""
    add("Ada", "ada@example.com", "--notes", "line one\nline two", "--company", "A\tB")
    lines = invoke("show", "ada@example.com").stdout.splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("notes "))
    assert lines[at].split() == ["notes", "line", "one"]
    assert lines[at + 1].strip() == "line two" and lines[at + 1].startswith(" " * len("notes"))
    assert any(line.split() == ["company", "A", "B"] and "\t" not in line for line in lines)


def test_a_piped_table_aligns_columns_whatever_the_whitespace_in_values() -> None:
    add("Tab\tName", "tab@example.com", "--notes", "a\r\nb")
    add("Plain", "plain@example.com", "--notes", "c")
    lines = invoke("list", "--fields", "name,email,notes", "--sort", "name", "--asc").stdout.splitlines()
    assert lines == [
        "NAME      EMAIL              NOTES",
        "Plain     plain@example.com  c",
        "Tab Name  tab@example.com    a b",
    ]


# -- a real pipe --------------------------------------------------------------------------------


def test_a_table_in_a_real_pipe_has_no_ansi_no_box_drawing_and_no_truncation() -> None:
    long_notes = "Met at the conference; " + "x" * 300 + " END"
    long_company = "C" * 200  # the longest a company may be
    added = run_process("add", "--name", "Ada", "--email", "ada@example.com", "--company", long_company, "--notes", long_notes)
    assert added.code == 0, added.stderr
    for args in (["list"], ["list", "--fields", "name,company,notes"], ["show", "ada@example.com"], ["stages"], ["doctor"]):
        result = run_process(*args, env={"TERM": "xterm-256color", "COLUMNS": "40", "FORCE_COLOR": ""})
        assert result.code == 0, result.stderr
        assert "\x1b" not in result.stdout, args
        assert not BOX_DRAWING.search(result.stdout), args
        assert "…" not in result.stdout and "..." not in result.stdout, args
        if args[0] in ("list", "show"):
            assert long_company in result.stdout, args
        if "notes" in args or args[0] == "show":
            assert long_notes in result.stdout, args


# -- errors -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (["show", "ghost@example.com"], 3),
        (["add", "--name", "Ada", "--email", "bad"], 2),
        (["list", "--sort", "shoe_size", "-o", "json"], 2),
        (["list", "--created-after", "someday"], 2),
        (["list", "--bogus-flag"], 2),
        (["frobnicate"], 2),
        (["--db", "nowhere.txt", "count"], 2),
    ],
)
def test_an_error_is_one_line_on_stderr_and_stdout_stays_empty(args: list[str], code: int) -> None:
    result = invoke(*args)
    assert result.code == code
    assert result.stdout == ""
    assert result.stderr.startswith("error: ")
    assert result.stderr.count("\n") == 1 and result.stderr.endswith("\n")


def test_control_characters_in_stored_text_never_reach_the_terminal(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Input refuses control characters, but a store may already hold them (an older leadcli,
    a Leads Artisan database): every table view shows them as \\xNN, never raw, while the data
    formats keep the value exactly."""
    from leadmaker import insert, lead

    from leadcli.store import open_store

    uri = str(tmp_path / "old.db")
    store = open_store(uri)
    try:
        insert(store, lead("Evil\x1b[31mRED\x1b[0m", email="evil@example.com", company="Nul\x00Co", notes="bell\x07 and\nbreak"))
    finally:
        store.close()

    for env in ({}, {"LEADCLI_FORCE_TERMINAL": "1", "COLUMNS": "200"}):
        for args in (("list", "--fields", "name,company"), ("show", "evil@example.com")):
            shown = invoke("--db", uri, *args, env=env)
            assert shown.code == 0, shown.stderr
            assert "\x1b[31mRED" not in shown.stdout and "\x00" not in shown.stdout and "\x07" not in shown.stdout
            assert "Evil\\x1b[31mRED" in shown.stdout, shown.stdout
    assert invoke("--db", uri, "list", "-o", "json").json()[0]["name"] == "Evil\x1b[31mRED\x1b[0m"


@pytest.mark.parametrize(
    "args",
    [("--name", "Evil\x1b[31mRED"), ("--company", "Nul\x00Co"), ("--notes", "bell\x07"), ("--tag", "t\x1b"), ("--field", "k=v\x9b")],
)
def test_control_characters_are_refused_on_input_but_tabs_and_line_breaks_are_kept(args: tuple[str, str]) -> None:
    base = {"--name": "Ada", "--email": "ada@example.com"}
    refused = invoke("add", *[x for k, v in {**base, **dict([args])}.items() for x in (k, v)])
    assert refused.code == 2
    assert refused.stderr.endswith("must not contain control characters (ESC, NUL…); tabs and line breaks are fine\n")
    assert refused.stderr.count("\n") == 1
    kept = add("Ada\tLovelace", "ada@example.com", "--notes", "line one\nline\ttwo")
    assert (kept["name"], kept["notes"]) == ("Ada\tLovelace", "line one\nline\ttwo")


@pytest.mark.parametrize(
    "args",
    [("log", "ada@example.com", "--type", "note", "--note", "a\x1b[2Jb"), ("move", "ada@example.com", "--to", "negotiation", "--note", "x\x00"),
     ("edit", "ada@example.com", "--stage", "negotiation", "--note", "x\x1b"), ("edit", "ada@example.com", "--add-tag", "t\x07")],
)  # fmt: skip
def test_notes_and_tags_given_to_log_move_and_edit_refuse_control_characters(args: tuple[str, ...]) -> None:
    before = add("Ada", "ada@example.com")
    result = invoke(*args)
    assert result.code == 2 and result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.endswith("must not contain control characters (ESC, NUL…); tabs and line breaks are fine\n")
    assert invoke("show", "ada@example.com", "-o", "json").json()["version"] == before["version"]


@pytest.mark.parametrize("args", [("stages",), ("history", "ada@example.com")])
def test_ids_output_of_rows_without_ids_is_refused_not_blank_lines(args: tuple[str, ...]) -> None:
    """`stages -o ids | leadcli delete -` printed blank lines (and deleted nothing, exit 0)."""
    add("Ada", "ada@example.com")
    result = invoke(*args, "-o", "ids")
    assert (result.code, result.stdout) == (2, "")
    assert result.stderr == "error: --output ids: these rows have no ids; use table, json, jsonl, csv or tsv\n"
