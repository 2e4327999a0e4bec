"""Bulk import and export figures: leadcli import of a 50,000-row CSV into SQLite against
sqlite-utils (insert + unique index on email) on the same file in the same run; rows per second
into FerretDB when one can be started; peak memory of importing the file and a file twice its
size or more; peak memory of `export` of 100,000 leads.

    python bench/bench_import.py [--rows 50000] [--export-rows 100000] [--repeat 3] [--skip-mongo]

Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STAGES = ("New Lead", "Initial Contact", "Meeting Scheduled", "Proposal Sent", "Negotiation", "Closed Won", "Closed Lost")


def write_csv(path: Path, rows: int, seed: int = 7) -> None:
    """A CRM-shaped export: First/Last Name, Email Address, Lead Status, dates, owner, tags."""
    rnd = random.Random(seed)
    firsts = ("Ada", "Grace", "Alan", "Edsger", "Barbara", "Ken", "Margaret", "Linus", "Radia", "Donald")
    lasts = ("Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Thompson", "Hamilton", "Torvalds", "Perlman")
    with open(path, "w", newline="", encoding="utf-8") as f:
        out = csv.writer(f)
        out.writerow(["First Name", "Last Name", "Email Address", "Company Name", "Lead Status", "Phone Number",
                      "Lead Owner", "Lead Source", "Tags", "Last Contacted", "Deal Value"])  # fmt: skip
        for i in range(rows):
            out.writerow([
                rnd.choice(firsts), rnd.choice(lasts), f"lead{i}@example{i % 97}.com", f"Company {i % 1000}, Inc.",
                rnd.choice(STAGES), f"+1 555 {i:07d}", rnd.choice(("ada", "grace", "")), rnd.choice(("web", "event")),
                "vip, emea" if i % 5 == 0 else "", f"2026-{1 + i % 12:02d}-{1 + i % 28:02d}", str(i % 50 * 100),
            ])  # fmt: skip


def leadcli(*args: str, env: dict[str, str]) -> tuple[float, int, str]:
    took, _, code, summary = measured([sys.executable, "-m", "leadcli", *args], env=env)
    return took, code, summary


def measured(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, float, int, str]:
    """Wall seconds, CPU seconds (user + system) of the child, its exit code and last stderr line.
    CPU time is the steadier figure on a busy machine: other processes stretch wall time."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, proc.returncode, proc.stderr.strip().splitlines()[-1] if proc.stderr else ""


def child_peak_mb(cmd: list[str], env: dict[str, str]) -> float:
    """ru_maxrss of one child process (run in a fresh Python that reports its child's peak)."""
    code = (
        "import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL); "
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
    )
    out = subprocess.run([sys.executable, "-c", code, *cmd], env=env, capture_output=True, text=True, check=True)
    return int(out.stdout.strip()) / 1024  # KiB on Linux


def ferretdb() -> tuple[subprocess.Popen[bytes], str] | None:
    """A throw-away FerretDB for the MongoDB half of the bench; None (that half skipped) when
    there is none to start."""
    from mongoseed import start_ferretdb

    try:
        proc, server = start_ferretdb(Path(tempfile.mkdtemp(prefix="bench-ferretdb-")))
    except RuntimeError:
        return None
    return proc, f"{server}/bench_import"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--export-rows", type=int, default=100_000)
    parser.add_argument("--skip-mongo", action="store_true")
    parser.add_argument("--repeat", type=int, default=3, help="leadcli/sqlite-utils pairs to run (median ratio)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-import-"))
    env = {**os.environ, "PYTHONPATH": str(ROOT), "LEADCLI_HOME": str(work / "home"), "LEADCLI_USER": "bench"}
    try:
        data = work / "leads.csv"
        write_csv(data, args.rows)
        print(f"file: {args.rows} rows, {data.stat().st_size / 1e6:.1f} MB")

        sqlite_utils = shutil.which("sqlite-utils") or str(Path(sys.executable).with_name("sqlite-utils"))
        ratios: list[float] = []
        cpu_ratios: list[float] = []
        for run in range(1, args.repeat + 1):  # alternating, each into a new file
            for stale in work.glob("*.db*"):
                stale.unlink()
            ours, ours_cpu, code, summary = measured(
                [sys.executable, "-m", "leadcli", "--db", str(work / "leadcli.db"), "import", str(data)], env
            )
            baseline_db = str(work / "baseline.db")
            base, base_cpu, _, _ = measured([sqlite_utils, "insert", baseline_db, "leads", str(data), "--csv"])
            index, index_cpu, _, _ = measured([sqlite_utils, "create-index", "--unique", baseline_db, "leads", "Email Address"])
            base, base_cpu = base + index, base_cpu + index_cpu
            ratios.append(ours / base)
            cpu_ratios.append(ours_cpu / base_cpu)
            print(
                f"run {run}: leadcli import (SQLite) {ours:5.2f} s wall, {ours_cpu:5.2f} s CPU, {args.rows / ours:6.0f} rows/s"
                f"  |  sqlite-utils insert + index {base:5.2f} s wall, {base_cpu:5.2f} s CPU"
                f"  |  ratio {ours / base:4.2f} wall, {ours_cpu / base_cpu:4.2f} CPU  exit {code} [{summary}]"
            )
        print(
            f"ratio leadcli / sqlite-utils, median of {args.repeat}: {statistics.median(ratios):4.2f} wall, "
            f"{statistics.median(cpu_ratios):4.2f} CPU  (target <= 1.5)"
        )

        again, code, summary = leadcli("--db", str(work / "leadcli.db"), "import", str(data), "--upsert", env=env)
        print(f"re-import --upsert (no-op):   {again:6.2f} s  exit {code}  [{summary}]")
        changed = work / "changed.csv"
        write_csv(changed, args.rows, seed=8)  # the same emails, other stages, owners, names
        took, code, summary = leadcli("--db", str(work / "leadcli.db"), "import", str(changed), "--upsert", env=env)
        print(f"re-import --upsert (changes): {took:6.2f} s  exit {code}  [{summary}]")

        if not args.skip_mongo and not (ROOT / "leadcli" / "store" / "mongo.py").exists():
            print("FerretDB: skipped, this checkout has no MongoDB adapter yet")
        elif not args.skip_mongo:
            server = ferretdb()
            if server is None:
                print("FerretDB: not available (build it with bash .ci/ferretdb.sh)")
            else:
                proc, uri = server
                try:
                    took, code, summary = leadcli("--db", uri, "import", str(data), env=env)
                    print(f"leadcli import (FerretDB):    {took:6.2f} s  {args.rows / took:8.0f} rows/s  exit {code}  [{summary}]")
                finally:
                    proc.terminate()
                    proc.wait()

        # Import memory: the same peak for a small and a large file (batches, not the file, in memory).
        small_peak = child_peak_mb([sys.executable, "-m", "leadcli", "--db", str(work / "mem.db"), "import", str(data)], env)
        big = work / "big.csv"
        write_csv(big, args.export_rows, seed=11)
        export_db = str(work / "export.db")
        start = time.perf_counter()
        big_peak = child_peak_mb([sys.executable, "-m", "leadcli", "--db", export_db, "import", str(big)], env)
        took = time.perf_counter() - start
        print(f"import peak RSS: {args.rows} rows {small_peak:6.1f} MB, {args.export_rows} rows {big_peak:6.1f} MB"
              f" ({args.export_rows} imported in {took:.1f} s)")  # fmt: skip
        cmd = [sys.executable, "-m", "leadcli", "--db", export_db, "export", "-o", "jsonl"]
        start = time.perf_counter()
        peak = child_peak_mb(cmd, env)
        took = time.perf_counter() - start
        print(f"export -o jsonl of {args.export_rows} leads: {took:6.2f} s, peak RSS {peak:6.1f} MB  (target <= 120 MB)")
        peak_csv = child_peak_mb([*cmd[:-1], "csv"], env)
        print(f"export -o csv  of {args.export_rows} leads: peak RSS {peak_csv:6.1f} MB")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
