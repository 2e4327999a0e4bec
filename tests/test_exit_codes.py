"""One test per exit code in the contract, through real processes (`python -m leadcli`): what a
shell script or cron job sees."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import ROOT, run_process

ADA = ("add", "--name", "Ada", "--email", "ada@example.com")


def one_error_line(stderr: str) -> str:
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("error: ")
    return lines[0]


def test_0_done() -> None:
    result = run_process(*ADA, "-o", "ids")
    assert result.code == 0, result.stderr
    assert len(result.stdout.strip()) == 24
    assert run_process("count").stdout == "1\n"


def test_1_an_unexpected_error_is_one_line_without_traceback_unless_verbose(leadcli_home: Path) -> None:
    """A lead record damaged outside leadcli (here: its JSON document truncated) cannot be read."""
    assert run_process(*ADA).code == 0
    with sqlite3.connect(leadcli_home / "leads.db") as db:
        db.execute("UPDATE leads SET doc = '{\"id\": \"trunc'")
    result = run_process("list", "-o", "json")
    assert result.code == 1
    line = one_error_line(result.stderr)
    assert line.startswith("error: unexpected JSONDecodeError") and line.endswith("(run with --verbose for details)")
    assert "Traceback" not in result.stderr

    verbose = run_process("--verbose", "list", "-o", "json")
    assert verbose.code == 1
    assert "Traceback (most recent call last)" in verbose.stderr
    assert verbose.stderr.splitlines()[-1].startswith("error: unexpected JSONDecodeError")


def test_2_invalid_input() -> None:
    result = run_process("add", "--name", "Ada", "--email", "ada-at-example.com")
    assert result.code == 2
    assert one_error_line(result.stderr).startswith("error: email: ")
    assert result.stdout == ""
    assert "Traceback" not in result.stderr


def test_2_bad_usage() -> None:
    result = run_process("list", "--page", "many")
    assert result.code == 2
    assert "--page" in one_error_line(result.stderr)


def test_3_not_found() -> None:
    result = run_process("show", "ghost@example.com")
    assert result.code == 3
    assert one_error_line(result.stderr) == "error: no lead with email ghost@example.com"


def test_4_duplicate_email() -> None:
    assert run_process(*ADA).code == 0
    result = run_process("add", "--name", "Ada again", "--email", "ADA@example.com")
    assert result.code == 4
    assert one_error_line(result.stderr).startswith("error: a lead with email ada@example.com already exists")


def test_5_store_unusable(tmp_path: Path) -> None:
    folder = tmp_path / "leads.db"
    folder.mkdir()
    result = run_process("--db", str(folder), "count")
    assert result.code == 5
    assert one_error_line(result.stderr).startswith(f"error: cannot use the store {folder}")
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    result = run_process(*ADA, env={"LEADCLI_HOME": str(blocker)})  # the default store cannot be made
    assert result.code == 5
    assert "Traceback" not in result.stderr
    one_error_line(result.stderr)


def test_verbose_shows_the_traceback_of_an_expected_error_too() -> None:
    quiet = run_process("show", "ghost@example.com")
    verbose = run_process("--verbose", "show", "ghost@example.com")
    assert quiet.code == verbose.code == 3
    assert "Traceback" not in quiet.stderr
    assert "Traceback (most recent call last)" in verbose.stderr
    assert verbose.stderr.splitlines()[-1] == "error: no lead with email ghost@example.com"


def _blocked_reading_a_pipe(pid: int) -> bool:
    try:
        return "pipe_read" in Path(f"/proc/{pid}/wchan").read_text()
    except OSError:
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="waits on /proc/PID/wchan to know the process is reading stdin")
def test_130_interrupted() -> None:
    """Ctrl-C while `add --json -` waits for its input: exit 130, one line, no traceback."""
    import os

    proc = subprocess.Popen(
        [sys.executable, "-m", "leadcli", "add", "--json", "-"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        deadline = time.monotonic() + 20
        while not _blocked_reading_a_pipe(proc.pid):
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "leadcli never started reading stdin"
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=20)
    finally:
        proc.stdin.close()  # type: ignore[union-attr]
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130
    assert stdout == ""
    assert one_error_line(stderr) == "error: interrupted"


@pytest.mark.parametrize("fmt", ["ids", "json", "table"])
def test_a_reader_that_goes_away_is_not_an_error(fmt: str, leadcli_home: Path) -> None:
    """`leadcli list --all | head -1`: exit 0 and nothing on stderr, so `set -o pipefail`
    scripts keep going."""
    import os

    from test_sqlite_store import event, make_lead

    from leadcli.store.sqlite import SqliteStore

    store = SqliteStore(leadcli_home / "leads.db")
    store.write_batch([(make_lead(f"lead{n}@example.com"), event()) for n in range(3000)], [])  # well over a pipe buffer
    store.close()
    proc = subprocess.Popen(
        [sys.executable, "-m", "leadcli", "list", "--all", "-o", fmt],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert proc.stdout is not None and proc.stderr is not None
    assert proc.stdout.readline()
    proc.stdout.close()
    stderr = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 0, stderr
    assert stderr == ""


# -- issue 14 items 9 and 10: hostile options, settings and data --------------------------------


def test_2_stale_days_further_back_than_the_calendar() -> None:
    for days in ("1000000", "100000000000"):
        result = run_process("stale", "--days", days)
        assert result.code == 2
        assert one_error_line(result.stderr).startswith(f"error: --days: {days} days ago is before the year 1")


def test_2_an_argument_that_is_not_utf8() -> None:
    env = {**__import__("os").environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable.encode(), b"-m", b"leadcli", b"add", b"--name", b"\xff\xfe", b"--email", b"a@example.com"],
        capture_output=True, env=env, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 2
    assert one_error_line(proc.stderr.decode()) == "error: argument 3 is not UTF-8 text (b'\\xff\\xfe'); leadcli reads its arguments as UTF-8"
    assert run_process("count").stdout == "0\n"


@pytest.mark.parametrize(
    ("content", "command", "expected"),
    [
        (b"\x7fELF\x02\x01\x01\x00\x00\x00\xd0\xff binary", ("count",), "not a TOML text file"),
        (b'db = "\\u0000.db"\n', ("count",), "holds a NUL character"),
        (b"[serve]\nport = 99999\n", ("serve",), "serve.port must be a port number from 1 to 65535, not 99999"),
        (b'[serve]\nport = "8765"\n', ("serve",), "serve.port must be a port number"),
        (b"[watch]\nserver = 5\n", ("watch", "--count", "1", "--timeout", "1"), "watch.server must be text"),
        (b'[pipeline]\nwon = "Nope"\n', ("stats",), "pipeline: won = 'Nope' is not one of the stages"),
        (b'[pipeline]\nstages = ["A", "B"]\nlost = "C"\n', ("count",), "pipeline: lost = 'C' is not one of the stages (A, B)"),
        # a typo in a section must not silently leave the team on the default pipeline or port
        (b'[pipeline]\nstage = ["Lead", "Won"]\n', ("count",), "unknown setting(s) stage in [pipeline]; valid: closed, lost, stages, won"),
        (b'[profiles.team]\n[profiles.team.pipeline]\nclosed_stages = ["Won"]\n', ("--profile", "team", "count"), "closed_stages in [pipeline] in [profiles.team]"),
        (b"[serve]\nprot = 9000\n", ("serve",), "unknown setting(s) prot in [serve]; valid: allow_origin, host, port, token"),
        (b'[watch]\nservr = "ws://127.0.0.1:1/ws"\n', ("watch", "--count", "1", "--timeout", "1"), "unknown setting(s) servr in [watch]; valid: server, token"),
    ],
)
def test_2_a_bad_config_file_names_the_problem(leadcli_home: Path, content: bytes, command: tuple[str, ...], expected: str) -> None:
    config = leadcli_home / "config.toml"
    config.write_bytes(content)
    result = run_process(*command, timeout=30)
    assert result.code == 2, result.stderr
    line = one_error_line(result.stderr)
    assert expected in line
    if "config file" in line:
        assert str(config) in line  # which file to fix


@pytest.mark.parametrize("section", ["serve", "watch"])
def test_a_token_of_the_wrong_type_is_not_echoed_in_the_error(leadcli_home: Path, section: str) -> None:
    (leadcli_home / "config.toml").write_text(f"[{section}]\ntoken = 8675309\n")
    result = run_process("count", timeout=30)
    assert result.code == 2, result.stderr
    line = one_error_line(result.stderr)
    assert f"{section}.token must be text" in line
    assert "8675309" not in line  # error lines end up in cron mail and CI logs


def test_json_output_stays_valid_json_when_values_sum_past_a_double(store_uri: str) -> None:
    """leadcli now refuses a value over 10^15, but a store written before (or by Leads Artisan)
    may hold larger ones."""
    from leadmaker import lead, seed

    assert run_process("--db", store_uri, "add", "--name", "c", "--email", "c@example.com", "--value", "1e308").code == 2
    seed(store_uri, [lead("a", value=1e308), lead("b", value=1e308)])
    result = run_process("--db", store_uri, "stats", "-o", "json")
    assert result.code == 0, result.stderr
    import json

    stats = json.loads(result.stdout, parse_constant=lambda name: pytest.fail(f"{name} is not JSON"))
    assert stats["stages"][0] == {**stats["stages"][0], "stage": "New Lead", "count": 2, "value": None}


def test_mask_uri_masks_a_password_without_a_user() -> None:
    from leadcli.config import mask_uri

    assert mask_uri("mongodb://:s3cret@db.example.com/leads") == "mongodb://:***@db.example.com/leads"
    assert mask_uri("mongodb://ada:s3cret@db.example.com/leads") == "mongodb://ada:***@db.example.com/leads"
    shown = run_process("--db", "mongodb://:s3cret@db.example.com/leads", "config", "show", "-o", "json")
    assert "s3cret" not in shown.stdout + shown.stderr


def test_invisible_and_direction_changing_characters_are_shown_escaped() -> None:
    name = "Ada\u202egnp.exe"
    assert run_process("add", "--name", name, "--email", "ada@example.com", "--company", "Zero\u200bWidth\ufeff").code == 0
    assert run_process("add", "--name", "زهرا\u200cنیک", "--email", "z@example.com").code == 0  # ZWNJ: part of the name

    table = run_process("list").stdout
    card = run_process("show", "ada@example.com").stdout
    drawn = run_process("show", "ada@example.com", env={"LEADCLI_FORCE_TERMINAL": "1", "COLUMNS": "100"}).stdout

    for view in (table, card, drawn):
        assert "Ada\\u202egnp.exe" in view and "\u202e" not in view
    for view in (table, card):
        assert "Zero\\u200bWidth\\ufeff" in view and "\u200b" not in view
    assert "زهرا\u200cنیک" in table
    assert run_process("show", "ada@example.com", "-o", "json").json()["name"] == name  # the data is kept as it is


def test_help_warns_that_secrets_in_argv_show_in_ps() -> None:
    main_help = run_process("--help", env={"COLUMNS": "300"}).stdout
    watch_help = run_process("watch", "--help", env={"COLUMNS": "300"}).stdout
    assert "A password in it shows in ps (the process list)" in " ".join(main_help.split())
    assert "Given here it shows in ps (the process list)" in " ".join(watch_help.split())


def test_a_missing_file_named_by_leadcli_config_is_exit_2_like_the_flag(tmp_path: Path) -> None:
    """A cron job's LEADCLI_CONFIG with a typo must not run on the default store in silence."""
    missing = tmp_path / "team.toml"
    result = run_process("add", "--name", "Ada", "--email", "ada@example.com", env={"LEADCLI_CONFIG": str(missing)}, timeout=30)
    assert result.code == 2, result.stderr
    assert one_error_line(result.stderr) == f"error: LEADCLI_CONFIG: no such file {missing}"
    assert run_process("count", timeout=30).stdout == "0\n"  # nothing went to the default store
    assert run_process("config", "path", env={"LEADCLI_CONFIG": str(missing)}, timeout=30).stdout == f"{missing}\n"


def test_an_unknown_profile_from_leadcli_profile_names_the_variable(leadcli_home: Path) -> None:
    (leadcli_home / "config.toml").write_text("[profiles.team]\nuser = 'x'\n")
    result = run_process("count", env={"LEADCLI_PROFILE": "tema"}, timeout=30)
    assert result.code == 2, result.stderr
    assert one_error_line(result.stderr).startswith("error: LEADCLI_PROFILE: no profile 'tema'")  # there is no --profile to fix
