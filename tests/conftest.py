"""Shared fixtures: every test gets its own leadcli home (config and data in a temp dir), and
the `store_uri` fixture runs a test once on SQLite and once on a MongoDB-wire server."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
ENV_VARS = (
    "LEADCLI_DB", "MONGODB_URI", "LEADCLI_DATABASE", "MONGODB_DATABASE", "LEADCLI_CONFIG",
    "LEADCLI_PROFILE", "LEADCLI_USER", "LEADCLI_TIMEZONE", "LEADCLI_PAGE_SIZE", "LEADCLI_TOKEN",
    "LEADCLI_VERBOSE", "NO_COLOR", "LEADCLI_WEB_APP_COMPATIBLE",
)  # fmt: skip


# Many tests start `python -m leadcli` processes. Where bytecode writing is off
# (PYTHONDONTWRITEBYTECODE), each of them would compile leadcli from source again: they share
# one cache outside the tree instead (Python checks each cached file against its source).
if os.environ.pop("PYTHONDONTWRITEBYTECODE", None) and not os.environ.get("PYTHONPYCACHEPREFIX"):
    os.environ["PYTHONPYCACHEPREFIX"] = str(Path(tempfile.gettempdir()) / f"leadcli-tests-pycache-{os.getuid()}")


# Tests write many small SQLite stores (and each FerretDB its data), committing as leadcli does:
# on a disk every commit waits for fsync, which cost more wall time than the CPU the suite
# spends. Temporary directories go to memory (/dev/shm) where there is one, unless the caller
# chose a place (--basetemp, PYTEST_DEBUG_TEMPROOT). Passing tests' directories are removed
# (pyproject: tmp_path_retention_policy), so they do not pile up there.
if not os.environ.get("PYTEST_DEBUG_TEMPROOT") and os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK):
    os.environ["PYTEST_DEBUG_TEMPROOT"] = "/dev/shm"


@pytest.fixture(autouse=True)
def leadcli_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "leadcli-home"
    home.mkdir()
    isolate(monkeypatch, home)
    return home


def isolate(monkeypatch: pytest.MonkeyPatch, home: Path) -> None:
    """leadcli as a new user `tester` sees it: its own home, none of the caller's settings."""
    for name in ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LEADCLI_HOME", str(home))
    monkeypatch.setenv("LEADCLI_USER", "tester")


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str

    def json(self):  # type: ignore[no-untyped-def]
        import json

        return json.loads(self.stdout)


def invoke(*args: str, input: str | None = None, env: dict[str, str] | None = None) -> Result:
    """Run leadcli in-process through its real entry point (error boundary included)."""
    from typer.testing import CliRunner

    from leadcli.cli import run

    with CliRunner().isolation(input=input, env=env) as (out, err, _mixed):
        code = run(list(args))
        sys.stdout.flush()  # a bare print() is still buffered in the runner's wrapper
        sys.stderr.flush()
        return Result(code, out.getvalue().decode(), err.getvalue().decode())


def run_process(*args: str, input: str | None = None, env: dict[str, str] | None = None, timeout: float = 60) -> Result:
    """Run leadcli as a real subprocess (`python -m leadcli`), no TTY."""
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    proc = subprocess.run(
        [sys.executable, "-m", "leadcli", *args],
        input=input,
        capture_output=True,
        text=True,
        env=full_env,
        timeout=timeout,
    )
    return Result(proc.returncode, proc.stdout, proc.stderr)


# Each worker imports leadcli once, says it is ready and waits for the word to go, then runs its
# commands through the real entry point (each opens its own connection, as separate `leadcli`
# invocations do), so the workers really overlap however long start-up takes on a busy machine.
WORKER = """
import json, os, sys, time
from leadcli.cli import run
ready, go, commands = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
open(ready, "w").close()
while not os.path.exists(go):
    time.sleep(0.002)
sys.exit(max(run(args) for args in commands))
"""


def run_workers(command_lists: list[list[list[str]]], env: dict[str, str], timeout: float = 600) -> list[subprocess.CompletedProcess[str]]:
    """One real process per list of commands (each a leadcli argv), all started at once; the
    exit code of each is the highest of its commands'."""
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), **env}
    with tempfile.TemporaryDirectory(prefix="leadcli-workers-") as flags:
        go = Path(flags) / "go"
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", WORKER, str(Path(flags) / f"ready-{n}"), str(go), json.dumps(commands)],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=full_env,
            )  # fmt: skip
            for n, commands in enumerate(command_lists)
        ]
        deadline = time.monotonic() + 120  # a safety net: every worker has imported leadcli long before
        while len(list(Path(flags).glob("ready-*"))) < len(procs) and all(p.poll() is None for p in procs) and time.monotonic() < deadline:
            time.sleep(0.01)
        go.touch()
        results = []
        for proc in procs:
            stdout, stderr = proc.communicate(timeout=timeout)
            results.append(subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr))
    return results


@pytest.fixture
def cli():  # type: ignore[no-untyped-def]
    return invoke


# -- MongoDB-wire server ---------------------------------------------------------------------


def ferretdb_binary() -> str | None:
    candidates = [
        os.environ.get("LEADCLI_FERRETDB_BIN"),
        shutil.which("ferretdb"),
        str(Path.home() / ".cache" / "leadcli-ferretdb" / "bin" / "ferretdb"),
    ]
    return next((c for c in candidates if c and Path(c).is_file()), None)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def mongo_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A MongoDB-wire server URI (no database): LEADCLI_TEST_MONGODB_URI, else a FerretDB
    started here on a free loopback port with a throw-away SQLite data dir."""
    if os.environ.get("LEADCLI_TEST_MONGODB_URI"):
        yield os.environ["LEADCLI_TEST_MONGODB_URI"].rstrip("/")
        return
    binary = ferretdb_binary()
    if binary is None and shutil.which("go"):
        subprocess.run(["bash", str(ROOT / ".ci" / "ferretdb.sh")], check=False)
        binary = ferretdb_binary()
    if binary is None:
        pytest.fail(
            "no MongoDB-wire server: build FerretDB with `bash .ci/ferretdb.sh`, or set "
            "LEADCLI_TEST_MONGODB_URI, or deselect with `-m 'not mongo'`"
        )
    # Under pytest-xdist each worker is a session of its own, so each starts its own FerretDB.
    # Two workers may be handed the same free port: the one that loses the race tries another.
    for _attempt in range(5):
        data = tmp_path_factory.mktemp("ferretdb")
        port = _free_port()
        log = open(data / "ferretdb.log", "wb")
        proc = subprocess.Popen(
            [
                binary,
                "--handler=sqlite",
                f"--sqlite-url=file:{data}/",
                f"--state-dir={data}",
                f"--listen-addr=127.0.0.1:{port}",
                "--telemetry=disable",
                "--log-level=warn",
                "--debug-addr=-",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        if _listening(proc, port):
            break
        log.close()
    else:
        pytest.fail(f"FerretDB did not start: {(data / 'ferretdb.log').read_text()[-2000:]}")
    yield f"mongodb://127.0.0.1:{port}"
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


def _listening(proc: subprocess.Popen[bytes], port: int) -> bool:
    """Whether `proc` came up listening on `port` (False: it exited, or never answered)."""
    deadline = time.monotonic() + 60
    while proc.poll() is None and time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        except OSError:
            time.sleep(0.1)
            continue
        time.sleep(0.2)  # listening, and still up: not another worker's server on that port
        if proc.poll() is None:
            return True
    proc.kill()
    proc.wait()
    return False


@pytest.fixture(params=["sqlite", pytest.param("mongo", marks=pytest.mark.mongo)])
def store_uri(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty store of each kind; tests using it run once per store."""
    if request.param == "sqlite":
        yield str(tmp_path / "leads.db")
        return
    yield request.getfixturevalue("mongo_uri")


@pytest.fixture
def store(store_uri: str):  # type: ignore[no-untyped-def]
    """An open LeadStore of each kind."""
    from leadcli.store import open_store

    opened = open_store(store_uri)
    yield opened
    opened.close()


@pytest.fixture
def mongo_uri(mongo_server: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A fresh, empty MongoDB database's URI (for tests that are about MongoDB only). No web app
    shares it (LEADCLI_WEB_APP_COMPATIBLE=false), so leadcli's own contract holds there, e.g.
    company optional; `artisan_uri` is one the Leads Artisan web app shares (the default)."""
    monkeypatch.setenv("LEADCLI_WEB_APP_COMPATIBLE", "false")
    with fresh_database(mongo_server) as uri:
        yield uri


@contextmanager
def fresh_database(mongo_server: str) -> Iterator[str]:
    """The URI of a new database on `mongo_server`, dropped afterwards."""
    database = f"leadcli_test_{uuid.uuid4().hex[:12]}"
    try:
        yield f"{mongo_server}/{database}"
    finally:
        import pymongo

        client = pymongo.MongoClient(mongo_server, serverSelectionTimeoutMS=5000)
        try:
            client.drop_database(database)
        finally:
            client.close()


@pytest.fixture
def artisan_uri(mongo_uri: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh MongoDB database shared with the Leads Artisan web app, as MongoDB stores are by
    default: leadcli keeps every lead it writes readable by that app (domain/artisan.py)."""
    monkeypatch.delenv("LEADCLI_WEB_APP_COMPATIBLE")
    return mongo_uri


def wait_for_leads(db: Path, proc: subprocess.Popen[bytes], at_least: int = 1, timeout: float = 60) -> int:
    """Poll a SQLite store another process is writing until it holds `at_least` leads (or the
    process ends, or `timeout` passes); the count seen last."""
    import sqlite3

    deadline, written = time.monotonic() + timeout, 0
    while written < at_least and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
        try:
            with sqlite3.connect(db) as peek:
                written = peek.execute("SELECT count(*) FROM leads").fetchone()[0]
        except sqlite3.OperationalError:
            continue
    return written
