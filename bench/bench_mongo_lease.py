"""What the per-lead write lease costs on FerretDB, and what it buys.

Run from the repo root with a MongoDB-wire server: `LEADCLI_BENCH_MONGODB_URI=mongodb://host:port
python bench/bench_mongo_lease.py`. For plain compare-and-set (the baseline, measured in the same
run) and for the lease, prints the median time of one edit by a single writer, then the time
per edit and the lost updates when 4 threads each increment one lead 10 times (a lost update
is an increment that reported success but is not in the final value).
"""

from __future__ import annotations

import statistics
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

# This checkout's leadcli (the venv may have another on its path), and the tests' lead maker.
ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from leadmaker import event, make_lead  # noqa: E402

from leadcli.domain.errors import VersionConflict  # noqa: E402
from leadcli.store import open_store  # noqa: E402

EDITS, WRITERS, INCREMENTS = 200, 4, 10


def opened(uri: str, lease: bool) -> Any:
    store = open_store(uri)
    store.write_lease = lease
    return store


def single_writer_ms(uri: str, lease: bool) -> float:
    store = opened(uri, lease)
    lead = store.insert(make_lead(value=0.0), event())
    times = []
    for i in range(EDITS):
        start = time.perf_counter()
        lead = store.replace({**lead, "value": float(i)}, lead["version"], event("lead_updated"))
        times.append(time.perf_counter() - start)
    store.close()
    return statistics.median(times) * 1000


def contended(uri: str, lease: bool) -> tuple[float, int]:
    """(ms per successful increment, lost updates) with WRITERS threads on one lead."""
    first = opened(uri, lease)
    lead = first.insert(make_lead(value=0.0), event())
    failures: list[Exception] = []

    def bump() -> None:
        mine = opened(uri, lease)
        try:
            for _ in range(INCREMENTS):
                while True:
                    current = mine.get(lead["id"])
                    try:
                        mine.replace({**current, "value": current["value"] + 1}, current["version"], event("lead_updated"))
                        break
                    except VersionConflict:
                        continue
        except Exception as exc:
            failures.append(exc)
        finally:
            mine.close()

    threads = [threading.Thread(target=bump) for _ in range(WRITERS)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - start
    final = first.get(lead["id"])["value"]
    first.close()
    if failures:
        raise failures[0]
    return elapsed * 1000 / (WRITERS * INCREMENTS), WRITERS * INCREMENTS - int(final)


def main() -> None:
    from mongoseed import bench_server

    server = bench_server()
    import pymongo

    client: pymongo.MongoClient = pymongo.MongoClient(server)
    databases: list[str] = []

    def fresh() -> str:
        # Each measurement in its own database: a write's cost grows with the events before it.
        databases.append(f"leadcli_bench_{uuid.uuid4().hex[:8]}")
        return f"{server.rstrip('/')}/{databases[-1]}"

    try:
        plain, leased = single_writer_ms(fresh(), False), single_writer_ms(fresh(), True)
        print(f"one writer, median of {EDITS} edits: compare-and-set {plain:.1f} ms, with lease {leased:.1f} ms, ratio {leased / plain:.2f}")
        (plain_ms, plain_lost), (leased_ms, leased_lost) = contended(fresh(), False), contended(fresh(), True)
        print(
            f"{WRITERS} writers x {INCREMENTS} increments on one lead: compare-and-set {plain_ms:.1f} ms/edit, "
            f"{plain_lost} lost; with lease {leased_ms:.1f} ms/edit, {leased_lost} lost; ratio {leased_ms / plain_ms:.2f}"
        )
    finally:
        for database in databases:
            client.drop_database(database)
        client.close()


if __name__ == "__main__":
    main()
