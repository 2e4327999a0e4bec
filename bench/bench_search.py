"""How fast are search and a deep, filtered, sorted page on 100,000 leads, as whole processes?

Each figure is the median wall time of running the command as a new process (interpreter start
and imports included, as cron and shell users pay them), against `sqlite-utils query` running
the same SQL on the same file in the same run: the ratio leadcli / sqlite-utils is the number to
watch (target <= 1.2). Both tools' results are checked to be the same leads.

    python bench/bench_search.py                   # 100,000 leads, 7 runs each
    python bench/bench_search.py --leads 20000 --repeat 5 --ferretdb-leads 5000

The store is built once and cached in bench/.data/ (gitignored). With FerretDB available
(~/.cache/leadcli-ferretdb/bin/ferretdb) and the MongoDB adapter present, the same queries run
against a FerretDB started here, loaded with the first --ferretdb-leads leads of the same data.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(Path(__file__).resolve().parent)]

from leadgen import make_leads  # noqa: E402

from leadcli.store.sqlite import SqliteStore, _columns  # noqa: E402
from leadcli.store.sqlite_schema import _COLUMNS, _index_new_leads  # noqa: E402

DATA = ROOT / "bench" / ".data"
GENERATOR_VERSION = 1
SEARCH_TEXT = "garcia"
STAGE, OWNER, PAGE, PAGE_SIZE = "Proposal Sent", "ada", 50, 20

SEARCH_SQL = (
    "SELECT doc FROM leads WHERE pk IN (SELECT rowid FROM leads_fts WHERE leads_fts MATCH :q) "
    "ORDER BY created_at DESC, id DESC LIMIT 20"
)
PAGE_SQL = (
    "SELECT doc FROM leads WHERE current_stage = :stage AND owner = :owner COLLATE NOCASE "
    f"ORDER BY value DESC, id DESC LIMIT {PAGE_SIZE} OFFSET {(PAGE - 1) * PAGE_SIZE}"
)


def build_sqlite(n: int) -> Path:
    """The cached store of `n` generated leads, written in one transaction (built once)."""
    path = DATA / f"leads-{n}-v{GENERATOR_VERSION}.db"
    if not path.exists():
        DATA.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".building")
        for suffix in ("", "-wal", "-shm"):
            Path(f"{partial}{suffix}").unlink(missing_ok=True)
        started = time.perf_counter()
        store = SqliteStore(partial)
        with store._write() as db:
            db.executemany(
                f"INSERT INTO leads ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))})",
                (_columns(lead) for lead in make_leads(n)),
            )
            _index_new_leads(db, 0)
        store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        store.close()
        partial.rename(path)
        print(f"built {path.name}: {n} leads in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    SqliteStore(path).close()  # bring the cached file to the current schema before timing
    return path


def timed(argv: list[str], env: dict[str, str]) -> tuple[float, str]:
    started = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=ROOT)
    elapsed = (time.perf_counter() - started) * 1000
    if proc.returncode != 0:
        raise SystemExit(f"failed ({proc.returncode}): {' '.join(argv)}\n{proc.stderr}")
    return elapsed, proc.stdout


def leadcli_ids(stdout: str) -> list[str]:
    return [lead["id"] for lead in json.loads(stdout)]


def sqlite_utils_ids(stdout: str) -> list[str]:
    return [json.loads(row["doc"])["id"] for row in json.loads(stdout)]


def compare(label: str, ours: list[str], theirs: list[str] | None, repeat: int, env: dict[str, str]) -> list[float]:
    """Median ms of each command (alternating, after one warm-up run each); checks both found the
    same leads."""
    warm_ours = timed(ours, env)[1]
    commands = [ours] + ([theirs] if theirs else [])
    times: list[list[float]] = [[] for _ in commands]
    outputs = [warm_ours] + ([timed(theirs, env)[1]] if theirs else [])
    for _ in range(repeat):
        for i, argv in enumerate(commands):
            times[i].append(timed(argv, env)[0])
    found = leadcli_ids(outputs[0])
    if not found:
        raise SystemExit(f"{label}: leadcli found nothing; the benchmark would measure nothing")
    if theirs and found != sqlite_utils_ids(outputs[1]):
        raise SystemExit(f"{label}: leadcli and sqlite-utils returned different leads")
    return [statistics.median(t) for t in times]


def ferretdb_binary() -> str | None:
    path = Path.home() / ".cache" / "leadcli-ferretdb" / "bin" / "ferretdb"
    return str(path) if path.is_file() else shutil.which("ferretdb")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def ferretdb_figures(n: int, repeat: int, env: dict[str, str]) -> tuple[int, float, float] | None:
    binary = ferretdb_binary()
    try:
        from leadcli.store.mongo import MongoStore
    except ImportError:
        print("FerretDB: skipped (no MongoDB adapter in this tree yet)", file=sys.stderr)
        return None
    if binary is None:
        print("FerretDB: skipped (no ferretdb binary)", file=sys.stderr)
        return None
    work = Path(tempfile.mkdtemp(prefix="leadcli-bench-ferretdb-"))
    port = free_port()
    log = open(work / "ferretdb.log", "wb")
    proc = subprocess.Popen(
        [binary, "--handler=sqlite", f"--sqlite-url=file:{work}/", f"--state-dir={work}",
         f"--listen-addr=127.0.0.1:{port}", "--telemetry=disable", "--log-level=warn", "--debug-addr=-"],
        stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit("FerretDB did not start") from None
                time.sleep(0.1)
        uri = f"mongodb://127.0.0.1:{port}/bench"
        store = MongoStore(uri)
        started = time.perf_counter()
        for lead in make_leads(n):
            store.insert(lead, {"type": "lead_created", "by": "bench", "at": lead["created_at"], "changes": {}})
        store.close()
        print(f"FerretDB: loaded {n} leads in {time.perf_counter() - started:.1f} s", file=sys.stderr)
        page = max(1, min(PAGE, n // 2000))
        search = compare("ferretdb search", leadcli_search(uri), None, repeat, env)[0]
        listing = compare("ferretdb page", leadcli_page(uri, page), None, repeat, env)[0]
        return n, search, listing
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        log.close()
        shutil.rmtree(work, ignore_errors=True)


def leadcli_search(db: str) -> list[str]:
    return [sys.executable, "-m", "leadcli", "--db", db, "search", SEARCH_TEXT, "-o", "json"]


def leadcli_page(db: str, page: int = PAGE) -> list[str]:
    return [sys.executable, "-m", "leadcli", "--db", db, "list", "--stage", STAGE, "--owner", OWNER,
            "--sort", "value", "--page", str(page), "--page-size", str(PAGE_SIZE), "-o", "json"]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--leads", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--ferretdb-leads", type=int, default=10_000, help="0 skips FerretDB")
    args = parser.parse_args()

    path = build_sqlite(args.leads)
    sqlite_utils = shutil.which("sqlite-utils", path=str(Path(sys.executable).parent)) or "sqlite-utils"
    home = tempfile.mkdtemp(prefix="leadcli-bench-home-")
    env = {**os.environ, "LEADCLI_HOME": home, "PYTHONPATH": str(ROOT)}
    for name in ("LEADCLI_DB", "LEADCLI_CONFIG", "LEADCLI_PROFILE", "MONGODB_URI"):
        env.pop(name, None)

    rows = []
    ours, theirs = compare(
        "search",
        leadcli_search(str(path)),
        [sqlite_utils, "query", str(path), SEARCH_SQL, "-p", "q", f'"{SEARCH_TEXT}"'],
        args.repeat,
        env,
    )
    rows.append((f"search {SEARCH_TEXT!r} -o json", ours, theirs))
    ours, theirs = compare(
        "page",
        leadcli_page(str(path)),
        [sqlite_utils, "query", str(path), PAGE_SQL, "-p", "stage", STAGE, "-p", "owner", OWNER],
        args.repeat,
        env,
    )
    rows.append((f"list --stage --owner --sort value --page {PAGE} -o json", ours, theirs))
    ferret = ferretdb_figures(args.ferretdb_leads, max(3, args.repeat // 2), env) if args.ferretdb_leads else None
    shutil.rmtree(home, ignore_errors=True)

    print(f"{args.leads} leads in SQLite, median of {args.repeat} runs, whole processes (ms)")
    header = f"{'query':<52} {'leadcli':>8} {'sqlite-utils':>13} {'ratio':>6}"
    if ferret:
        header += f"  {'leadcli on FerretDB (' + str(ferret[0]) + ' leads)':>34}"
    print(header)
    for i, (label, ours, theirs) in enumerate(rows):
        line = f"{label:<52} {ours:8.1f} {theirs:13.1f} {ours / theirs:6.2f}"
        if ferret:
            line += f"  {ferret[1 + i]:34.1f}"
        print(line)
    if ferret:
        print(
            f"FerretDB: {ferret[0]} leads (loading goes one insert at a time), median of {max(3, args.repeat // 2)} runs; "
            "FerretDB v1's SQLite backend fetches every document to sort, so it scales with the store size."
        )


if __name__ == "__main__":
    main()
