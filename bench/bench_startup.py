"""Startup benchmark: how long `leadcli count` takes against a bare Python, measured in one run.

    python bench/bench_startup.py [--runs 15] [--db PATH]

Runs each command N times, interleaved (so a busy machine slows all of them alike), and prints
the median wall time and CPU time (user + system) of each and the ratios `leadcli count` /
`python -c pass`. On a loaded machine the CPU ratio is the steadier figure. The target is a
ratio of at most 8 (Typer alone costs about 4.5×). Exits 0 whatever the figures: it reports,
it does not judge; see tests/test_startup.py for what is enforced (which modules load).
"""

from __future__ import annotations

import argparse
import os
import resource
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


def timed(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall, CPU) seconds of one run."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(argv, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--db", help="store to count (default: a fresh SQLite file with a few leads)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as home:
        env = {**os.environ, "PYTHONPATH": str(ROOT), "LEADCLI_HOME": home, "LEADCLI_USER": "bench"}
        # As a user's install runs: from compiled .pyc files. A machine that sets
        # PYTHONDONTWRITEBYTECODE would otherwise compile every module on every run (~40% of a
        # `count` here); the .pyc files go to the temporary directory, not the tree.
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(Path(home) / "pycache")
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
        samples: dict[str, list[tuple[float, float]]] = {name: [] for name in commands}
        for _ in range(args.runs):
            for name, argv in commands.items():
                samples[name].append(timed(argv, env))

    medians = {name: statistics.median(w for w, _ in values) for name, values in samples.items()}
    cpu = {name: statistics.median(c for _, c in values) for name, values in samples.items()}
    base, base_cpu = medians["python -c pass"], cpu["python -c pass"]
    width = max(len(name) for name in medians)
    print(f"startup, median of {args.runs} runs (Python {sys.version.split()[0]}): wall, then CPU")
    for name, median in medians.items():
        print(f"  {name.ljust(width)}  {median * 1000:7.1f} ms {median / base:5.1f}×   {cpu[name] * 1000:6.1f} ms {cpu[name] / base_cpu:5.1f}×")
    ratio, ratio_cpu = medians["python -m leadcli count"] / base, cpu["python -m leadcli count"] / base_cpu
    verdict = "within" if ratio <= TARGET_RATIO else "OVER"
    print(f"ratio count/python = {ratio:.1f} wall, {ratio_cpu:.1f} CPU ({verdict} the target of {TARGET_RATIO:g})")
    stock = medians["count, Typer's own coercion"] / base
    stock_cpu = cpu["count, Typer's own coercion"] / base_cpu
    print(f"with Typer's own coercion (the fence's fallback): {stock:.1f} wall, {stock_cpu:.1f} CPU")
    return 0


if __name__ == "__main__":
    sys.exit(main())
