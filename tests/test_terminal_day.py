"""A working day at the terminal and in pipes with nothing silently wrong (issue 13): listings
that stop early say so, stage-change notes are kept, changes confirm in a line, user text is
never Rich markup, values complete in the shell, help reads cleanly and prints once."""

from __future__ import annotations

import json
import os
import pty
import re
import sys
from pathlib import Path

import pytest
from conftest import ROOT, invoke
from leadmaker import lead, seed

ANSI = re.compile(r"\x1b\[[0-9;?]*[a-zA-Z]")
TERMINAL = {"LEADCLI_FORCE_TERMINAL": "1", "COLUMNS": "100"}


def plain(text: str) -> str:
    return ANSI.sub("", text)


def added(db: str, name: str, email: str, *args: str) -> dict:
    result = invoke("--db", db, "add", "--name", name, "--email", email, *args, "-o", "json")
    assert result.code == 0, result.stderr
    return result.json()


# -- no silent caps ------------------------------------------------------------------------------


def test_the_readme_recipe_deletes_every_closed_lost_lead(store_uri: str) -> None:
    seed(store_uri, [lead(f"Lost {n}", current_stage="Closed Lost") for n in range(34)] + [lead("Kept")])
    ids = invoke("--db", store_uri, "list", "--stage", "closed-lost", "--all", "-o", "ids")
    assert (ids.code, len(ids.stdout.split()), ids.stderr) == (0, 34, "")
    deleted = invoke("--db", store_uri, "delete", "-", "--yes", input=ids.stdout)
    assert (deleted.code, deleted.stderr) == (0, "deleted 34 leads\n")
    assert invoke("--db", store_uri, "count").stdout == "1\n"
    recipe = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "leadcli list --stage closed-lost --all -o ids | leadcli delete - --yes" in recipe
    assert "-o ids | leadcli delete - --yes" not in recipe.replace("--all -o ids | leadcli delete", "")


def test_a_page_that_stops_before_the_end_says_so_on_stderr_in_a_pipe(store_uri: str) -> None:
    seed(store_uri, [lead(f"Lost {n}", current_stage="Closed Lost") for n in range(34)])
    result = invoke("--db", store_uri, "list", "--stage", "closed-lost", "-o", "ids")
    assert result.code == 0
    assert len(result.stdout.split()) == 20 and all(len(line) == 24 for line in result.stdout.split())  # stdout stays ids
    assert result.stderr == "showing 1–20 of 34 matching leads (page 1 of 2); --page 2 for the next, --all for every one\n"
    second = invoke("--db", store_uri, "list", "--stage", "closed-lost", "--page", "2", "-o", "json")
    assert (len(second.json()), second.stderr) == (14, "")  # the last page: nothing more to say
    exact = invoke("--db", store_uri, "list", "--page-size", "34", "-o", "ids")
    assert exact.stderr == ""  # everything shown


def test_a_page_on_a_terminal_says_so_too_and_a_chosen_page_in_a_script_stays_quiet(tmp_path: Path) -> None:
    db = str(tmp_path / "leads.db")
    seed(db, [lead(f"Lead {n}") for n in range(5)])
    drawn = invoke("--db", db, "list", "--page-size", "2", env=TERMINAL)
    assert "showing 1–2 of 5 matching leads (page 1 of 3); --page 2 for the next" in drawn.stderr
    assert invoke("--db", db, "list", "--page-size", "2", "-o", "ids").stderr == ""
    limited = invoke("--db", db, "list", "--limit", "3", "-o", "json")
    assert (len(limited.json()), limited.stderr) == (3, "")
    told = invoke("--db", db, "search", "lead", "--limit", "3", env=TERMINAL)
    assert "showing the first 3 of 5 matching leads (--limit 3); --all for every one" in told.stderr
    assert invoke("--db", db, "list", "--limit", "3", "--all").code == 2
    assert invoke("--db", db, "list", "--limit", "0").code == 2
    follow = invoke("--db", db, "followups", "--due", "+1y", "--limit", "1")
    assert follow.code == 0


def test_empty_results_say_so_on_a_terminal_and_stay_contract_output_in_a_pipe(tmp_path: Path) -> None:
    db = str(tmp_path / "leads.db")
    added(db, "Ada Lovelace", "ada@example.com")
    drawn = invoke("--db", db, "list", "--stage", "negotiation", env=TERMINAL)
    assert (drawn.code, plain(drawn.stdout).strip()) == (0, "no leads match")
    assert plain(invoke("--db", db, "search", "nobody", env=TERMINAL).stdout).strip() == "no leads match"
    past = invoke("--db", db, "list", "--page", "5", env=TERMINAL)
    assert plain(past.stdout).strip() == "no leads on page 5: 1 match (pages 1–1)"
    assert "no follow-ups due" in plain(invoke("--db", db, "followups", env=TERMINAL).stdout)
    assert invoke("--db", db, "list", "--stage", "negotiation", "-o", "json").stdout == "[]\n"
    assert invoke("--db", db, "list", "--stage", "negotiation", "-o", "ids").stdout == ""
    assert invoke("--db", db, "list", "--page", "5", "-o", "ids").stderr == "no leads on page 5: 1 match (pages 1–1)\n"


def test_stage_is_the_name_of_current_stage_in_fields_and_sort(tmp_path: Path) -> None:
    db = str(tmp_path / "leads.db")
    added(db, "Ada", "ada@example.com", "--stage", "negotiation")
    added(db, "Grace", "grace@example.com")
    result = invoke("--db", db, "list", "--sort", "stage", "--asc", "--fields", "name,stage", "-o", "csv")
    assert (result.code, result.stdout) == (0, "name,current_stage\nGrace,New Lead\nAda,Negotiation\n"), result.stderr


# -- stage-change notes ---------------------------------------------------------------------------


def test_edit_keeps_a_stage_change_note_and_refuses_the_notes_trap(store_uri: str) -> None:
    added(store_uri, "Ada", "ada@example.com", "--notes", "met at the fair")
    trap = invoke("--db", store_uri, "edit", "ada@example.com", "--stage", "proposal-sent", "--notes", "sent pricing v2")
    assert trap.code == 2 and "use --note" in trap.stderr
    edited = invoke("--db", store_uri, "edit", "ada@example.com", "--stage", "proposal-sent", "--note", "sent pricing v2", "-o", "json").json()
    assert edited["notes"] == "met at the fair"
    assert edited["stage_history"][-1]["notes"] == "sent pricing v2"
    both = invoke("--db", store_uri, "edit", "ada@example.com", "--stage", "negotiation", "--note", "call", "--notes", "new notes", "-o", "json")
    assert (both.json()["notes"], both.json()["stage_history"][-1]["notes"]) == ("new notes", "call")
    lonely = invoke("--db", store_uri, "edit", "ada@example.com", "--owner", "sam", "--note", "dropped?")
    assert lonely.code == 2 and "give --stage too" in lonely.stderr


def test_a_move_to_the_current_stage_says_so_and_that_the_note_was_not_kept(store_uri: str) -> None:
    added(store_uri, "Ada Lovelace", "ada@example.com", "--stage", "negotiation")
    result = invoke("--db", store_uri, "move", "ada@example.com", "--to", "negotiation", "--note", "again", "-o", "json")
    assert result.code == 0
    assert len(result.json()["stage_history"]) == 1
    assert result.stderr.startswith("Ada Lovelace is already in Negotiation: not moved; the note was not recorded")
    same = invoke("--db", store_uri, "edit", "ada@example.com", "--stage", "negotiation", "--note", "x", "-o", "json")
    assert "already in Negotiation" in same.stderr


# -- one-line confirmations -------------------------------------------------------------------------


def test_changes_confirm_in_one_line_on_a_terminal(tmp_path: Path) -> None:
    db = str(tmp_path / "leads.db")
    add = invoke("--db", db, "add", "--name", "Ada Lovelace", "--email", "ada@example.com", env=TERMINAL)
    assert add.code == 0 and add.stdout == ""
    assert re.fullmatch(r"added Ada Lovelace <ada@example\.com> as [0-9a-f]{10}\n", add.stderr)
    for args, line in (
        (("move", "ada@example.com", "--to", "negotiation"), "moved Ada Lovelace → Negotiation\n"),
        (("log", "ada@example.com", "--type", "call"), "logged call for Ada Lovelace <ada@example.com>\n"),
        (("edit", "ada@example.com", "--owner", "sam", "--add-tag", "vip"), "updated Ada Lovelace: owner, tags\n"),
        (("edit", "ada@example.com", "--stage", "closed-won", "--note", "signed"), "moved Ada Lovelace → Closed Won\n"),
        (("delete", "ada@example.com", "--yes"), "deleted Ada Lovelace <ada@example.com>\n"),
    ):
        result = invoke("--db", db, *args, env=TERMINAL)
        assert (result.code, result.stdout, result.stderr) == (0, "", line), args


def test_json_gives_the_full_record_and_a_pipe_keeps_the_contract_output(tmp_path: Path) -> None:
    db = str(tmp_path / "leads.db")
    full = invoke("--db", db, "add", "--name", "Ada", "--email", "ada@example.com", "-o", "json", env=TERMINAL)
    assert full.json()["version"] == 1 and full.stderr == ""
    moved = invoke("--db", db, "move", "ada@example.com", "--to", "negotiation", "-o", "json", env=TERMINAL)
    assert moved.json()["current_stage"] == "Negotiation"
    piped = invoke("--db", db, "move", "ada@example.com", "--to", "closed-won")
    assert "current_stage     Closed Won" in piped.stdout  # the lead after the change, as the contract says
    assert piped.stderr == "moved Ada → Closed Won\n"


# -- user text is never markup ------------------------------------------------------------------


def test_user_text_is_never_read_as_rich_markup(tmp_path: Path) -> None:
    db = str(tmp_path / "leads.db")
    invoke("--db", db, "add", "--name", "Ada [/] Lovelace", "--email", "ada@example.com", "--company", "[bold]Acme",
           "--notes", "[reverse]URGENT", "--field", "x[/]=[red]y", "--owner", "[i]sam", "--tag", "[/tag]")  # fmt: skip
    invoke("--db", db, "move", "ada@example.com", "--to", "negotiation", "--note", "[reverse]URGENT")
    invoke("--db", db, "log", "ada@example.com", "--type", "note", "--note", "[blink]now[/blink]")
    invoke("--db", db, "edit", "ada@example.com", "--follow-up", "-1d")
    for width in ("60", "100"):
        for args in (("show", "ada@example.com"), ("list",), ("search", "ada"), ("followups",), ("history", "ada@example.com"),
                     ("list", "--fields", "name,company,owner,tags,notes")):  # fmt: skip
            result = invoke("--db", db, *args, env={**TERMINAL, "COLUMNS": width})
            assert result.code == 0, (args, result.stderr)
            assert "\x1b[7m" not in result.stdout and "\x1b[5m" not in result.stdout, args  # no reverse video, no blink
            if args[0] != "history":  # history folds long notes at 60 columns; the card below shows them whole
                text = plain(result.stdout)
                assert "[/]" in text or "[bold]" in text or "[reverse]" in text, (args, text)
    card = plain(invoke("--db", db, "show", "ada@example.com", env=TERMINAL).stdout)
    for literal in ("Ada [/] Lovelace", "[bold]Acme", "[reverse]URGENT", "x[/]", "[red]y", "[i]sam", "[blink]now[/blink]"):
        assert literal in card, literal


# -- completion and help -----------------------------------------------------------------------------


def complete(line: str, env: dict[str, str] | None = None) -> list[str]:
    words = line.split(" ")
    result = invoke(env={"_LEADCLI_COMPLETE": "complete_bash", "COMP_WORDS": line, "COMP_CWORD": str(len(words) - 1), **(env or {})})
    assert result.code == 0, result.stderr
    return result.stdout.split()


def test_completion_offers_values(tmp_path: Path) -> None:
    assert complete("leadcli move x --to ")[:3] == ["new-lead", "initial-contact", "meeting-scheduled"]
    assert complete("leadcli list --stage closed-") == ["closed-won", "closed-lost"]
    assert "stage" in complete("leadcli list --sort ") and "value" in complete("leadcli search x --sort ")
    assert complete("leadcli list --fields id,na") == ["id,name"]
    assert complete("leadcli export -o js") == ["json", "jsonl"]
    assert complete("leadcli log x --type ") == ["call", "email", "meeting", "note"]
    assert complete("leadcli followups --due ")[:3] == ["today", "overdue", "week"]
    assert "-7d" in complete("leadcli list --created-after ")
    db = str(tmp_path / "leads.db")
    added(db, "Ada", "ada@example.com", "--owner", "sam", "--tag", "vip")
    added(db, "Grace", "grace@example.com", "--owner", "kim", "--tag", "emea")
    assert complete(f"leadcli --db {db} list --owner ") == ["kim", "sam"]
    assert complete(f"leadcli --db {db} edit x --add-tag v") == ["vip"]
    assert complete("leadcli --db mongodb://127.0.0.1:1/x list --owner ") == []  # never waits on a server


def test_help_names_values_not_python_types_and_groups_commands() -> None:
    for args in ((), ("list",), ("add",), ("move",), ("import",), ("watch",)):
        text = invoke(*args, "--help", env={"COLUMNS": "120"}).stdout
        assert not re.search(r"<(str|bool|int|float|list\[str\])>", text), args
    top = invoke("--help", env={"COLUMNS": "120"}).stdout
    panels = re.findall(r"╭─ (.+?) ─", top)
    assert panels == ["Options", "Leads", "Finding leads", "Pipeline", "Import and export", "Live", "Setup"]


def test_bare_leadcli_prints_the_help_once_on_a_terminal() -> None:
    pid, fd = pty.fork()
    if pid == 0:  # the child: leadcli on a pseudo-terminal
        os.environ.update({"COLUMNS": "100", "PYTHONPATH": str(ROOT)})
        os.execv(sys.executable, [sys.executable, "-m", "leadcli"])
    out = b""
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    os.waitpid(pid, 0)
    text = out.decode(errors="replace")
    assert plain(text).count("Usage:") == 1, text


@pytest.mark.parametrize("name", ["json"])
def test_handle_is_a_field_on_request_only(tmp_path: Path, name: str) -> None:
    db = str(tmp_path / "leads.db")
    ada = added(db, "Ada", "ada@example.com")
    assert "handle" not in ada
    picked = json.loads(invoke("--db", db, "list", "--fields", "handle,name", "-o", name).stdout)
    assert picked == [{"handle": ada["id"][-10:], "name": "Ada"}]
