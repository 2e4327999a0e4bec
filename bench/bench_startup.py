"""Startup benchmark: how long `leadcli count` takes against a bare Python, measured in one run.

    python bench/bench_startup.py [--runs 15] [--db PATH]

Runs each command N times, interleaved (so a busy machine slows all of them alike), and prints
the median wall time of each and the ratio `leadcli count` / `python -c pass`. The target is a
ratio of at most 8 (Typer alone costs about 4.5×). Exits 0 whatever the figures: it reports,
it does not judge; see tests/test_startup.py for what is enforced (which modules load).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET_RATIO = 8.0
STOCK_COUNT = "import sys, leadcli.cli.coerce as c; c._plain_class = lambda: None; from leadcli.cli import main; main()"


def timed(argv: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--db", help="store to count (default: a fresh SQLite file with a few leads)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as home:
        env = {**os.environ, "PYTHONPATH": str(ROOT), "LEADCLI_HOME": home, "LEADCLI_USER": "bench"}
        db = args.db or str(Path(home) / "leads.db")
        py = sys.executable
        if not args.db:
            for i in range(5):
                subprocess.run(
                    [py, "-m", "leadcli", "--db", db, "add", "--name", f"Lead {i}", "--email", f"lead{i}@example.com"],
                    env=env, cwd=ROOT, check=True, capture_output=True,
                )  # fmt: skip
        commands = {
            "python -c pass": [py, "-c", "pass"],
            "python -c 'import typer'": [py, "-c", "import typer"],
            "python -m leadcli count": [py, "-m", "leadcli", "--db", db, "count"],
            # What a run costs when cli/coerce.py's fence falls back to Typer's own coercion.
            "count, Typer's own coercion": [py, "-c", STOCK_COUNT, "--db", db, "count"],
        }
        script = shutil.which("leadcli", path=str(Path(py).parent))
        if script:
            commands["leadcli count (installed script)"] = [script, "--db", db, "count"]
        for argv in commands.values():  # warm the OS file cache and .pyc files
            timed(argv, env)
        samples: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(args.runs):
            for name, argv in commands.items():
                samples[name].append(timed(argv, env))

    medians = {name: statistics.median(values) for name, values in samples.items()}
    base = medians["python -c pass"]
    width = max(len(name) for name in medians)
    print(f"startup, median of {args.runs} runs (Python {sys.version.split()[0]}):")
    for name, median in medians.items():
        print(f"  {name.ljust(width)}  {median * 1000:7.1f} ms  {median / base:5.1f}× python")
    ratio = medians["python -m leadcli count"] / base
    verdict = "within" if ratio <= TARGET_RATIO else "OVER"
    print(f"ratio count/python = {ratio:.1f} ({verdict} the target of {TARGET_RATIO:g})")
    stock = medians["count, Typer's own coercion"] / base
    print(f"ratio count/python with Typer's own coercion (the fallback) = {stock:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
