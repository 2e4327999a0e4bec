"""Issue 13 replayed as the demanding sales-ops user: the exact keystrokes of its traps, run the
way a person runs them (real `python -m leadcli` processes in pipes, a forced terminal at 60/80/120
columns), each test failing if its trap came back."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import invoke, run_process
from leadmaker import lead, seed

ANSI = re.compile(r"\x1b\[[0-9;?]*[a-zA-Z]")
TYPE_NAMES = re.compile(r"<(str|bool|int|float|list\[str\]|path|Path|dict[^>]*)>")


def terminal(width: int) -> dict[str, str]:
    return {"LEADCLI_FORCE_TERMINAL": "1", "COLUMNS": str(width)}


def plain(text: str) -> str:
    return ANSI.sub("", text)


def every_command() -> list[tuple[str, ...]]:
    """Every command and sub-command a user can ask `-h` of, read from the app itself."""
    import typer.main

    from leadcli.cli import app

    root = typer.main.get_command(app)
    found: list[tuple[str, ...]] = [()]

    def walk(cmd: object, path: tuple[str, ...]) -> None:
        for name, sub in getattr(cmd, "commands", {}).items():
            found.append((*path, name))
            walk(sub, (*path, name))

    walk(root, ())
    return found


def test_no_help_screen_names_a_python_type() -> None:
    """`leadcli show -h` said `LEAD <str>` (as did log and history): every command, every width."""
    commands = every_command()
    assert ("show",) in commands and ("config", "show") in commands and len(commands) > 20
    for args in commands:
        for width in ("60", "120"):
            result = invoke(*args, "-h", env={"COLUMNS": width})
            assert result.code == 0, (args, result.stderr)
            assert not TYPE_NAMES.search(result.stdout), (args, width, TYPE_NAMES.findall(result.stdout))


def test_the_readme_recipe_in_real_pipes_deletes_all_34(tmp_path: Path) -> None:
    db = str(tmp_path / "leads.db")
    seed(db, [lead(f"Lost {n}", current_stage="Closed Lost") for n in range(34)] + [lead("Grace Hopper")])
    ids = run_process("--db", db, "list", "--stage", "closed-lost", "--all", "-o", "ids")
    assert (ids.code, len(ids.stdout.split()), ids.stderr) == (0, 34, "")
    gone = run_process("--db", db, "delete", "-", "--yes", input=ids.stdout)
    assert (gone.code, gone.stderr) == (0, "deleted 34 leads\n")
    # Without --all the pipe still gets ids only, and the person is told on stderr.
    seed(db, [lead(f"Lost again {n}", current_stage="Closed Lost") for n in range(21)])
    paged = run_process("--db", db, "list", "--stage", "closed-lost", "-o", "ids")
    assert len(paged.stdout.split()) == 20 and "of 21 matching leads" in paged.stderr and "--all" in paged.stderr
    assert run_process("--db", db, "count").stdout == "22\n"


def test_a_name_where_a_lead_goes_points_to_search(tmp_path: Path) -> None:
    db = str(tmp_path / "leads.db")
    seed(db, [lead("Grace Hopper", email="grace@example.com")])
    result = run_process("--db", db, "show", "Grace Hopper")
    assert result.code in (2, 3) and result.stdout == ""
    assert result.stderr == "error: 'Grace Hopper' is not a lead handle, id or email; to find a lead by name: leadcli search \"Grace Hopper\"\n"
    assert "Grace Hopper" in run_process("--db", db, "search", "Grace Hopper").stdout


@pytest.mark.parametrize("width", [60, 80, 120])
def test_own_fields_that_do_not_fit_are_named_not_cut_off_unsaid(tmp_path: Path, width: int) -> None:
    """`list --fields name,email,company,owner,value,tags` at 60 columns showed three columns and
    said nothing of the other three; at 120 the value read `1,…`."""
    db = str(tmp_path / "leads.db")
    seed(db, [lead("Katherine Johnson", email="katherine.johnson@langley.example.com", company="NASA Langley Research Center",
                   owner="sam", value=1234567, tags=["vip", "emea"])])  # fmt: skip
    asked = ["name", "email", "company", "owner", "value", "tags"]
    result = invoke("--db", db, "list", "--fields", ",".join(asked), env=terminal(width))
    assert result.code == 0, result.stderr
    text = plain(result.stdout)
    assert max(len(line) for line in text.splitlines()) <= width
    header = text.splitlines()[1].split()
    hidden = [f for f in asked if f not in header]
    assert header == [f for f in asked if f in header] and header[0] == "name"
    if hidden:
        note = re.search(r"hidden to fit: ([a-z, ]+)", " ".join(text.split()))
        assert note and note.group(1).strip().split(", ") == hidden, text
    if "value" in header:
        assert "1,234,567" in text  # a number is shown whole or not at all


def test_user_text_is_literal_in_the_watch_line_view_and_history(tmp_path: Path) -> None:
    db = str(tmp_path / "leads.db")
    run_process("--db", db, "add", "--name", "Ada [/] Lovelace", "--email", "ada@example.com", "--notes", "[reverse]URGENT")
    run_process("--db", db, "move", "ada@example.com", "--to", "negotiation", "--note", "[reverse]URGENT [/]")
    run_process("--db", db, "log", "ada@example.com", "--type", "note", "--note", "[blink]now[/blink]")
    for width in (60, 80, 120):
        watched = run_process("--db", db, "watch", "--since", "0", "--count", "3", env=terminal(width), timeout=60)
        assert watched.code == 0, watched.stderr
        assert "\x1b[7m" not in watched.stdout and "\x1b[5m" not in watched.stdout
        text = plain(watched.stdout)
        assert "Ada [/] Lovelace" in text and "[blink]now[/blink]" in text
        history = run_process("--db", db, "history", "ada@example.com", env=terminal(width))
        assert history.code == 0 and "\x1b[7m" not in history.stdout
        assert "[reverse]" in plain(history.stdout).replace("\n", "")


def test_stderr_notes_never_reach_a_pipes_stdout(tmp_path: Path) -> None:
    """The new notes (paging, no-op moves, confirmations) go to stderr: stdout stays the record."""
    db = str(tmp_path / "leads.db")
    added = run_process("--db", db, "add", "--name", "Ada", "--email", "ada@example.com", "-o", "json")
    assert added.stdout.startswith("{") and added.stderr == ""
    same = run_process("--db", db, "move", "ada@example.com", "--to", "new-lead", "--note", "x", "-o", "json")
    assert same.code == 0 and same.stdout.startswith("{") and "already in New Lead" in same.stderr
    ids = run_process("--db", db, "move", "ada@example.com", "--to", "negotiation", "-o", "ids")
    assert ids.stdout == added.stdout.split('"id": "')[1].split('"')[0] + "\n"
    csv = run_process("--db", db, "list", "--page-size", "1", "-o", "csv")
    assert csv.stdout.splitlines()[0].startswith("id,") and len(csv.stdout.splitlines()) == 2


def test_completion_of_stages_after_to_in_a_real_shell_process() -> None:
    env = {"_LEADCLI_COMPLETE": "complete_bash", "COMP_WORDS": "leadcli move ada --to neg", "COMP_CWORD": "4"}
    result = run_process(env=env)
    assert (result.code, result.stdout.split()) == (0, ["negotiation"]), result.stderr


@pytest.mark.parametrize("width", [60, 80, 120])
def test_history_on_a_terminal_is_the_timeline_not_a_record_dump(tmp_path: Path, width: int) -> None:
    """`history X` at 60 and 80 columns split `Negotiatio│n` and wrapped raw ISO times over three
    lines; on a terminal it is now the timeline `show` draws. A pipe keeps the contract's rows."""
    db = str(tmp_path / "leads.db")
    invoke("--db", db, "add", "--name", "Ada Lovelace", "--email", "ada@example.com")
    invoke("--db", db, "move", "ada@example.com", "--to", "negotiation", "--note", "[reverse]sent pricing v2, call back after the board meets")
    drawn = invoke("--db", db, "history", "ada@example.com", env=terminal(width))
    assert drawn.code == 0 and "\x1b[7m" not in drawn.stdout
    text = plain(drawn.stdout)
    assert max(len(line) for line in text.splitlines()) <= width
    lines = text.splitlines()
    assert any("New Lead" in line for line in lines) and any("Negotiation" in line for line in lines)  # whole names
    assert "T0" not in text and "+00:00" not in text  # a date a person reads, not a timestamp
    assert re.search(r"\d{4}-\d\d-\d\d .*Negotiation .*0 so far", text), text
    assert "[reverse]sent pricing v2" in " ".join(text.split())
    piped = run_process("--db", db, "history", "ada@example.com")
    assert piped.stdout.splitlines()[0].split() == ["FROM_STAGE", "TO_STAGE", "CHANGED_AT", "BY", "NOTES"]
    assert "+00:00" in piped.stdout
    chosen = invoke("--db", db, "history", "ada@example.com", "--fields", "to_stage", "-o", "csv", env=terminal(width))
    assert chosen.stdout == "to_stage\nNew Lead\nNegotiation\n"


def test_history_fields_complete_to_what_history_accepts() -> None:
    """`history X --fields <TAB>` offered lead fields (name, email…) that history then refused."""
    env = {"_LEADCLI_COMPLETE": "complete_bash", "COMP_WORDS": "leadcli history ada --fields to_stage,", "COMP_CWORD": "4"}
    offered = run_process(env=env).stdout.split()
    assert offered == ["to_stage,from_stage", "to_stage,changed_at", "to_stage,by", "to_stage,notes"]
    for field in offered:
        assert invoke("history", "x", "--fields", field).stderr.find("--fields") == -1  # accepted (the lead is not found)


def test_a_no_op_move_gives_the_command_that_keeps_its_note(tmp_path: Path) -> None:
    """`move` to the current stage with `--note` used to drop the note without a word; now it says
    so and gives the exact command to paste, which does keep it."""
    db = str(tmp_path / "leads.db")
    invoke("--db", db, "add", "--name", "Ada Lovelace", "--email", "ada@example.com", "--stage", "negotiation")
    moved = run_process("--db", db, "move", "ada@example.com", "--to", "negotiation", "--note", "called, it's on hold")
    assert moved.code == 0
    said = moved.stderr.strip()
    assert said.startswith("Ada Lovelace is already in Negotiation: not moved; the note was not recorded (to keep it: leadcli log ")
    command = said.split("(to keep it: ", 1)[1].removesuffix(")")
    import shlex

    words = shlex.split(command)
    assert re.fullmatch(r"[0-9a-f]{10}", words[2]) and words[3:] == ["--type", "note", "--note", "called, it's on hold"]
    logged = run_process("--db", db, *words[1:], "-o", "json")
    assert logged.code == 0 and logged.json()["activities"][0]["note"] == "called, it's on hold"


def test_a_mistyped_store_path_names_where_it_was_set(tmp_path: Path, leadcli_home: Path) -> None:
    """A cron job's mistyped LEADCLI_DB is exit 2 (not 0 leads forever), and the error names
    LEADCLI_DB or the config file: its crontab has no --db to look for."""
    typo = tmp_path / "typo" / "dir" / "leadz.db"
    from_env = run_process("count", env={"LEADCLI_DB": str(typo)})
    assert (from_env.code, from_env.stdout) == (2, "")
    assert from_env.stderr == f"error: LEADCLI_DB: the directory of {typo} does not exist; create it first, or check the path\n"
    config = leadcli_home / "config.toml"
    config.write_text(f'db = "{typo}"\n')
    from_config = run_process("count")
    assert from_config.code == 2 and from_config.stderr.startswith(f"error: db in {config}: the directory of {typo}")
    from_flag = run_process("--db", str(typo), "count")
    assert from_flag.code == 2 and from_flag.stderr.startswith("error: --db: the directory of")
    assert not (tmp_path / "typo").exists()
