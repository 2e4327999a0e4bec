"""How soon a change made by another app (the Leads Artisan web app) reaches `watch`, and what
the tail for such changes costs the server per poll, on a MongoDB-wire server (FerretDB).

    LEADCLI_BENCH_MONGODB_URI=mongodb://127.0.0.1:PORT python bench/bench_foreign_tail.py [--leads 100000] [--writes 30]

1. Latency: a real `leadcli watch -o jsonl` process; a writer behaving as the backend does
   (`find_one_and_update` with `$set` + naive `updated_at`, no `version`) changes a lead every
   ~1.3 s; the delay from the write returning to the event's line is measured (p50/p95).
2. Cost per poll with `--leads` leads in the collection: one read of the tail `watch` uses on
   this server (FerretDB: its OpLog, capped), against the baseline of one raw pymongo
   `find_one({"_id": …})` in the same run, and against one read of the poll by `updated_at`
   (the tail a standalone MongoDB gets; on FerretDB it scans every lead).
Prints figures and ratios; exits 0 whatever they are. Uses a throw-away database, dropped at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import pymongo  # noqa: E402
from bson import ObjectId  # noqa: E402

from leadcli.store import open_store  # noqa: E402
from leadcli.store.mongo_changes import OPLOG, FerretOplog, UpdatedAtPoll, foreign_source  # noqa: E402


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def timed_ms(f: Any, n: int) -> list[float]:
    out = []
    for _ in range(n):
        start = time.perf_counter()
        f()
        out.append((time.perf_counter() - start) * 1000)
    return out


def naive_now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def fill(leads: Any, n: int) -> list[ObjectId]:
    now = naive_now()
    ids: list[ObjectId] = []
    batch: list[dict[str, Any]] = []
    for i in range(n):
        oid = ObjectId()
        ids.append(oid)
        batch.append({
            "_id": oid, "name": f"Lead {i}", "email": f"lead{i}@example.com", "company": "Acme", "status": "Not Engaged",
            "engaged": False, "current_stage": "New Lead", "created_at": now, "updated_at": now,
            "stage_history": [{"from_stage": None, "to_stage": "New Lead", "changed_at": now.isoformat()}],
        })  # fmt: skip
        if len(batch) == 5000:
            leads.insert_many(batch)
            batch = []
    if batch:
        leads.insert_many(batch)
    return ids


def latency(uri: str, leads: Any, ids: list[ObjectId], writes: int) -> list[float]:
    home = tempfile.mkdtemp(prefix="leadcli-bench-")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "LEADCLI_HOME": home}
    watcher = subprocess.Popen(
        [sys.executable, "-m", "leadcli", "--verbose", "--db", uri, "watch", "-o", "jsonl"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    arrived: dict[str, float] = {}
    cond = threading.Condition()

    def read() -> None:
        assert watcher.stdout is not None
        for line in watcher.stdout:
            event = json.loads(line)
            with cond:
                arrived[event["lead"]["company"]] = time.monotonic()
                cond.notify_all()

    threading.Thread(target=read, daemon=True).start()
    assert watcher.stderr is not None
    print("  " + watcher.stderr.readline().strip())  # "watching …"
    print("  " + watcher.stderr.readline().strip())  # "changes come by …"
    time.sleep(2.0)  # the tail has taken its first read
    delays = []
    try:
        for i in range(writes):
            marker = f"bench-{i}"
            leads.find_one_and_update({"_id": ids[i * 7 % len(ids)]}, {"$set": {"company": marker, "updated_at": naive_now()}})
            wrote = time.monotonic()
            with cond:
                cond.wait_for(lambda m=marker: m in arrived, timeout=30)  # type: ignore[misc]
            if marker in arrived:
                delays.append(arrived[marker] - wrote)
            time.sleep(1.3 - (i % 5) * 0.17)  # not in step with the poll interval
    finally:
        watcher.terminate()
        watcher.wait(timeout=10)
    return delays


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--leads", type=int, default=100_000)
    parser.add_argument("--writes", type=int, default=30)
    parser.add_argument("--updated-at-reads", type=int, default=3)
    parser.add_argument(
        "--recreate-oplog", action="store_true",
        help="FerretDB: drop local.oplog.rs before the fill, so it holds recent writes, not the bulk fill "
        "(the steady state of a store whose leads came over months; a fresh bulk import swells it until "
        "FerretDB trims it, 10%% a minute by default)",
    )  # fmt: skip
    args = parser.parse_args()
    from mongoseed import bench_server

    server = bench_server()
    database = f"leadcli_bench_foreign_{uuid.uuid4().hex[:8]}"
    uri = f"{server.rstrip('/')}/{database}"
    client: Any = pymongo.MongoClient(server)
    store: Any = open_store(uri)
    try:
        store.ensure_indexes()
        if args.recreate_oplog:
            client["local"][OPLOG].drop()
        start = time.perf_counter()
        ids = fill(store.leads, args.leads)
        print(f"{args.leads} leads written in {time.perf_counter() - start:.1f} s")
        source = foreign_source(store)  # what `watch` uses here (creates FerretDB's OpLog if missing)
        print(f"tail of other apps' writes on this server: {source.describe}")
        if isinstance(source, FerretOplog):
            stats = client["local"].command("collStats", OPLOG)
            print(f"  OpLog: capped at {stats.get('maxSize') or stats.get('size')} bytes, holding {stats.get('count')} entries")

        print(f"1. latency, web-app-style update -> watch line ({args.writes} writes):")
        delays = [d * 1000 for d in latency(uri, store.leads, ids, args.writes)] if args.writes else []
        if delays:
            print(f"  p50 {pct(delays, 0.5):7.1f} ms   p95 {pct(delays, 0.95):7.1f} ms   max {max(delays):7.1f} ms  (n={len(delays)})")

        print(f"2. cost of one poll at {len(ids)} leads:")
        base = statistics.median(timed_ms(lambda: store.leads.find_one({"_id": ids[len(ids) // 2]}), 20))
        source.read()
        tail = statistics.median(timed_ms(source.read, 10))
        print(f"  baseline raw find_one by _id      {base:8.1f} ms (FerretDB scans for it)")
        print(f"  {source.describe:<33} {tail:8.1f} ms   ({tail / base:8.4f}x the baseline)")
        if isinstance(source, FerretOplog):
            # The OpLog at its cap: ~1 MiB of other writes (1 KiB documents) in it, as on a busy day.
            filler = store.db["bench_filler"]
            for _ in range(4):
                filler.insert_many([{"pad": "x" * 1000} for _ in range(256)])
            full = statistics.median(timed_ms(source.read, 10))
            count = client["local"].command("collStats", OPLOG).get("count")
            print(f"  the same, OpLog holding {count} entries {full:8.1f} ms   ({full / base:8.4f}x the baseline)")
        if not isinstance(source, UpdatedAtPoll) and args.updated_at_reads:
            try:
                poll = UpdatedAtPoll(store)
                poll.read()
                by_updated_at = statistics.median(timed_ms(poll.read, args.updated_at_reads))
                print(f"  poll by updated_at (for contrast) {by_updated_at:8.1f} ms   ({by_updated_at / base:6.1f}x the baseline)")
            except Exception as exc:  # noqa: BLE001 - FerretDB scans every lead for it: may pass the 30 s socket timeout
                print(f"  poll by updated_at (for contrast) failed: {str(exc)[:100]}")
    finally:
        client.drop_database(database)
        client.close()
        store.close()


if __name__ == "__main__":
    main()
