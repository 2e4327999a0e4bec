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
    for n in range(3000):  # well over a pipe buffer of output
        store.insert(make_lead(f"lead{n}@example.com"), event())
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
