"""The README is true: its shell examples run as shown, in order, as a new user would type them
into one terminal (one leadcli home, one working directory, `leadcli` on PATH).

- Lines whose command is `leadcli` (maybe behind `VAR=value`, maybe piped) run in bash and must
  exit 0 (or N for a line ending `# … exit N`) with no `error:` on stderr.
- Install and development lines (`python3 -m venv …`, `pip install …`, `python -m pytest`, `ruff`)
  are not run (no venvs, no test suite inside the test suite): each part must name a command,
  module, file, dependency group or pytest marker that exists. In a line mixing both (the first
  line: install, then run), the `leadcli` parts run.
- `watch` without --count/--timeout and `serve` run until stopped: they pass when still running
  without an error after a few seconds. A `serve` line keeps serving (on a free port instead of
  the README's, and --verbose so it says when a client joined) for the `watch --server` line,
  which must print a lead a teammate adds once it has joined.
- Cron lines (```cron blocks) must be crontab lines; their command part runs (with `mail`
  replaced by a stub that keeps the message).
- `mongodb://localhost/DB` runs against the test's MongoDB-wire server, in a fresh database.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
import tomllib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import ROOT, _free_port
from livehelp import communicate_until

README = ROOT / "README.md"
LONG_RUNNING_WAIT = 3.0
CRON_TIME = re.compile(r"^(\S+\s+){5}")
LOCAL_MONGODB = re.compile(r"mongodb://localhost(?::27017)?/(\w+)")
README_PORT = re.compile(r"127\.0\.0\.1:(\d{4,5})\b|--port (\d{4,5})\b")


@dataclass(frozen=True)
class Example:
    number: int  # line number in README.md
    text: str
    lang: str

    def __str__(self) -> str:
        return f"README.md line {self.number}: {self.text}"


def readme_examples() -> list[Example]:
    """Every non-blank, non-comment line of the README's ```sh and ```cron blocks."""
    found: list[Example] = []
    lang = None
    for number, line in enumerate(README.read_text(encoding="utf-8").splitlines(), start=1):
        fence = re.match(r"^```(\w*)\s*$", line)
        if fence:
            lang = (fence.group(1) or "text") if lang is None else None
            continue
        if lang in ("sh", "cron") and line.strip() and not line.lstrip().startswith("#"):
            found.append(Example(number, line.strip(), lang))
    return found


def words(segment: str) -> list[str]:
    return shlex.split(segment, comments=True)


def command_of(segment: str) -> str:
    """The command a shell segment runs: its first word after any VAR=value assignments."""
    return next((w for w in words(segment) if not re.match(r"^\w+=", w)), "")


def runs_leadcli(segment: str) -> bool:
    return command_of(segment) == "leadcli"


# -- install and development lines: checked, not run -------------------------------------------


PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
VENV_BIN = Path(sys.executable).parent


def check_dev_segment(example: Example, segment: str, made: set[str]) -> None:
    """Each part of an install/dev command must name what exists in this repository and in a
    Python environment with the dev group installed (`made`: directories earlier parts create)."""
    argv = words(segment)
    assignments = [w for w in argv if re.match(r"^\w+=", w)]
    argv = argv[len(assignments) :]
    assert argv, f"{example}: empty command in {segment!r}"
    for assignment in assignments:
        name = assignment.split("=", 1)[0]
        assert any(name in p.read_text(encoding="utf-8") for p in (ROOT / "tests").glob("*.py")), f"{example}: nothing reads {name}"
    cmd, args = argv[0], argv[1:]
    if cmd == ".":
        assert args and any(args[0].startswith(f"{d}/") for d in made), f"{example}: sources {args} that no earlier part creates"
        return
    assert shutil.which(cmd, path=f"{VENV_BIN}{os.pathsep}{os.environ['PATH']}"), f"{example}: no command {cmd!r}"
    if cmd in ("python", "python3") and args[:1] == ["-m"]:
        import importlib.util

        assert importlib.util.find_spec(args[1]), f"{example}: no Python module {args[1]!r}"
        if args[1] == "venv":
            made.add(args[2])
        if args[1] == "pytest":
            check_pytest_args(example, args[2:])
        return
    if cmd in ("python", "python3"):
        assert args and (ROOT / args[0]).is_file(), f"{example}: no file {args[:1]}"
        return
    if cmd == "pip":
        assert args[:1] == ["install"], f"{example}: pip {args[:1]}?"
        for i, arg in enumerate(args):
            if arg == ".":
                assert PYPROJECT["project"]["scripts"]["leadcli"], f"{example}: the package installs no leadcli command"
            if arg == "--group":
                assert args[i + 1] in PYPROJECT["dependency-groups"], f"{example}: no dependency group {args[i + 1]!r}"
        return
    if cmd == "mypy":
        assert any(d.startswith("mypy") for d in PYPROJECT["dependency-groups"]["dev"]), f"{example}: mypy is not a dev dependency"
        assert "mypy" in PYPROJECT["tool"] and all((ROOT / a).exists() for a in args), f"{example}: mypy {args}?"
        return
    if cmd == "ruff":
        assert any(d.startswith("ruff") for d in PYPROJECT["dependency-groups"]["dev"]), f"{example}: ruff is not a dev dependency"
        assert args and args[0] == "check" and all((ROOT / a).exists() for a in args[1:]), f"{example}: ruff {args}?"
        return
    raise AssertionError(f"{example}: this test does not know how to check {cmd!r}; teach it, or run the line")


def check_pytest_args(example: Example, args: list[str]) -> None:
    markers = {m.split(":")[0] for m in PYPROJECT["tool"]["pytest"]["ini_options"]["markers"]}
    for i, arg in enumerate(args):
        if arg == "-m":
            named = set(re.findall(r"\w+", args[i + 1])) - {"not", "and", "or"}
            assert named <= markers, f"{example}: unknown pytest markers {named - markers}"
        elif arg == "-n":  # pytest-xdist's worker count
            import importlib.util

            assert importlib.util.find_spec("xdist") and any(d.startswith("pytest-xdist") for d in PYPROJECT["dependency-groups"]["dev"]), f"{example}: -n needs pytest-xdist in the dev group"
            assert args[i + 1] == "auto" or args[i + 1].isdigit(), f"{example}: -n {args[i + 1]}?"
        elif not arg.startswith("-") and (i == 0 or args[i - 1] not in ("-m", "-n")):
            assert (ROOT / arg.split("::")[0]).exists(), f"{example}: no test file {arg!r}"


# -- user lines: run ------------------------------------------------------------------------------


class Session:
    """One user's terminal: a leadcli home, a working directory with their files, `leadcli` (and
    a `mail` stub) on PATH. Lines run one after another against the same store."""

    def __init__(self, tmp: Path, request: pytest.FixtureRequest) -> None:
        self.request = request
        self.cwd = tmp / "work"
        self.cwd.mkdir()
        home = tmp / "home"
        home.mkdir()
        bin_dir = tmp / "bin"
        bin_dir.mkdir()
        shim = bin_dir / "leadcli"
        shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m leadcli "$@"\n')
        self.mailbox = tmp / "mailbox"
        stub = bin_dir / "mail"
        stub.write_text(f'#!/bin/sh\n{{ echo "mail $*"; cat; }} >> "{self.mailbox}"\n')
        for exe in (shim, stub):
            exe.chmod(0o755)
        self.env = {
            **os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "PYTHONPATH": str(ROOT),
            "HOME": str(home), "SHELL": "/bin/bash", "COLUMNS": "100", "EDITOR": "true",
        }  # fmt: skip
        self.port = _free_port()
        self.server: subprocess.Popen[str] | None = None
        self.server_err: list[str] = []
        self.mongo_databases: list[tuple[str, str]] = []

    def adapt(self, line: str) -> str:
        """What must differ from the README to run here: a free port, the test's MongoDB."""
        line = README_PORT.sub(lambda m: m.group(0).replace(m.group(1) or m.group(2), str(self.port)), line)
        found = LOCAL_MONGODB.search(line)
        if found:
            server = self.request.getfixturevalue("mongo_server")
            database = f"readme_{uuid.uuid4().hex[:12]}"
            self.mongo_databases.append((server, database))
            line = line.replace(found.group(0), f"{server}/{database}")
        return line

    def run(self, example: Example, line: str) -> str:
        line = self.adapt(line)
        subcommand = leadcli_subcommand(line)
        if subcommand == "serve":
            self.serve(example, line)
            return ""
        long_running = subcommand == "watch" and not re.search(r"--count|--timeout", line)
        teammate = None
        if "--server" in line:
            assert self.server is not None, f"{example}: watches a server, but no earlier line starts `leadcli serve`"
            teammate = threading.Thread(target=self.teammate_adds_a_lead, daemon=True)
        proc = subprocess.Popen(
            ["bash", "-o", "pipefail", "-c", line], env=self.env, cwd=self.cwd, stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
        )  # fmt: skip
        if teammate:
            # Watching the feed: run until the teammate's lead is printed (or a minute passes).
            teammate.start()
            out, err, _running = communicate_until(proc, "late@example.com")
            teammate.join()
            assert "error:" not in err, f"{example}\nstderr: {err}"
            assert "late@example.com" in out, f"{example}\ndid not show the lead added while it watched: {out!r}"
            return out
        try:
            out, err = proc.communicate(timeout=LONG_RUNNING_WAIT if long_running else 90)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGTERM)
            out, err = proc.communicate()
            assert long_running, f"{example}\ndid not finish in 90 s\nstderr: {err}"
            assert "error:" not in err, f"{example}\nstderr: {err}"
        else:
            want = expected_exit(line)
            assert proc.returncode == want, f"{example}\nexited {proc.returncode}, not {want}\nstdout: {out}\nstderr: {err}"
            if want == 0:
                assert "error:" not in err, f"{example}\nstderr: {err}"
        return out

    def serve(self, example: Example, line: str) -> None:
        # Verbose, the server says when a client has joined: then the teammate may add the lead
        # the watcher must see.
        line = line.replace("leadcli serve", "leadcli --verbose serve", 1)
        self.server = subprocess.Popen(
            ["bash", "-c", line], env=self.env, cwd=self.cwd, stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True,
        )  # fmt: skip
        stderr = self.server.stderr
        assert stderr is not None
        threading.Thread(target=lambda: self.server_err.extend(stderr), daemon=True).start()
        deadline = time.monotonic() + 20
        while not any(str(self.port) in err for err in self.server_err):
            assert self.server.poll() is None, f"{example}\nexited {self.server.returncode}: {''.join(self.server_err)}"
            assert time.monotonic() < deadline, f"{example}\ndid not start serving: {''.join(self.server_err)}"
            time.sleep(0.05)
        time.sleep(LONG_RUNNING_WAIT / 3)
        assert self.server.poll() is None and "error:" not in "".join(self.server_err), f"{example}\n{''.join(self.server_err)}"

    def teammate_adds_a_lead(self) -> None:
        deadline = time.monotonic() + 60
        while not any("joined" in err for err in self.server_err) and time.monotonic() < deadline:
            time.sleep(0.05)
        subprocess.run(["leadcli", "add", "--name", "Late Lead", "--email", "late@example.com", "--company", "Late Co"], env=self.env, capture_output=True, check=True)

    def close(self) -> None:
        if self.server is not None and self.server.poll() is None:
            os.killpg(self.server.pid, signal.SIGINT)
            try:
                self.server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.server.pid, signal.SIGKILL)
                self.server.wait()
        if self.mongo_databases:
            import pymongo

            for server, database in self.mongo_databases:
                client = pymongo.MongoClient(server, serverSelectionTimeoutMS=5000)
                client.drop_database(database)
                client.close()


def leadcli_subcommand(line: str) -> str:
    """`serve` for `LEADCLI_TOKEN=x leadcli serve --port 1`: the first word after leadcli's
    global options."""
    argv = words(line.split("|")[0])
    rest = argv[argv.index("leadcli") + 1 :]
    while rest and rest[0].startswith("-"):
        rest = rest[2:] if rest[0] in ("--db", "--config", "--profile", "--user") else rest[1:]
    return rest[0] if rest else ""


def expected_exit(line: str) -> int:
    found = re.search(r"#.*\bexit (\d+)\s*$", line)
    return int(found.group(1)) if found else 0


# -- the user's own files, as the README's import lines expect them in the working directory ------

TEAM_CSV = """\
name,email,company,current_stage,status,owner,value,tags,created_at
Seed Lead {n},seed{n}@example.com,Acme {n},{stage},Not Engaged,{owner},{value},{tags},2026-01-0{day}T09:00:00Z
"""
LEADS_CSV = """\
Name,Email,Company,Stage,Status,Owner,Value,Follow Up
Hedy Lamarr,hedy@example.com,MGM,Initial Contact,Engaged,ada,8000,2030-03-01
Joan Clarke,joan@example.com,Bletchley Park,New Lead,Not Engaged,sam,,
"""
HUBSPOT_CSV = """\
Record ID,First Name,Last Name,Email,Company Name,Lead Status,Phone Number,Create Date
101,Mary,O'Brien,mary@example.com,Contoso,New,+1 555 0100,2026-02-01
102,Dorothy,Vaughan,dorothy@example.com,NACA,Negotiation,,2026-02-03
"""
STAGES = ("New Lead", "Initial Contact", "Meeting Scheduled", "Proposal Sent", "Negotiation", "Closed Won", "Closed Lost")
OWNERS = ("ada", "sam", "kim")


def write_user_files(cwd: Path) -> None:
    header, row = TEAM_CSV.splitlines()
    rows = [
        row.format(n=n, stage=STAGES[n % len(STAGES)], owner=OWNERS[n % 3], value=1000 * n, day=n % 9 + 1,
                   tags='"vip,enterprise"' if n % 5 == 0 else "")
        for n in range(60)
    ]  # fmt: skip
    (cwd.parent / "team.csv").write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    (cwd / "leads.csv").write_text(LEADS_CSV, encoding="utf-8")
    (cwd / "hubspot.csv").write_text(HUBSPOT_CSV, encoding="utf-8")


def seed(session: Session) -> None:
    """A store with history, as a team's would have: 60 leads imported (so `watch --since 41
    --count 10` has events to replay)."""
    seeding = subprocess.run(["leadcli", "import", str(session.cwd.parent / "team.csv")], env=session.env, cwd=session.cwd,
                             capture_output=True, text=True)  # fmt: skip
    assert seeding.returncode == 0, seeding.stderr


@pytest.fixture
def session(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Session]:
    opened = Session(tmp_path, request)
    write_user_files(opened.cwd)
    try:
        yield opened
    finally:
        opened.close()


# -- the tests ------------------------------------------------------------------------------------


def test_the_readme_has_the_examples_this_test_expects() -> None:
    examples = readme_examples()
    assert examples[0].text.startswith("python3 -m venv") and "leadcli" in examples[0].text, "the README no longer opens with the install-and-run line"
    assert sum(1 for e in examples if e.lang == "cron") >= 2
    subcommands = {leadcli_subcommand(e.text) for e in examples if "leadcli" in e.text and runs_leadcli(e.text)}
    assert {"add", "list", "show", "move", "log", "watch", "serve", "import", "export"} <= subcommands


def test_the_files_the_readme_names_exist() -> None:
    """Paths in `code` (`docs/design.md`, `bash .ci/run`, `leadcli/output/rich_view.py`…) and
    link targets are files of this repository; `path/to/leads.db` and URIs are examples, not paths."""
    text = re.sub(r"(?ms)^```.*?^```", "", README.read_text(encoding="utf-8"))
    named = [w for span in re.findall(r"`([^`]+)`", text) for w in span.split()]
    paths = {w.lstrip("(").rstrip(".,;:)") for w in named if "/" in w and "://" not in w}
    links = {link for link in re.findall(r"\]\(([^)#]+)\)", text) if "://" not in link}
    ours = {p for p in paths if p.split("/")[0] and (ROOT / p.split("/")[0]).exists()} | links
    assert {"docs/design.md", ".ci/run", "tests/test_startup.py", "config.example.toml"} <= ours
    missing = sorted(p for p in ours if not (ROOT / p).exists())
    assert not missing, f"README.md names files that do not exist: {missing}"


def test_readme_examples_run_as_shown(session: Session) -> None:
    seed(session)
    for example in readme_examples():
        if example.lang == "cron":
            assert CRON_TIME.match(example.text), f"{example}\nis not a crontab line (five time fields, then the command)"
            session.run(example, CRON_TIME.sub("", example.text))
            continue
        segments = example.text.split(" && ")
        if len(segments) == 1 and runs_leadcli(example.text):
            session.run(example, example.text)
            continue
        made: set[str] = set()
        for segment in segments:
            if not runs_leadcli(segment):
                check_dev_segment(example, segment, made)
        run = [s for s in segments if runs_leadcli(s)]
        if run:
            session.run(example, " && ".join(run))
    # The cron recipe's mail got the follow-ups as CSV; its log has no errors.
    mail = session.mailbox.read_text(encoding="utf-8")
    assert mail.startswith("mail -s Follow-ups for today sales@example.com\n") and "\nid,name,email," in mail
    assert "error" not in (Path(session.env["HOME"]) / "leadcli-cron.log").read_text(encoding="utf-8")
