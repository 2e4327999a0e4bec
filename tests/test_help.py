"""Help that teaches, kept true: every command (including ones added later: the list comes from
the app itself) has a one-line summary and an Examples block, and every example runs as shown,
in a real shell, against a store seeded with a few leads. An example that demonstrates a
refusal says so with `# … exit N` at its end, and must exit N."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT, _free_port, invoke
from livehelp import communicate_until

from leadcli.cli import command, walk
from leadcli.cli.helptext import examples

COMMANDS = {" ".join(path): cmd for path, cmd in walk(command()) if path and not getattr(cmd, "commands", None)}
EXAMPLES = [(name, line) for name, cmd in COMMANDS.items() for line in examples(cmd.help)]

# Commands that run until stopped: an example passes if it exits 0 or is still running without
# an error after LONG_RUNNING_WAIT seconds (it is then stopped).
LONG_RUNNING = {
    "serve": "serves WebSocket clients until Ctrl-C",
    "watch": "follows events until Ctrl-C unless --count or --timeout ends it",
}
LONG_RUNNING_WAIT = 3.0
# Examples that need something this test cannot provide, by a text they contain.
NEEDS_OUTSIDE: dict[str, str] = {}
# Examples watching a `leadcli serve` feed get one, started on a free port over the same store.
EXAMPLE_FEED = "ws://127.0.0.1:8765/ws"
# Examples naming a local MongoDB run against the test's MongoDB-wire server instead.
LOCAL_MONGODB = "mongodb://localhost:27017"

SEED = [
    {"id": "6650f1c2a1b2c3d4e5f60718", "name": "Ada Lovelace", "email": "ada@example.com", "company": "Analytical Engines",
     "current_stage": "Proposal Sent", "owner": "sam", "tags": ["vip"], "value": 12000, "follow_up_at": "2026-01-05T09:00:00.000+00:00"},
    {"id": "7750f1c2a1b2c3d4e5f60719", "name": "Grace Hopper", "email": "grace@example.com", "company": "US Navy",
     "current_stage": "Negotiation", "owner": "kim", "value": 30000},
    {"id": "8850f1c2a1b2c3d4e5f6071a", "name": "Alan Turing", "email": "alan@example.com", "company": "Acme Computing",
     "current_stage": "New Lead"},
    {"id": "9950f1c2a1b2c3d4e5f6071b", "name": "Edsger Dijkstra", "email": "edsger@example.com", "company": "TU Eindhoven",
     "current_stage": "Closed Lost"},
]  # fmt: skip


def seed_store(db: Path) -> None:
    from leadcli.domain.dates import now_utc
    from leadcli.domain.lead import from_jsonable
    from leadcli.store import open_store

    store = open_store(str(db))
    now = now_utc()
    try:
        for record in SEED:
            lead = from_jsonable(record)
            lead.update(status="Not Engaged", engaged=False, stage_updated_at=now, created_at=now, updated_at=now, version=1,
                        stage_history=[{"from_stage": None, "to_stage": record["current_stage"], "changed_at": now, "by": "seed", "notes": None}])  # fmt: skip
            store.insert(lead, {"type": "lead_created", "by": "seed", "at": now, "changes": {}})
    finally:
        store.close()


def expected_exit(line: str) -> int:
    found = re.search(r"#.*\bexit (\d+)\s*$", line)
    return int(found.group(1)) if found else 0


def test_every_command_has_a_summary_and_examples() -> None:
    assert {"add", "show", "edit", "delete", "list", "search", "count", "stages", "doctor", "config show"} <= set(COMMANDS)
    for name, cmd in COMMANDS.items():
        summary = (cmd.help or "").strip().splitlines()[0] if cmd.help else ""
        assert summary and len(summary) <= 100, f"{name}: no one-line summary"
        lines = examples(cmd.help)
        assert lines, f"{name}: no **Examples** block in its docstring"
        assert any(f"leadcli {name}" in line or f" {name} " in f" {line} " for line in lines), f"{name}: no example uses it"


@pytest.mark.parametrize(("name", "line"), EXAMPLES, ids=[f"{n}: {line[:60]}" for n, line in EXAMPLES])
def test_example_runs_as_shown(name: str, line: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    for needle, reason in NEEDS_OUTSIDE.items():
        if needle in line:
            pytest.skip(f"needs {reason}")
    if LOCAL_MONGODB in line:
        line = line.replace(LOCAL_MONGODB, request.getfixturevalue("mongo_server"))
    # Tests listen on loopback only, on a port nothing else holds (the non-loopback rule itself
    # is covered by tests/test_serve.py).
    line = line.replace("--host 0.0.0.0", "--host 127.0.0.1")
    line = re.sub(r"(serve\b.*--port )\d+", lambda m: f"{m.group(1)}{_free_port()}", line)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    shim = bin_dir / "leadcli"
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m leadcli "$@"\n')
    shim.chmod(0o755)
    db = tmp_path / "leads.db"
    seed_store(db)
    env = {
        **os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "PYTHONPATH": str(ROOT),
        "LEADCLI_DB": str(db), "EDITOR": "true", "COLUMNS": "100",
    }  # fmt: skip
    if name == "serve":
        # A bare `leadcli serve` listens on the default port 8765, which another test or program
        # may hold: its config file names a free one instead (the example runs unchanged).
        config = tmp_path / "config.toml"
        config.write_text(f"[serve]\nport = {_free_port()}\n", encoding="utf-8")
        env["LEADCLI_CONFIG"] = str(config)
    feed = None
    if EXAMPLE_FEED in line:
        feed, url = start_feed(db, env)
        line = line.replace(EXAMPLE_FEED, url)
    try:
        out = run_example(name, line, env, tmp_path, during=(lambda: add_lead_later(env, feed)) if feed else None)
    finally:
        if feed is not None:
            feed.stop()
    if feed is not None:
        assert "late@example.com" in out, f"{line!r} did not show the event the feed published: {out!r}"


def add_lead_later(env: dict[str, str], feed: Any) -> None:
    """Once a feed example has joined the feed, a teammate adds a lead: the example must print it."""
    feed.wait_stderr("joined", timeout=60)
    subprocess.run(["leadcli", "add", "--name", "Late Lead", "--email", "late@example.com"], env=env, capture_output=True, check=True)


def start_feed(db: Path, env: dict[str, str]):  # type: ignore[no-untyped-def]
    """A real `leadcli serve` with the token the examples read from LEADCLI_TOKEN."""
    from livehelp import Proc

    env["LEADCLI_TOKEN"] = "example-token"
    port = _free_port()
    feed = Proc("--verbose", "--db", str(db), "serve", "--port", str(port), env={"LEADCLI_TOKEN": env["LEADCLI_TOKEN"]})
    feed.wait_stderr(str(port))
    return feed, f"ws://127.0.0.1:{port}/ws"


def run_example(name: str, line: str, env: dict[str, str], tmp_path: Path, during: Callable[[], None] | None = None) -> str:
    """Run one example line in bash; returns its stdout."""
    proc = subprocess.Popen(
        ["bash", "-o", "pipefail", "-c", line], env=env, cwd=tmp_path, stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip
    wait = LONG_RUNNING_WAIT if name.split()[0] in LONG_RUNNING else 60
    if during is not None:
        # Watching a feed: run until the teammate's lead is printed (or a minute passes).
        threading.Thread(target=during, daemon=True).start()
        out, err, _running = communicate_until(proc, "late@example.com")
        assert "error:" not in err, err
        return out
    try:
        out, err = proc.communicate(timeout=wait)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGTERM)
        out, err = proc.communicate()
        assert name.split()[0] in LONG_RUNNING, f"{line!r} did not finish"
        assert "error:" not in err, err
        return out
    assert proc.returncode == expected_exit(line), f"{line!r} exited {proc.returncode}\nstdout: {out}\nstderr: {err}"
    if proc.returncode == 0:
        assert "error:" not in err, err
    return out


def test_dash_h_is_help_and_no_arguments_shows_it() -> None:
    short = invoke("list", "-h")
    assert short.code == 0 and "Usage: leadcli list" in short.stdout and "Examples" in short.stdout
    bare = invoke()
    assert bare.code == 2 and "Usage: leadcli" in bare.stdout + bare.stderr


def test_help_shows_each_example_on_its_own_line() -> None:
    out = invoke("delete", "--help", env={"COLUMNS": "200"}).stdout
    for line in examples(COMMANDS["delete"].help):
        assert line in out.replace("\n", " ") or line.split("#")[0].strip() in out


def test_shell_completion_script_and_completions() -> None:
    script = invoke("--show-completion", "bash")
    assert script.code == 0 and "_leadcli_completion" in script.stdout
    done = invoke(env={"_LEADCLI_COMPLETE": "complete_bash", "COMP_WORDS": "leadcli list --sta", "COMP_CWORD": "2"})
    assert done.code == 0 and {"--stage", "--status"} <= set(done.stdout.split())


def test_simple_options_are_still_checked() -> None:
    bad = invoke("list", "--page", "two")
    assert bad.code == 2 and "'two' is not a valid integer" in bad.stderr
    assert invoke("add", "--name", "Ada", "--email", "ada@example.com", "--value", "1e3", "-o", "json").json()["value"] == 1000


def test_no_prompts_in_a_pipe() -> None:
    missing = invoke("add", "--name", "Ada", input="")
    assert missing.code == 2 and "--email is required" in missing.stderr
    assert invoke("add", "--name", "Ada", "--email", "ada@example.com").code == 0
    refused = invoke("delete", "ada@example.com", input="y\n")
    assert refused.code == 2 and "--yes" in refused.stderr
    assert invoke("count").stdout.strip() == "1"
