"""Import of a JSON array holding one large item: time against the item's size, so that a
quadratic reader shows (issue 14 item 7: 15 MB took 3 s, 60 MB 47 s, 16x for 4x the size).

    python bench/bench_import_json_item.py [--small-mb 15] [--large-mb 60] [--repeat 3]

Each file is `[{small lead}, {lead with one SIZE MB custom field}, {small lead}]`; the large
lead is over the size limit and rejected, which is the cheap part: the time is reading it.
Prints the median wall time of each size and the ratio; a linear reader gives ~4x for 4x.
Asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def write_file(path: Path, megabytes: int) -> None:
    big = {"name": "Big", "email": "big@example.com", "fields": {"blob": "x" * (megabytes * 1_000_000)}}
    items = [{"name": "Ada", "email": "ada@example.com"}, big, {"name": "Bob", "email": "bob@example.com"}]
    path.write_text(json.dumps(items))


def run_once(path: Path, home: Path) -> float:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "LEADCLI_HOME": str(home), "LEADCLI_USER": "bench"}
    env.pop("LEADCLI_DB", None)
    (home / "leads.db").unlink(missing_ok=True)
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "leadcli", "import", str(path)], capture_output=True, text=True, env=env)
    elapsed = time.perf_counter() - start
    if proc.returncode not in (0, 1) or "inserted" not in proc.stderr:
        raise SystemExit(f"import failed ({proc.returncode}): {proc.stderr[-500:]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--small-mb", type=int, default=15)
    parser.add_argument("--large-mb", type=int, default=60)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        home = work / "home"
        home.mkdir()
        figures = {}
        for size in (args.small_mb, args.large_mb):
            path = work / f"item-{size}.json"
            write_file(path, size)
            runs = [run_once(path, home) for _ in range(args.repeat)]
            figures[size] = statistics.median(runs)
            print(f"{size:>4} MB item: median {figures[size]:.2f} s of {args.repeat} ({', '.join(f'{r:.2f}' for r in runs)})")
        ratio = figures[args.large_mb] / figures[args.small_mb]
        print(f"ratio {args.large_mb}/{args.small_mb} MB: {ratio:.1f}x for {args.large_mb / args.small_mb:.0f}x the size (linear ~ size ratio)")


if __name__ == "__main__":
    main()
