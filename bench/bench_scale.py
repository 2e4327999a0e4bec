"""What each command costs as the store grows: 10k, 100k and 1M realistic leads (bench/leadgen.py)
on the embedded store, every command run as a new process, against `sqlite-utils` doing the
same work on the same file in the same run. Prints, per size, each command's median CPU time
(user + system of the child: steadier than wall time on a shared machine) and the ratio
leadcli / sqlite-utils. Asserts nothing.

    python bench/bench_scale.py                          # 10k, 100k, 1M; 3 runs each
    python bench/bench_scale.py --sizes 10000,100000 --repeat 5
    python bench/bench_scale.py --tree /work/main        # the same, for another checkout (before/after)
    python bench/bench_scale.py --import-sizes 10000,100000,300000   # import: per-row cost curve
    python bench/bench_scale.py --sizes '' --import-sizes 10000,100000 --import-into 0,300000
                                            # the same, also into a copy of the 300k store

Stores are built once per size, generator and schema version, and cached under
~/.cache/leadcli-bench (or $LEADCLI_BENCH_CACHE): built through the store's own `write_batch`
(the import's write path, inside `bulk_load` as an import does), events included. The baseline SQL is what a sqlite-utils user would
write for the same answer; searches use the store's own trigram table when the text has 3+
characters and a LIKE scan otherwise (there is no index for shorter text without leadcli's).
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import inspect
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
GENERATOR_VERSION = 1
CHUNK = 10_000
LEADCLI_FIELDS = "id,name,email,company,current_stage,owner,value,created_at"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--import-sizes", default="", help="CSV import curve (e.g. 10000,100000,300000); empty skips")
    parser.add_argument("--import-into", default="0", help="import the curve's rows into a new store (0) and/or copies of these cached stores (e.g. 0,300000)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--tree", default=str(HERE.parent), help="the leadcli checkout to measure")
    parser.add_argument("--only", default="", help="comma-separated command labels to run")
    parser.add_argument("--cache", default=os.environ.get("LEADCLI_BENCH_CACHE", str(Path.home() / ".cache" / "leadcli-bench")))
    parser.add_argument("--build", type=int, default=0, help=argparse.SUPPRESS)  # build(n) runs as a child: see build
    return parser.parse_args()


ARGS = parse_args()
TREE = Path(ARGS.tree).resolve()
sys.path[:0] = [str(TREE), str(HERE)]

from leadgen import make_leads  # noqa: E402

from leadcli.store.sqlite import SqliteStore  # noqa: E402
from leadcli.store.sqlite_schema import MIGRATIONS  # noqa: E402

SQLITE_UTILS = shutil.which("sqlite-utils", path=str(Path(sys.executable).parent)) or "sqlite-utils"


def leads_for(n: int) -> Iterator[list[dict[str, Any]]]:
    """The n leads in chunks (deterministic), ids and emails unique over all chunks."""
    for start in range(0, n, CHUNK):
        batch = make_leads(min(CHUNK, n - start), seed=start + 1)
        for j, lead in enumerate(batch):
            i = start + j
            lead["id"] = lead["id"][:8] + f"{i:016x}"
            lead["email"] = lead["email"].rsplit(".", 2)[0] + f".{i}@example.com"
        yield batch


def build(n: int) -> Path:
    """The cached n-lead store, built first if missing: in a child process, because a child
    forked from this one would otherwise report the build's peak memory as its own."""
    path = Path(ARGS.cache) / f"scale-g{GENERATOR_VERSION}-s{len(MIGRATIONS)}-{n}.db"
    if not path.exists():
        subprocess.run([sys.executable, __file__, "--tree", str(TREE), "--cache", ARGS.cache, "--build", str(n)], check=True)
    return path


def build_here(n: int) -> None:
    cache = Path(ARGS.cache)
    cache.mkdir(parents=True, exist_ok=True)
    path = cache / f"scale-g{GENERATOR_VERSION}-s{len(MIGRATIONS)}-{n}.db"
    partial = path.with_suffix(".partial")
    for stale in cache.glob(partial.name + "*"):
        stale.unlink()
    started = time.perf_counter()
    store = SqliteStore(partial)
    if not hasattr(store, "bulk_load"):  # an older --tree has none
        loading: Any = contextlib.nullcontext()
    elif "expected_inserts" in inspect.signature(store.bulk_load).parameters:
        loading = store.bulk_load(lambda: n)
    else:  # an older --tree takes the number itself
        loading = store.bulk_load(n)
    with loading:
        for batch in leads_for(n):
            events = [{"type": "lead_created", "by": "bench", "at": lead["created_at"], "changes": {}} for lead in batch]
            results = store.write_batch(list(zip(batch, events, strict=True)), [])
            assert not any(results), results[:3]
    store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    store.db.execute("ANALYZE")  # what `doctor --fix` or a long-lived store would have
    store.close()
    partial.rename(path)
    print(f"# built {path.name}: {n} leads in {time.perf_counter() - started:.0f} s", file=sys.stderr)


PEAK_MB: list[float] = []  # the peak memory (RSS) of each child run by cpu_of, in order


def cpu_of(cmd: list[str], env: dict[str, str]) -> tuple[float, str]:
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=err, cwd=TREE)  # `-m leadcli` imports from the cwd
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(), err.read().decode(errors="replace")
    if proc.returncode != 0:
        raise SystemExit(f"failed ({proc.returncode}): {' '.join(cmd)}\n{stderr[-2000:]}")
    PEAK_MB.append(usage.ru_maxrss / 1024)
    return usage.ru_utime + usage.ru_stime, stdout


def median_cpu(cmd: list[str], env: dict[str, str]) -> float:
    return statistics.median(cpu_of(cmd, env)[0] for _ in range(ARGS.repeat))


def has_table(db: Path, name: str) -> bool:
    import sqlite3

    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT 1 FROM sqlite_master WHERE name = ?", (name,)).fetchone() is not None


def some_id(db: Path, n: int) -> str:
    import sqlite3

    with sqlite3.connect(db) as conn:
        return str(conn.execute("SELECT id FROM leads WHERE pk = ?", (n // 2,)).fetchone()[0])


LIKE4 = "(name LIKE :q OR email LIKE :q OR company LIKE :q OR notes LIKE :q)"
# avg_days as `stats` defines it, in one SQL statement: each history entry's stay runs to the
# next entry; the last one to now unless its stage is closed; per lead and stage summed, then
# averaged over the leads. (The generated leads' history always ends at their current stage.)
STATS_SQL = """
WITH stays AS (
  SELECT l.pk, json_extract(h.value, '$.to_stage') AS stage, json_extract(h.value, '$.changed_at') AS since,
         lead(json_extract(h.value, '$.changed_at')) OVER (PARTITION BY l.pk ORDER BY h.key) AS until
  FROM leads AS l, json_each(l.doc, '$.stage_history') AS h),
per_lead AS (
  SELECT pk, stage, sum(max(0, julianday(coalesce(until, :now)) - julianday(since))) AS days FROM stays
  WHERE until IS NOT NULL OR stage NOT IN ('Closed Won', 'Closed Lost') GROUP BY pk, stage)
SELECT s.current_stage, s.n, s.value, s.engaged, a.avg_days FROM
  (SELECT current_stage, count(*) AS n, total(value) AS value, sum(engaged) AS engaged FROM leads GROUP BY current_stage) AS s
  LEFT JOIN (SELECT stage, avg(days) AS avg_days FROM per_lead GROUP BY stage) AS a ON a.stage = s.current_stage
"""


def commands(db: Path, n: int) -> list[tuple[str, list[str], list[str]]]:
    """(label, leadcli argv, sqlite-utils argv) for the store at `db`."""
    cli = [sys.executable, "-m", "leadcli", "--db", str(db)]
    q = [SQLITE_UTILS, "query", str(db)]
    fts = "leads_search" if has_table(db, "leads_search") else "leads_fts"
    now = datetime.now(UTC).isoformat()
    lead_id = some_id(db, n)
    page = "ORDER BY created_at DESC, id DESC LIMIT 50"
    return [
        ("list page", [*cli, "list", "-o", "json"], [*q, f"SELECT doc FROM leads {page}"]),
        (
            "filtered sorted page",
            [*cli, "list", "--stage", "proposal-sent", "--owner", "ada", "--sort", "value", "--page", "3", "-o", "json"],
            [*q, "SELECT doc FROM leads WHERE current_stage = 'Proposal Sent' AND owner = 'ada' COLLATE NOCASE"
                 " ORDER BY value DESC, id DESC LIMIT 50 OFFSET 100"],
        ),  # fmt: skip
        (
            "search 3+ chars",
            [*cli, "search", "hopper", "-o", "json"],
            [*q, f"SELECT doc FROM leads WHERE pk IN (SELECT rowid FROM {fts} WHERE {fts} MATCH '\"hopper\"') {page}"],
        ),
        ("search 1-2 chars", [*cli, "search", "qz", "-o", "json"], [*q, f"SELECT doc FROM leads WHERE {LIKE4} {page}", "-p", "q", "%qz%"]),
        ("search non-ASCII", [*cli, "search", "zö", "-o", "json"], [*q, f"SELECT doc FROM leads WHERE {LIKE4} {page}", "-p", "q", "%zö%"]),
        ("show", [*cli, "show", lead_id, "-o", "json"], [*q, "SELECT doc FROM leads WHERE id = :id", "-p", "id", lead_id]),
        ("count", [*cli, "count"], [*q, "SELECT count(*) FROM leads"]),
        ("stages", [*cli, "stages", "-o", "json"], [*q, "SELECT current_stage, count(*), total(value) FROM leads GROUP BY current_stage"]),
        ("stats", [*cli, "stats", "-o", "json"], [*q, STATS_SQL, "-p", "now", now]),
        (
            "followups",
            [*cli, "followups", "--due", "2023-03-01", "-o", "json"],
            [*q, "SELECT doc FROM leads WHERE follow_up_at <= '2023-03-01T23:59:59.999Z' ORDER BY follow_up_at, id"],
        ),
        (
            "stale",
            [*cli, "stale", "--days", "30", "--owner", "ada", "--created-before", "2023-03-01", "-o", "json"],
            [*q, "SELECT doc FROM leads WHERE owner = 'ada' COLLATE NOCASE AND created_at < '2023-03-01T00:00:00.000Z'"
                 " AND (current_stage IS NULL OR current_stage NOT IN ('Closed Won', 'Closed Lost'))"
                 " AND coalesce(last_contacted, created_at) < :since ORDER BY created_at, id", "-p", "since", now],
        ),  # fmt: skip
        ("export csv", [*cli, "export", "-o", "csv"], [SQLITE_UTILS, "rows", str(db), "leads", "--csv"]),
        ("doctor", [*cli, "doctor", "-o", "json"], [*q, "SELECT (SELECT count(*) FROM leads), (SELECT max(seq) FROM events), * FROM pragma_quick_check(5)"]),
    ]


def write_csv(path: Path, n: int, offset: int = 0) -> None:
    """The n leads as a CRM's CSV; `offset` > 0 renumbers their emails (from `offset`), so they
    are new to a store built from the first leads."""
    with open(path, "w", newline="", encoding="utf-8") as f:
        out = csv.writer(f)
        out.writerow(["Name", "Email", "Company", "Stage", "Owner", "Source", "Tags", "Value", "Notes", "Created"])
        for i, lead in enumerate(lead for chunk in leads_for(n) for lead in chunk):
            email = lead["email"] if not offset else lead["email"].rsplit(".", 2)[0] + f".{offset + i}@example.com"
            out.writerow([
                lead["name"], email, lead["company"], lead["current_stage"], lead["owner"], lead["source"],
                ", ".join(lead["tags"]), "" if lead["value"] is None else int(lead["value"]), lead["notes"] or "",
                lead["created_at"].strftime("%Y-%m-%d"),
            ])  # fmt: skip


def csv_of(n: int, offset: int = 0) -> Path:
    data = Path(ARGS.cache) / (f"scale-g{GENERATOR_VERSION}-{n}.csv" if not offset else f"scale-g{GENERATOR_VERSION}-{n}-from{offset}.csv")
    if not data.exists():
        partial = data.with_suffix(".partial")
        write_csv(partial, n, offset)
        partial.rename(data)
    return data


def baseline_of(into: int) -> Path:
    """sqlite-utils' table of the first `into` leads with its unique email index (cached)."""
    path = Path(ARGS.cache) / f"sqlite-utils-g{GENERATOR_VERSION}-{into}.db"
    if not path.exists():
        partial = path.with_suffix(".partial")
        partial.unlink(missing_ok=True)
        subprocess.run([SQLITE_UTILS, "insert", str(partial), "leads", str(csv_of(into)), "--csv"], check=True)
        subprocess.run([SQLITE_UTILS, "create-index", "--unique", str(partial), "leads", "Email"], check=True)
        partial.rename(path)
    return path


def import_curve(sizes: list[int], env: dict[str, str], into: int = 0) -> None:
    """Import n CSV rows into a new store (`into` 0) or into a copy of the cached `into`-lead
    store; the baseline: `sqlite-utils insert --csv` then a unique email index (new), or the
    same insert into a copy of its own `into`-row table that has the index already."""
    where = "a new store" if not into else f"a copy of the {into // 1000}k store"
    print(f"\nimport (CSV -> {where}) vs sqlite-utils insert --csv + unique email index, CPU s")
    print(f"{'rows':>9} {'leadcli':>9} {'us/row':>8} {'peak MB':>8} {'sqlite-utils':>13} {'us/row':>8} {'ratio':>6}")
    work = Path(tempfile.mkdtemp(prefix="bench-scale-import-", dir=ARGS.cache))  # a copy of a 1 GB store: not /tmp
    try:
        for n in sizes:
            data = csv_of(n, offset=10_000_000 if into else 0)
            ours, theirs, peaks = [], [], []
            for _ in range(ARGS.repeat):
                for stale in work.glob("*.db*"):
                    stale.unlink()
                if into:
                    shutil.copyfile(build(into), work / "l.db")
                    shutil.copyfile(baseline_of(into), work / "b.db")
                ours.append(cpu_of([sys.executable, "-m", "leadcli", "--db", str(work / "l.db"), "import", str(data)], env)[0])
                peaks.append(PEAK_MB[-1])
                base = cpu_of([SQLITE_UTILS, "insert", str(work / "b.db"), "leads", str(data), "--csv"], env)[0]
                if not into:
                    base += cpu_of([SQLITE_UTILS, "create-index", "--unique", str(work / "b.db"), "leads", "Email"], env)[0]
                theirs.append(base)
            o, t = statistics.median(ours), statistics.median(theirs)
            print(f"{n:>9} {o:>9.2f} {o / n * 1e6:>8.1f} {max(peaks):>8.0f} {t:>13.2f} {t / n * 1e6:>8.1f} {o / t:>6.2f}", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    if ARGS.build:
        build_here(ARGS.build)
        return
    home = tempfile.mkdtemp(prefix="bench-scale-home-")
    Path(ARGS.cache).mkdir(parents=True, exist_ok=True)  # a fresh machine has none
    env = {**os.environ, "LEADCLI_HOME": home, "PYTHONPATH": str(TREE), "LEADCLI_USER": "bench"}
    for name in ("LEADCLI_DB", "LEADCLI_CONFIG", "LEADCLI_PROFILE", "MONGODB_URI"):
        env.pop(name, None)
    sizes = [int(s) for s in ARGS.sizes.split(",") if s]
    only = {s.strip() for s in ARGS.only.split(",") if s.strip()}
    print(f"tree {TREE} (schema {len(MIGRATIONS)}), median CPU s of {ARGS.repeat} runs; ratio = leadcli / sqlite-utils")
    table: dict[str, dict[int, tuple[float, float]]] = {}
    for n in sizes:
        db = build(n)
        for label, ours, theirs in commands(db, n):
            if only and label not in only:
                continue
            cpu_of(ours, env)  # warm the page cache for both
            cpu_of(theirs, env)
            o, t = median_cpu(ours, env), median_cpu(theirs, env)
            table.setdefault(label, {})[n] = (o, t)
            print(f"# {n:>8} {label:<22} leadcli {o:7.2f}  sqlite-utils {t:7.2f}  ratio {o / t:5.2f}", file=sys.stderr, flush=True)
    header = "| command | " + " | ".join(f"{n // 1000}k: CPU s (ratio)" for n in sizes) + " |"
    print("\n" + header + "\n|" + "---|" * (len(sizes) + 1))
    for label, row in table.items():
        cells = [f"{row[n][0]:.2f} ({row[n][0] / row[n][1]:.2f}x)" if n in row else "-" for n in sizes]
        print(f"| {label} | " + " | ".join(cells) + " |")
    if ARGS.import_sizes:
        for into in [int(s) for s in ARGS.import_into.split(",") if s]:
            import_curve([int(s) for s in ARGS.import_sizes.split(",")], env, into)
    shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
