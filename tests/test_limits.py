"""Every value has a size limit both stores hold (issue 14 item 7), checked on every way in: add,
edit, --json, log, move, import, --user. A refused value is exit 2 (a rejected row in an import)
and nothing is written."""

from __future__ import annotations

import json

import pytest
from conftest import invoke

from leadcli.domain.validation import LEAD_BYTES

ADA = ("add", "--name", "Ada", "--email", "ada@example.com")
LONG = "x" * 10_001


def refused(result, *words: str) -> None:  # type: ignore[no-untyped-def]
    assert result.code == 2, (result.code, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for word in words:
        assert word in lines[0], lines[0]


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("--field", f"blob={LONG}"), ("fields", "10,000")),
        (("--field", f"{'k' * 101}=v"), ("custom field name", "100")),
        (tuple(a for i in range(101) for a in ("--field", f"f{i}=v")), ("at most 100 custom fields",)),
        (("--tag", "t" * 101), ("tags", "100 characters")),
        (tuple(a for i in range(101) for a in ("--tag", f"t{i}")), ("at most 100 tags",)),
        (("--notes", LONG), ("notes",)),
        (("--value", "1e16"), ("value",)),
    ],
)
def test_add_refuses_values_over_their_limits(store_uri: str, args: tuple[str, ...], words: tuple[str, ...]) -> None:
    refused(invoke("--db", store_uri, *ADA, *args), *words)
    assert invoke("--db", store_uri, "count").stdout == "0\n"


def test_add_json_edit_log_move_and_user_are_limited_too(store_uri: str) -> None:
    db = ("--db", store_uri)
    big = json.dumps({"name": "Bo", "email": "bo@example.com", "fields": {"blob": LONG}})
    refused(invoke(*db, "add", "--json", "-", input=big), "fields")
    assert invoke(*db, *ADA, "--tag", "vip").code == 0
    refused(invoke(*db, "edit", "ada@example.com", "--field", f"blob={LONG}"), "fields")
    refused(invoke(*db, "edit", "ada@example.com", "--add-tag", "t" * 101), "--add-tag", "100")
    many = [a for i in range(100) for a in ("--add-tag", f"t{i}")]
    refused(invoke(*db, "edit", "ada@example.com", *many), "at most 100 tags")
    refused(invoke(*db, "log", "ada@example.com", "--type", "call", "--note", LONG), "--note", "10,000")
    refused(invoke(*db, "move", "ada@example.com", "--to", "negotiation", "--note", LONG), "--note", "10,000")
    refused(invoke(*db, "--user", "u" * 101, "edit", "ada@example.com", "--company", "X"), "--user", "100")
    refused(invoke(*db, "edit", "ada@example.com", "--company", "X", env={"LEADCLI_USER": "bad\x1b[31m"}), "--user")

    ada = invoke(*db, "show", "ada@example.com", "-o", "json").json()
    assert (ada["version"], ada["tags"], ada["fields"], ada["company"]) == (1, ["vip"], {}, None)


def test_import_rejects_rows_over_a_limit_and_writes_the_rest(store_uri: str) -> None:
    text = (
        "Name,Email,Blob,Tags\n"
        f"Big,big@example.com,{LONG},\n"
        f"Tagged,tagged@example.com,,{'t' * 101}\n"
        "Ok,ok@example.com,small,vip\n"
    )
    result = invoke("--db", store_uri, "import", "-", "--format", "csv", input=text)
    assert result.code == 1
    rows = [line.split(":")[0] for line in result.stderr.splitlines() if line.startswith("row ")]
    assert rows == ["row 2", "row 3"]
    assert [lead["email"] for lead in invoke("--db", store_uri, "list", "-o", "json").json()] == ["ok@example.com"]


def activities(n: int, note_chars: int) -> list[dict[str, str]]:
    return [{"type": "note", "at": "2026-01-01T00:00:00.000+00:00", "by": "ops", "note": "n" * note_chars} for _ in range(n)]


def test_a_whole_lead_is_limited_and_the_largest_accepted_one_stays_editable(store_uri: str) -> None:
    db = ("--db", store_uri)
    near = {"name": "Near", "email": "near@example.com", "activities": activities(LEAD_BYTES // 10_100, 10_000)}
    over = {"name": "Over", "email": "over@example.com", "activities": activities(LEAD_BYTES // 10_000 + 5, 10_000)}
    long_note = {"name": "Long", "email": "long@example.com", "stage_history": [
        {"from_stage": None, "to_stage": "New Lead", "changed_at": "2026-01-01T00:00:00Z", "by": "ops", "notes": LONG}]}  # fmt: skip
    lines = "\n".join(json.dumps(r) for r in (near, over, long_note)) + "\n"

    result = invoke(*db, "import", "-", "--format", "jsonl", input=lines)

    assert result.code == 1
    rejected = [line for line in result.stderr.splitlines() if line.startswith("row ")]
    assert len(rejected) == 2
    assert rejected[0].startswith("row 2: the lead would be 4.") and "over the 4 MB a lead may hold" in rejected[0]
    assert rejected[1] == "row 3: stage_history: entry 1: notes has more than 10,000 characters"
    # the largest accepted lead is stored whole and can be changed on either store
    assert invoke(*db, "edit", "near@example.com", "--company", "Still Editable").code == 0
    assert invoke(*db, "move", "near@example.com", "--to", "negotiation", "--note", "n" * 100).code == 0
    shown = invoke(*db, "show", "near@example.com", "-o", "json").json()
    assert shown["company"] == "Still Editable"
    # ... until a change would take it over the limit: exit 2, nothing written
    growing = [invoke(*db, "log", "near@example.com", "--type", "call", "--note", "g" * 10_000) for _ in range(6)]
    assert [r.code for r in growing][-1] == 2
    refused(growing[-1], "over the 4 MB a lead may hold")
    assert invoke(*db, "count").stdout == "1\n"
