"""The foundation's commands through the real entry point: add, show, edit, delete, list, count,
stages, doctor, config; global options, profiles and precedence; the SQLite `--db` forms."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from conftest import invoke
from test_sqlite_store import event, make_lead

from leadcli import __version__


def add(name: str, email: str, *extra: str) -> dict[str, Any]:
    result = invoke("add", "--name", name, "--email", email, *extra, "-o", "json")
    assert result.code == 0, result.stderr
    return result.json()  # type: ignore[no-any-return]


def show(ref: str) -> dict[str, Any]:
    result = invoke("show", ref, "-o", "json")
    assert result.code == 0, result.stderr
    return result.json()  # type: ignore[no-any-return]


# -- add ----------------------------------------------------------------------------------------


def test_add_with_every_flag() -> None:
    lead = add(
        " Ada Lovelace ", " Ada@Example.COM ",
        "--company", "Analytical Engines", "--phone", "+44 20 7946 0000", "--stage", "proposal-sent",
        "--engaged", "--owner", "grace", "--source", "referral", "--tag", "vip", "--tag", "uk", "--tag", "vip",
        "--value", "12500.5", "--notes", "Met at the Royal Society", "--follow-up", "2026-12-01T09:00:00+00:00",
        "--field", "linkedin=ada-l", "--field", "size=large",
    )  # fmt: skip
    assert len(lead["id"]) == 24 and all(c in "0123456789abcdef" for c in lead["id"])
    assert lead["name"] == "Ada Lovelace"
    assert lead["email"] == "ada@example.com"
    assert (lead["company"], lead["phone"], lead["owner"], lead["source"]) == ("Analytical Engines", "+44 20 7946 0000", "grace", "referral")
    assert lead["current_stage"] == "Proposal Sent"
    assert (lead["engaged"], lead["status"]) == (True, "Engaged")
    assert lead["tags"] == ["vip", "uk"]
    assert lead["value"] == 12500.5
    assert lead["follow_up_at"] == "2026-12-01T09:00:00.000+00:00"
    assert lead["fields"] == {"linkedin": "ada-l", "size": "large"}
    assert lead["version"] == 1
    assert lead["stage_history"] == [
        {"from_stage": None, "to_stage": "Proposal Sent", "changed_at": lead["created_at"], "by": "tester", "notes": None}
    ]
    assert lead["created_at"] == lead["updated_at"] == lead["stage_updated_at"]
    assert lead["created_at"].endswith("+00:00")
    assert show(lead["id"]) == {**lead, "activities": []}


def test_add_defaults_match_the_contract() -> None:
    lead = add("Ada", "ada@example.com")
    assert list(lead) == [
        "id", "name", "email", "company", "phone", "status", "engaged", "current_stage", "stage_updated_at",
        "owner", "source", "tags", "value", "notes", "follow_up_at", "last_contacted", "created_at",
        "updated_at", "stage_history", "fields", "version",
    ]  # fmt: skip
    assert (lead["status"], lead["engaged"], lead["current_stage"]) == ("Not Engaged", False, "New Lead")
    assert (lead["tags"], lead["fields"], lead["value"], lead["last_contacted"]) == ([], {}, None, None)


def test_add_table_output_tells_what_was_added_on_stderr() -> None:
    result = invoke("add", "--name", "Ada", "--email", "ada@example.com")
    assert result.code == 0
    assert result.stderr.startswith("added Ada <ada@example.com> as ")
    assert "ada@example.com" in result.stdout


def test_add_json_from_stdin_with_flags_winning() -> None:
    document = {
        "name": "Grace Hopper", "email": "Grace@Example.com", "company": "Navy", "stage": "negotiation",
        "tags": ["cobol"], "value": 9000, "fields": {"rank": "admiral"}, "follow_up_at": "2026-12-01T10:00:00Z",
    }  # fmt: skip
    result = invoke("add", "--json", "-", "--company", "US Navy", "--tag", "navy", "--field", "ship=none", "-o", "json", input=json.dumps(document))
    assert result.code == 0, result.stderr
    lead = result.json()
    assert (lead["name"], lead["email"]) == ("Grace Hopper", "grace@example.com")
    assert lead["company"] == "US Navy"  # the flag beats the JSON
    assert lead["tags"] == ["navy"]
    assert lead["fields"] == {"rank": "admiral", "ship": "none"}
    assert lead["current_stage"] == "Negotiation"
    assert lead["value"] == 9000
    assert lead["follow_up_at"] == "2026-12-01T10:00:00.000+00:00"


def test_add_json_from_a_file(tmp_path: Path) -> None:
    path = tmp_path / "lead.json"
    path.write_text('{"name": "Ada", "email": "ada@example.com"}')
    result = invoke("add", "--json", str(path), "-o", "ids")
    assert result.code == 0, result.stderr
    assert show("ada@example.com")["id"] == result.stdout.strip()


def test_add_json_from_a_file_that_cannot_be_read_is_exit_2(tmp_path: Path) -> None:
    (tmp_path / "latin1.json").write_bytes('{"name": "Jos\xe9"}'.encode("latin-1"))
    for path, reason in [(tmp_path / "missing.json", "No such file or directory"), (tmp_path / "latin1.json", "is not UTF-8 text")]:
        result = invoke("add", "--json", str(path))
        assert result.code == 2
        assert result.stderr.startswith("error: --json: ") and reason in result.stderr
        assert result.stderr.count("\n") == 1
    assert invoke("count").stdout.strip() == "0"


@pytest.mark.parametrize(
    ("value", "message"),
    [("NaN", "fields.score: must be text, a number, true/false or null"),
     ("-Infinity", "fields.score: must be text, a number, true/false or null"),
     ("18446744073709551616", "fields: score: a whole number must fit in 64 bits (as MongoDB stores it)")],
)  # fmt: skip
def test_custom_field_numbers_that_json_and_mongodb_cannot_hold_are_refused(value: str, message: str) -> None:
    result = invoke("add", "--name", "Ada", "--email", "ada@example.com", "--json", "-", input='{"fields": {"score": ' + value + '}}')
    assert (result.code, result.stderr) == (2, f"error: {message}\n")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--email", "ada@example.com"], "error: --name is required\n"),
        (["--name", "Ada"], "error: --email is required\n"),
        ([], "error: --name and --email are required\n"),
    ],
)
def test_add_without_name_or_email_and_no_terminal_is_exit_2_without_prompting(args: list[str], message: str) -> None:
    result = invoke("add", *args, input="Ada\nada@example.com\n")  # stdin is not a TTY: never read
    assert result.code == 2
    assert result.stderr == message
    assert result.stdout == ""
    assert invoke("count").stdout == "0\n"


def test_add_duplicate_email_is_exit_4_in_any_case() -> None:
    first = add("Ada", "ada@example.com")
    result = invoke("add", "--name", "Other Ada", "--email", "ADA@example.com ")
    assert result.code == 4
    assert result.stderr == f"error: a lead with email ada@example.com already exists (id {first['id']})\n"
    assert invoke("count").stdout == "1\n"


# -- show / edit / delete: finding the lead -----------------------------------------------------


def test_a_lead_is_found_by_id_prefix_or_email() -> None:
    lead = add("Ada", "ada@example.com")
    for ref in (lead["id"], lead["id"].upper(), lead["id"][:4], lead["id"][:10], "ADA@example.com", f" {lead['id']} "):
        assert show(ref)["id"] == lead["id"], ref


def test_leads_added_together_have_short_distinct_prefixes() -> None:
    """Ids begin with the creation second; what follows is random, so leads added in the same
    second by one process (an import, a script) can still be named by a short prefix."""
    ids = [add(f"Lead {n}", f"lead{n}@example.com")["id"] for n in range(5)]
    for lead_id in ids:
        assert show(lead_id[:14])["id"] == lead_id


def seed_ids(home: Path, ids: list[str]) -> None:
    from leadcli.store.sqlite import SqliteStore

    store = SqliteStore(home / "leads.db")
    for n, lead_id in enumerate(ids):
        store.insert(make_lead(f"lead{n}@example.com", id=lead_id), event())
    store.close()


def test_an_ambiguous_prefix_is_exit_2_and_an_unknown_one_exit_3(leadcli_home: Path) -> None:
    seed_ids(leadcli_home, ["abcd" + "1" * 20, "abcd" + "2" * 20])
    ambiguous = invoke("show", "abcd")
    assert ambiguous.code == 2
    assert ambiguous.stderr == (
        "error: abcd matches 2 leads: 1111111111 Lead0 <lead0@example.com>; 2222222222 Lead1 <lead1@example.com>; "
        "type more characters of the handle\n"
    )
    assert show("abcd1")["email"] == "lead0@example.com"
    for ref, message in (
        ("abce", "no lead with a handle or id starting abce (to find a lead by name: leadcli search abce)"),
        ("f" * 24, f"no lead with id {'f' * 24}"),
        ("nobody@example.com", "no lead with email nobody@example.com"),
    ):
        result = invoke("show", ref)
        assert (result.code, result.stderr, result.stdout) == (3, f"error: {message}\n", "")


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        ("abc", "'abc' is too short: give at least 4 characters of a handle or id"),
        ("not-an-id", "'not-an-id' is not a lead handle, id or email; to find a lead by name: leadcli search not-an-id"),
        ("abcdg", "'abcdg' is not a lead handle, id or email; to find a lead by name: leadcli search abcdg"),
        ("", "an empty LEAD: give a handle, an id or an email"),
        ("Grace Hopper", "'Grace Hopper' is not a lead handle, id or email; to find a lead by name: leadcli search \"Grace Hopper\""),
    ],
)
def test_a_reference_that_is_no_handle_id_or_email_is_exit_2_and_points_to_search(ref: str, message: str) -> None:
    add("Ada", "ada@example.com")
    result = invoke("show", ref)
    assert (result.code, result.stderr, result.stdout) == (2, f"error: {message}\n", "")


def test_a_short_prefix_of_a_real_lead_is_still_exit_2() -> None:
    lead = add("Ada", "ada@example.com")
    assert invoke("show", lead["id"][:3]).code == 2


# -- edit ---------------------------------------------------------------------------------------


def test_edit_fields_tags_and_unset() -> None:
    lead = add("Ada", "ada@example.com", "--company", "Engines", "--tag", "a", "--tag", "b", "--value", "10", "--field", "x=1", "--field", "y=2", "--follow-up", "+1d")
    result = invoke(
        "edit", lead["id"][:6], "--name", "Ada King", "--add-tag", "c", "--add-tag", "a", "--remove-tag", "b",
        "--unset", "value", "--unset", "follow_up_at", "--unset", "x", "--field", "z=3", "--owner", "grace", "-o", "json",
    )  # fmt: skip
    assert result.code == 0, result.stderr
    edited = result.json()
    assert edited["name"] == "Ada King"
    assert edited["tags"] == ["a", "c"]
    assert (edited["value"], edited["follow_up_at"]) == (None, None)
    assert edited["fields"] == {"y": "2", "z": "3"}
    assert edited["owner"] == "grace"
    assert edited["company"] == "Engines"  # untouched
    assert edited["version"] == 2
    assert edited["updated_at"] >= lead["updated_at"]
    assert edited["stage_history"] == lead["stage_history"]  # no stage change, no history
    assert show("ada@example.com") == {**edited, "activities": []}



def test_remove_tag_reads_a_tag_as_add_tag_and_the_tag_filter_do() -> None:
    """`--add-tag " vip "` stores `vip` and `--tag " vip "` finds it; `--remove-tag " vip "`
    (a script's "$TAG" with a stray space) left it there and said nothing changed."""
    add("Ada", "ada@example.com", "--company", "Engines")
    assert invoke("edit", "ada@example.com", "--add-tag", " vip ", "-o", "json").json()["tags"] == ["vip"]
    assert invoke("list", "--tag", " vip ", "-o", "json").json()[0]["email"] == "ada@example.com"
    removed = invoke("edit", "ada@example.com", "--remove-tag", " vip ", "-o", "json")
    assert removed.code == 0, removed.stderr
    assert removed.json()["tags"] == []

def test_edit_unset_of_an_unknown_field_is_refused_with_the_valid_names() -> None:
    lead = add("Ada", "ada@example.com", "--company", "Engines", "--field", "region=EMEA", "--field", "size=50")
    typo = invoke("edit", "ada@example.com", "--unset", "compnay")
    assert (typo.code, typo.stdout) == (2, "")
    assert typo.stderr == (
        "error: --unset: unknown field 'compnay': give one of company, phone, status, owner, source, tags, value, "
        "notes, follow_up_at, last_contacted; custom fields of this lead: region, size\n"
    )
    assert invoke("edit", "ada@example.com", "--unset", "fields.nosuch").code == 2
    assert invoke("edit", "ada@example.com", "--unset", "created_at").stderr == "error: --unset: created_at cannot be unset\n"
    assert show("ada@example.com") == {**lead, "activities": []}  # refused before any write

    # A custom field that exists is unset by its name or as fields.NAME; `follow-up` is the option's spelling.
    edited = invoke("edit", "ada@example.com", "--unset", "region", "--unset", "fields.size", "--unset", "follow-up", "-o", "json")
    assert edited.code == 0, edited.stderr
    assert (edited.json()["fields"], edited.json()["company"]) == ({}, "Engines")
    bare = invoke("edit", "ada@example.com", "--unset", "region")
    assert (bare.code, bare.stderr) == (2, "error: --unset: unknown field 'region': give one of company, phone, status, owner, "
                                           "source, tags, value, notes, follow_up_at, last_contacted; this lead has no custom fields\n")


def test_edit_unset_of_a_custom_field_some_of_the_leads_have() -> None:
    add("Ada", "ada@example.com", "--field", "region=EMEA")
    add("Grace", "grace@example.com")
    both = invoke("edit", "ada@example.com", "grace@example.com", "--unset", "region", "-o", "json")
    assert both.code == 0, both.stderr
    assert [lead["fields"] for lead in both.json()] == [{}, {}]
    neither = invoke("edit", "ada@example.com", "grace@example.com", "--unset", "region")
    assert neither.code == 2 and "these leads have no custom fields" in neither.stderr


def test_edit_with_a_stage_change_appends_history() -> None:
    lead = add("Ada", "ada@example.com")
    result = invoke("--user", "grace", "edit", "ada@example.com", "--stage", "Meeting Scheduled", "--note", "booked", "-o", "json")
    assert result.code == 0, result.stderr
    edited = result.json()
    assert edited["current_stage"] == "Meeting Scheduled"
    assert edited["stage_updated_at"] == edited["updated_at"]
    assert edited["stage_history"] == [
        lead["stage_history"][0],
        {"from_stage": "New Lead", "to_stage": "Meeting Scheduled", "changed_at": edited["updated_at"], "by": "grace", "notes": "booked"},
    ]
    # The same stage again changes nothing.
    again = invoke("edit", "ada@example.com", "--stage", "meeting-scheduled", "-o", "json").json()
    assert again["version"] == edited["version"]
    assert len(again["stage_history"]) == 2


def test_edit_engagement_keeps_status_consistent() -> None:
    add("Ada", "ada@example.com")
    engaged = invoke("edit", "ada@example.com", "--engaged", "-o", "json").json()
    assert (engaged["engaged"], engaged["status"]) == (True, "Engaged")
    by_status = invoke("edit", "ada@example.com", "--status", "not engaged", "-o", "json").json()
    assert (by_status["engaged"], by_status["status"]) == (False, "Not Engaged")
    custom = invoke("edit", "ada@example.com", "--status", "Waiting on legal", "-o", "json").json()
    assert (custom["engaged"], custom["status"]) == (False, "Waiting on legal")


@pytest.mark.parametrize(
    ("args", "code", "needle"),
    [
        ([], 2, "nothing to change"),
        (["--unset", "email"], 2, "--unset: email cannot be unset"),
        (["--stage", "won"], 2, "unknown stage 'won'; valid stages: New Lead"),
        (["--email", "grace@example.com"], 4, "a lead with email grace@example.com already exists"),
    ],
)
def test_edit_refusals_change_nothing(args: list[str], code: int, needle: str) -> None:
    add("Grace", "grace@example.com")
    before = add("Ada", "ada@example.com")
    result = invoke("edit", "ada@example.com", *args)
    assert result.code == code
    assert needle in result.stderr and result.stderr.startswith("error: ")
    assert show(before["id"]) == {**before, "activities": []}


def test_edit_unknown_lead_is_exit_3() -> None:
    result = invoke("edit", "ghost@example.com", "--company", "X")
    assert (result.code, result.stderr) == (3, "error: no lead with email ghost@example.com\n")


def test_edit_several_leads_or_ids_from_stdin_prints_an_array() -> None:
    """The contract's `edit` prints an array when several leads (or `-`) are given; `edit`
    took one LEAD only, so reassigning a list of leads meant a shell loop."""
    ada, grace = add("Ada", "ada@example.com", "--owner", "ann"), add("Grace", "grace@example.com", "--owner", "ann")
    add("Linus", "linus@example.com", "--owner", "sam")
    result = invoke("edit", "ada@example.com", grace["id"], "--owner", "bob", "-o", "json")
    assert result.code == 0, result.stderr
    assert [(x["email"], x["owner"]) for x in result.json()] == [("ada@example.com", "bob"), ("grace@example.com", "bob")]
    ids = invoke("list", "--owner", "bob", "-o", "ids").stdout
    result = invoke("edit", "-", "--add-tag", "moved", "-o", "json", input=ids)
    assert result.code == 0, result.stderr
    assert sorted(x["id"] for x in result.json()) == sorted([ada["id"], grace["id"]])
    assert all(x["tags"] == ["moved"] for x in result.json())
    result = invoke("edit", "-", "--owner", "x", "-o", "json", input="")
    assert (result.code, result.stdout.strip()) == (0, "[]")


@pytest.mark.parametrize(
    ("args", "stdin", "code", "needle"),
    [
        (["ada@example.com", "ghost@example.com", "--owner", "bob"], None, 3, "no lead with email ghost@example.com"),
        (["ada@example.com", "grace@example.com", "--email", "x@example.com"], None, 2, "--email: one lead at a time"),
        (["-", "--json", "-"], "{}", 2, "--json - and - for leads both read stdin"),
    ],
)
def test_edit_several_leads_is_all_or_nothing(args: list[str], stdin: str | None, code: int, needle: str) -> None:
    ada, grace = add("Ada", "ada@example.com"), add("Grace", "grace@example.com")
    result = invoke("edit", *args, input=stdin)
    assert result.code == code
    assert needle in result.stderr and result.stderr.startswith("error: ")
    assert (show(ada["id"]), show(grace["id"])) == ({**ada, "activities": []}, {**grace, "activities": []})


# -- delete -------------------------------------------------------------------------------------


def test_delete_without_yes_and_no_terminal_refuses() -> None:
    add("Ada", "ada@example.com")
    result = invoke("delete", "ada@example.com")
    assert result.code == 2
    assert result.stderr == "error: refusing to delete without confirmation: pass --yes\n"
    assert invoke("count").stdout == "1\n"


def test_delete_with_yes_by_prefix_and_email() -> None:
    ada = add("Ada", "ada@example.com")
    add("Grace", "grace@example.com")
    add("Alan", "alan@example.com")
    result = invoke("delete", ada["id"][:12], "grace@example.com", ada["id"], "--yes")
    assert result.code == 0, result.stderr
    assert result.stderr == "deleted Ada <ada@example.com>\ndeleted Grace <grace@example.com>\n"
    assert [lead["email"] for lead in invoke("list", "-o", "json").json()] == ["alan@example.com"]


def test_delete_reads_ids_from_stdin() -> None:
    for n in range(3):
        add(f"Lead {n}", f"lead{n}@example.com")
    ids = invoke("list", "-o", "ids").stdout
    assert len(ids.split()) == 3
    result = invoke("delete", "-", "--yes", input=ids + "\n\n")
    assert result.code == 0, result.stderr
    assert invoke("count").stdout == "0\n"


def test_delete_from_empty_stdin_is_nothing_to_do() -> None:
    add("Ada", "ada@example.com")
    result = invoke("delete", "-", "--yes", input="")
    assert (result.code, result.stderr) == (0, "deleted 0 leads\n")
    assert invoke("count").stdout == "1\n"


def test_delete_from_stdin_without_yes_refuses() -> None:
    lead = add("Ada", "ada@example.com")
    result = invoke("delete", "-", input=lead["id"] + "\n")
    assert result.code == 2
    assert invoke("count").stdout == "1\n"


def test_delete_stops_before_deleting_when_one_lead_is_unknown() -> None:
    add("Ada", "ada@example.com")
    result = invoke("delete", "ada@example.com", "ghost@example.com", "--yes")
    assert result.code == 3
    assert invoke("count").stdout == "1\n"



def test_delete_of_a_lead_a_colleague_deletes_during_the_prompt_deletes_the_others(store_uri: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Confirmed on a terminal while another user deleted one of the leads: the rest are still
    deleted and the command succeeds (it was exit 3, `lead … no longer exists`, with the leads
    after that one left in place and no word about the ones already deleted)."""
    from conftest import run_process

    import leadcli.cli.leads

    ids = [json.loads(invoke("--db", store_uri, "add", "--name", f"L{n}", "--email", f"l{n}@example.com", "-o", "json").stdout)["id"] for n in range(3)]
    keep = json.loads(invoke("--db", store_uri, "add", "--name", "Keep", "--email", "keep@example.com", "-o", "json").stdout)["id"]

    def colleague_deletes_then_yes(_question: str) -> bool:
        gone = run_process("--db", store_uri, "delete", ids[0], "--yes")
        assert gone.code == 0, gone.stderr
        return True

    monkeypatch.setattr(leadcli.cli.leads, "stdin_is_tty", lambda: True)
    monkeypatch.setattr(leadcli.cli.leads, "confirm", colleague_deletes_then_yes)
    result = invoke("--db", store_uri, "delete", *ids)
    assert result.code == 0, result.stderr
    assert "deleted L1 <l1@example.com>" in result.stderr and "deleted L2 <l2@example.com>" in result.stderr
    assert invoke("--db", store_uri, "list", "-o", "ids").stdout.split() == [keep]

# -- list, count, stages ------------------------------------------------------------------------


def test_list_pages_newest_first_with_an_id_tie_break(leadcli_home: Path) -> None:
    from datetime import UTC, datetime, timedelta

    from leadcli.store.sqlite import SqliteStore

    base = datetime(2026, 11, 1, tzinfo=UTC)
    store = SqliteStore(leadcli_home / "leads.db")
    leads = []
    # Three creation times, several leads on each: equal timestamps must not make pages overlap.
    for n in range(25):
        leads.append(store.insert(make_lead(f"lead{n:02}@example.com", at=base + timedelta(hours=n % 3)), event()))
    store.close()
    expected = [lead["id"] for lead in sorted(leads, key=lambda lead: (lead["created_at"], lead["id"]), reverse=True)]

    pages = [invoke("list", "--page", str(n), "--page-size", "4", "-o", "ids").stdout.split() for n in range(1, 9)]
    assert [len(page) for page in pages] == [4, 4, 4, 4, 4, 4, 1, 0]
    assert sum(pages, []) == expected

    first_default = invoke("list", "-o", "ids").stdout.split()
    assert first_default == expected[:20]
    assert invoke("list", "--page", "2", "-o", "ids").stdout.split() == expected[20:]
    assert invoke("list", "--all", "--page-size", "2", "-o", "ids").stdout.split() == expected
    assert invoke("list", "--asc", "--all", "-o", "ids").stdout.split() == expected[::-1]


def test_list_page_size_from_config_and_env(leadcli_home: Path) -> None:
    for n in range(5):
        add(f"Lead {n}", f"lead{n}@example.com")
    (leadcli_home / "config.toml").write_text("page_size = 2\n")
    assert len(invoke("list", "-o", "ids").stdout.split()) == 2
    assert len(invoke("list", "-o", "ids", env={"LEADCLI_PAGE_SIZE": "3"}).stdout.split()) == 3
    assert len(invoke("list", "-o", "ids", "--page-size", "4").stdout.split()) == 4


@pytest.mark.parametrize(("args", "needle"), [(["--page", "0"], "--page"), (["--page-size", "0"], "--page-size"), (["--sort", "email"], "--sort")])
def test_list_bad_paging_or_sort_is_exit_2(args: list[str], needle: str) -> None:
    result = invoke("list", *args)
    assert result.code == 2
    assert result.stderr.startswith(f"error: {needle}")


def test_an_empty_list_is_not_an_error() -> None:
    for fmt, expected in (("json", "[]\n"), ("jsonl", ""), ("ids", "")):
        result = invoke("list", "-o", fmt)
        assert (result.code, result.stdout, result.stderr) == (0, expected, "")
    assert invoke("count").stdout == "0\n"


def test_count_and_stages() -> None:
    add("Ada", "ada@example.com")
    add("Grace", "grace@example.com", "--stage", "negotiation")
    add("Alan", "alan@example.com", "--stage", "negotiation")
    result = invoke("count")
    assert (result.code, result.stdout, result.stderr) == (0, "3\n", "")
    assert invoke("count", "--stage", "Negotiation").stdout == "2\n"
    stages = invoke("stages", "-o", "json")
    assert stages.code == 0
    assert stages.json() == [
        {"stage": "New Lead", "count": 1},
        {"stage": "Initial Contact", "count": 0},
        {"stage": "Meeting Scheduled", "count": 0},
        {"stage": "Proposal Sent", "count": 0},
        {"stage": "Negotiation", "count": 2},
        {"stage": "Closed Won", "count": 0},
        {"stage": "Closed Lost", "count": 0},
    ]


def test_a_configured_pipeline_drives_stages_and_validation(leadcli_home: Path) -> None:
    (leadcli_home / "config.toml").write_text('[pipeline]\nstages = ["Lead", "Demo", "Won", "Lost"]\nclosed = ["Won", "Lost"]\n')
    assert add("Ada", "ada@example.com")["current_stage"] == "Lead"
    assert add("Grace", "grace@example.com", "--stage", "demo")["current_stage"] == "Demo"
    assert [row["stage"] for row in invoke("stages", "-o", "json").json()] == ["Lead", "Demo", "Won", "Lost"]
    refused = invoke("add", "--name", "Alan", "--email", "alan@example.com", "--stage", "negotiation")
    assert refused.code == 2 and "valid stages: Lead, Demo, Won, Lost" in refused.stderr


def test_doctor_reports_the_sqlite_store(leadcli_home: Path) -> None:
    add("Ada", "ada@example.com")
    result = invoke("doctor", "-o", "json")
    assert result.code == 0, result.stderr
    report = result.json()
    assert report["backend"] == "sqlite"
    assert report["location"] == str(leadcli_home / "leads.db")
    assert report["journal_mode"] == "wal"
    assert report["schema_version"] >= 1
    assert report["leads"] == 1 and report["events"] == 1
    assert "email (unique)" in report["indexes"]
    table = invoke("doctor")
    assert table.code == 0 and "journal_mode" in table.stdout


def test_doctor_names_a_missing_index_and_fix_recreates_it(tmp_path: Path) -> None:
    db = tmp_path / "leads.db"
    invoke("--db", str(db), "add", "--name", "Ada", "--email", "ada@example.com")
    with sqlite3.connect(db) as raw:
        raw.execute("DROP INDEX leads_stage")

    found = invoke("--db", str(db), "doctor", "-o", "json")
    fixed = invoke("--db", str(db), "doctor", "--fix", "-o", "json")

    assert found.code == 1 and found.json()["problems"] == ["index or trigger leads_stage is missing (leadcli doctor --fix recreates it)"]
    assert fixed.code == 0 and fixed.json()["problems"] == []
    assert "leads_stage" in invoke("--db", str(db), "doctor", "-o", "json").json()["indexes"]


def test_a_damaged_store_file_is_exit_5_saying_what_to_do(tmp_path: Path) -> None:
    """Bytes overwritten in the middle of the file: reads that reach them fail with exit 5 and
    a pointer to doctor and backups, not an 'unexpected' crash; doctor's check names it."""
    db = tmp_path / "leads.db"
    rows = "".join(f"Lead {i},lead{i}@example.com,{'note ' * 40}\n" for i in range(3000))
    assert invoke("--db", str(db), "import", "-", "--format", "csv", input="Name,Email,Notes\n" + rows).code == 0
    with sqlite3.connect(db) as raw:
        raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    size = db.stat().st_size
    with open(db, "r+b") as f:  # every 32 KiB past the first tenth (the schema page stays whole)
        for offset in range(size // 10, size * 9 // 10, 32_768):
            f.seek(offset)
            f.write(b"\xff" * 64)

    listed = invoke("--db", str(db), "list", "--all", "-o", "jsonl")
    doctor = invoke("--db", str(db), "doctor", "-o", "json")

    assert listed.code == 5
    assert listed.stderr.splitlines()[-1].startswith("error: the store cannot be read: ")
    assert listed.stderr.rstrip().endswith("run leadcli doctor, and restore the file from a backup")
    assert doctor.code in (1, 5)
    assert "damaged" in doctor.stdout + doctor.stderr or "cannot be read" in doctor.stderr


# -- configuration ------------------------------------------------------------------------------

SECRET_URI = "mongodb://ops:s3cr3t-pw@db.example.com:27017/leads_db"


def test_config_show_masks_secrets_from_file_and_env(leadcli_home: Path) -> None:
    (leadcli_home / "config.toml").write_text(
        f'db = "{SECRET_URI}"\n[serve]\ntoken = "s3cr3t-pw"\n[watch]\nserver = "ws://h/ws?token=s3cr3t-pw"\ntoken = "s3cr3t-pw"\n'
    )
    for env in ({}, {"MONGODB_URI": "mongodb://ops:s3cr3t-pw@other.example.com/crm"}, {"LEADCLI_DB": "mongodb+srv://u:s3cr3t-pw@cluster.example.net/x"}):
        for fmt in ("table", "json"):
            result = invoke("config", "show", "-o", fmt, env=env)
            assert result.code == 0, result.stderr
            assert "s3cr3t" not in result.stdout + result.stderr
            assert "***" in result.stdout
    shown = invoke("config", "show", "-o", "json", env={"MONGODB_URI": "mongodb://ops:s3cr3t-pw@other.example.com/crm"}).json()
    assert shown["db"] == "mongodb://ops:***@other.example.com/crm"
    assert shown["sources"]["db"] == "env MONGODB_URI"


def test_doctor_reports_a_config_that_will_fail_later(tmp_path: Path) -> None:
    """A timezone typo in the config passed `doctor` (exit 0, no problem listed); the first
    date a cron job parsed then failed with exit 2."""
    config = tmp_path / "config.toml"
    config.write_text('timezone = "Europe/Pariss"\n[pipeline]\nstages = ["A", "A"]\n')
    result = invoke("--config", str(config), "doctor", "-o", "json")
    assert result.code == 1
    problems = result.json()["problems"]
    assert any("unknown timezone 'Europe/Pariss'" in p for p in problems)
    assert any("pipeline" in p.lower() or "stage" in p.lower() for p in problems), problems
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1


@pytest.mark.parametrize(
    ("text", "message"),
    [("serve = 5", "serve must be a table ([serve]), not 5"),
     ("timezone = 5", "timezone must be text"),
     ("page_size = true", "page_size must be a whole number, not True"),
     ('[pipeline]\nstages = "New Lead"', "pipeline.stages must be a list of stage names"),
     ("[pipeline]\nstages = [1, 2]", "pipeline.stages must be a list of stage names"),
     ("[profiles.team]\npipeline = 5", "pipeline in [profiles.team] must be a table ([pipeline]), not 5")],
)  # fmt: skip
def test_a_config_setting_of_the_wrong_type_is_exit_2_naming_it(tmp_path: Path, text: str, message: str) -> None:
    """These crashed ('unexpected TypeError', exit 1) in whichever command first used them;
    `serve = 5` broke even `count`."""
    config = tmp_path / "config.toml"
    config.write_text(text + "\n")
    result = invoke("--config", str(config), "count")
    assert result.code == 2
    assert result.stderr.startswith(f"error: config file {config}: {message}") and result.stderr.count("\n") == 1


def test_config_path_and_init(leadcli_home: Path, tmp_path: Path) -> None:
    path = invoke("config", "path")
    assert (path.code, path.stdout) == (0, f"{leadcli_home / 'config.toml'}\n")
    created = invoke("config", "init")
    assert created.code == 0, created.stderr
    text = (leadcli_home / "config.toml").read_text()
    for key in ("db", "database", "user", "timezone", "page_size", "[pipeline]", "stages", "closed", "[serve]", "token", "[profiles."):
        assert key in text
    # The starter file is a valid config: every command still works with it.
    assert invoke("config", "show").code == 0
    (leadcli_home / "config.toml").write_text("user = 'mine'\n")
    again = invoke("config", "init")
    assert again.code == 2
    assert "exists already; pass --force" in again.stderr
    assert (leadcli_home / "config.toml").read_text() == "user = 'mine'\n"
    assert invoke("config", "init", "--force").code == 0
    assert (leadcli_home / "config.toml").read_text() == text


def test_config_init_creates_a_file_named_by_config_flag_or_env(tmp_path: Path) -> None:
    named = tmp_path / "team" / "leadcli.toml"
    assert invoke("--config", str(named), "config", "path").stdout == f"{named}\n"
    assert invoke("--config", str(named), "config", "init").code == 0
    assert named.is_file()
    other = tmp_path / "env.toml"
    assert invoke("config", "init", env={"LEADCLI_CONFIG": str(other)}).code == 0
    assert other.is_file()


def test_a_missing_config_flag_file_is_exit_2_but_a_missing_default_means_defaults(tmp_path: Path) -> None:
    result = invoke("--config", str(tmp_path / "nope.toml"), "count")
    assert result.code == 2 and "no such file" in result.stderr
    assert invoke("count").code == 0


@pytest.mark.parametrize(("text", "needle"), [
        ("db = [", "config file"),
        ("colour = 'red'\n", "unknown setting(s) colour"),
        ("page_size = 'many'\n", "page_size"),
        ("[profiles.team]\ndbb = 'x.db'\n", "unknown setting(s) dbb in [profiles.team]"),
        ("profiles = 'team'\n", "profiles must be tables"),
    ])
def test_a_bad_config_file_is_exit_2(leadcli_home: Path, text: str, needle: str) -> None:
    (leadcli_home / "config.toml").write_text(text)
    result = invoke("count")
    assert result.code == 2
    assert needle in result.stderr
    assert invoke("config", "path").code == 0  # still findable, to fix it


def test_profiles_override_the_top_level(leadcli_home: Path, tmp_path: Path) -> None:
    team_db = tmp_path / "team.db"
    (leadcli_home / "config.toml").write_text(
        f'user = "solo"\npage_size = 5\n[profiles.team]\ndb = "{team_db}"\nuser = "teammate"\n[profiles.team.pipeline]\nstages = ["A", "B"]\n'
    )
    lead = invoke("--profile", "team", "add", "--name", "Ada", "--email", "ada@example.com", "-o", "json", env={"LEADCLI_USER": None})  # type: ignore[dict-item]
    assert lead.code == 0, lead.stderr
    assert lead.json()["stage_history"][0]["by"] == "teammate"
    assert lead.json()["current_stage"] == "A"
    assert team_db.is_file()
    assert invoke("count").stdout == "0\n"  # the default store did not get it
    assert invoke("count", env={"LEADCLI_PROFILE": "team"}).stdout == "1\n"
    shown = invoke("--profile", "team", "config", "show", "-o", "json").json()
    assert (shown["profile"], shown["page_size"]) == ("team", 5)  # the top level still applies


def test_an_unknown_profile_is_exit_2_naming_the_profiles(leadcli_home: Path) -> None:
    (leadcli_home / "config.toml").write_text("[profiles.team]\nuser = 'x'\n[profiles.home]\nuser = 'y'\n")
    result = invoke("--profile", "tema", "count")
    assert result.code == 2
    assert result.stderr.startswith("error: --profile: no profile 'tema'")
    assert "profiles: home, team" in result.stderr


def test_precedence_flag_env_file_default_for_db_and_user(leadcli_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import getpass

    monkeypatch.delenv("LEADCLI_USER")
    dbs = {name: tmp_path / f"{name}.db" for name in ("flag", "env", "file")}

    def effective(*flags: str, env: dict[str, str] | None = None) -> tuple[str, str]:
        shown = invoke(*flags, "config", "show", "-o", "json", env=env).json()
        return shown["db"], shown["user"]

    assert effective() == (str(leadcli_home / "leads.db"), getpass.getuser())
    (leadcli_home / "config.toml").write_text(f'db = "{dbs["file"]}"\nuser = "from-file"\n')
    assert effective() == (str(dbs["file"]), "from-file")
    env = {"LEADCLI_DB": str(dbs["env"]), "LEADCLI_USER": "from-env"}
    assert effective(env=env) == (str(dbs["env"]), "from-env")
    assert effective("--db", str(dbs["flag"]), "--user", "from-flag", env=env) == (str(dbs["flag"]), "from-flag")

    # And the lead really lands in the store that wins, recorded by the user that wins.
    result = invoke("--db", str(dbs["flag"]), "add", "--name", "Ada", "--email", "ada@example.com", "-o", "json", env=env)
    assert result.json()["stage_history"][0]["by"] == "from-env"
    assert dbs["flag"].is_file() and not dbs["env"].exists() and not dbs["file"].exists()


def test_leadcli_db_forms(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    forms = {
        f"sqlite:///{tmp_path}/abs/a.db": tmp_path / "abs" / "a.db",  # sqlite:////tmp/… (four slashes)
        "sqlite:///rel/b.db": tmp_path / "rel" / "b.db",
        "c.db": tmp_path / "c.db",
        str(tmp_path / "d.db"): tmp_path / "d.db",
    }
    for n, (uri, path) in enumerate(forms.items()):
        assert uri.startswith("sqlite:////") or not uri.startswith("sqlite:") or "rel" in uri
        path.parent.mkdir(exist_ok=True)  # a named store's directory must exist (issue 13)
        result = invoke("add", "--name", "Ada", "--email", f"ada{n}@example.com", env={"LEADCLI_DB": uri})
        assert result.code == 0, (uri, result.stderr)
        assert path.is_file(), uri
        assert invoke("count", env={"LEADCLI_DB": uri}).stdout == "1\n"


@pytest.mark.parametrize("uri", ["leads.txt", "postgres://h/db", "sqlite:///"])
def test_an_unusable_db_value_is_exit_2_naming_the_forms(uri: str) -> None:
    result = invoke("--db", uri, "count")
    assert result.code == 2
    assert result.stderr.startswith("error: --db: cannot use")
    assert "sqlite:////abs/path.db" in result.stderr


def test_version() -> None:
    result = invoke("--version")
    assert (result.code, result.stdout, result.stderr) == (0, f"leadcli {__version__}\n", "")


def test_reading_commands_on_sqlite_load_no_heavy_module() -> None:
    """`count` and a piped `list` (what cron runs) never load the MongoDB driver, the WebSocket
    library, Rich or the email validator."""
    import subprocess
    import sys

    from conftest import ROOT

    script = (
        "import sys; from leadcli.cli import run; run(['count']); run(['list', '--all']); "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'pymongo', 'bson', 'websockets', 'rich', 'email_validator'}))"
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[-1] == "[]"


@pytest.mark.parametrize(
    ("uri", "message"),
    [("mongodb://ops:s3cr3t-pw@127.0.0.1:1/db?tls=maybe", "--db: not a valid MongoDB URI: The value of tls must be 'true' or 'false'"),
     ("mongodb://ops:s3cr3t-pw@127.0.0.1:1/db?retryWritez=true", "--db: not a valid MongoDB URI: Unknown option"),
     ("sqlite:////tmp/leads.db?mode=ro", "--db: 'sqlite:////tmp/leads.db?mode=ro': sqlite: URIs take no options")],
)  # fmt: skip
def test_a_store_uri_option_that_would_be_ignored_is_exit_2(uri: str, message: str, tmp_path: Path) -> None:
    """pymongo only warned (two lines) and went on without the option; a sqlite: URI with
    ?mode=ro opened a new, empty file named 'leads.db?mode=ro'. Both are a usage error now."""
    result = invoke("--db", uri, "count")
    assert result.code == 2
    assert result.stderr.startswith(f"error: {message}") and result.stderr.count("\n") == 1
    assert "s3cr3t" not in result.stderr
    assert not Path("/tmp/leads.db?mode=ro").exists()


def test_count_takes_json_output_as_scripts_pass_it_and_prints_the_bare_integer() -> None:
    add("Ada", "ada@example.com")
    for args in ((), ("-o", "json"), ("-o", "jsonl")):
        result = invoke("count", *args)
        assert (result.code, result.stdout) == (0, "1\n")
        assert json.loads(result.stdout) == 1
    refused = invoke("count", "-o", "csv")
    assert (refused.code, refused.stdout) == (2, "")
