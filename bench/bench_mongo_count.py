"""`leadcli count` as cron runs it (a fresh process each time), on SQLite and on MongoDB.

Run from the repo root with a MongoDB-wire server: `LEADCLI_BENCH_MONGODB_URI=mongodb://host:port
python bench/bench_mongo_count.py`. Prints the median wall time of each and their ratio (the
SQLite run is the baseline, measured in the same run).
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RUNS = 10


def median_ms(db: str) -> float:
    times = []
    for _ in range(RUNS):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "leadcli", "--db", db, "count"], cwd=ROOT, capture_output=True, check=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def main() -> None:
    from mongoseed import bench_server

    server = bench_server()
    sqlite = median_ms(str(Path(tempfile.mkdtemp()) / "bench.db"))
    database = f"leadcli_bench_{uuid.uuid4().hex[:8]}"
    mongo = median_ms(f"{server.rstrip('/')}/{database}")
    import pymongo

    pymongo.MongoClient(server).drop_database(database)
    print(f"leadcli count, median of {RUNS} processes: sqlite {sqlite:.0f} ms, mongodb {mongo:.0f} ms, ratio {mongo / sqlite:.2f}")


if __name__ == "__main__":
    main()
