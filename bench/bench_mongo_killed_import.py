"""A large import into the team store, killed (SIGKILL) midway, then completed by re-running it
with `--upsert`: prints how far the first run got, how long the completion took, and checks
that every row is a lead with exactly one lead_created event and seqs have no gap.

    LEADCLI_BENCH_MONGODB_URI=mongodb://127.0.0.1:27017 python bench/bench_mongo_killed_import.py \\
        [--rows 200000] [--kill-after 120]

The baseline is the same file imported in one uninterrupted run into a second database.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def write_rows(path: Path, n: int) -> None:
    with path.open("w") as fh:
        fh.write("Name,Email,Company,Stage,Tags,Notes\n")
        for i in range(n):
            fh.write(f"Lead {i},lead{i}@import.example,Company {i % 977},New Lead,a;b,row {i}\n")


def leadcli(uri: str, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "LEADCLI_HOME": tempfile.mkdtemp(), "LEADCLI_USER": "bench"}
    return subprocess.Popen([sys.executable, "-m", "leadcli", "--db", uri, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def check(uri: str, rows: int) -> str:
    import pymongo

    client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(uri, socketTimeoutMS=3_600_000)
    db = client.get_default_database()
    ids = {str(d["_id"]) for d in db.leads.find({}, {"_id": 1})}
    created: dict[str, int] = {}
    seqs = []
    for event in db.leadcli_events.find({}, {"seq": 1, "type": 1, "lead_id": 1}):
        seqs.append(event["seq"])
        if event["type"] == "lead_created":
            created[event["lead_id"]] = created.get(event["lead_id"], 0) + 1
    intents = db.leadcli_intents.count_documents({})
    client.close()
    seqs.sort()
    missing = sum(1 for i in ids if created.get(i, 0) == 0)
    doubled = sum(1 for n in created.values() if n > 1)
    gapless = seqs == list(range(1, len(seqs) + 1))
    return f"leads {len(ids)}/{rows}, without event {missing}, with 2+ created events {doubled}, seqs gapless {gapless}, intents left {intents}"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--kill-after", type=float, default=120.0, help="seconds into the first run")
    parser.add_argument("--no-baseline", action="store_true", help="skip the uninterrupted import")
    args = parser.parse_args()
    from mongoseed import bench_server

    server = bench_server()
    path = Path(tempfile.mkdtemp()) / "rows.csv"
    write_rows(path, args.rows)
    uri = f"{server.rstrip('/')}/leadcli_killed_{uuid.uuid4().hex[:8]}"

    started = time.perf_counter()
    first = leadcli(uri, "import", str(path))
    try:
        first.wait(timeout=args.kill_after)
        print(f"first run ended by itself after {time.perf_counter() - started:.0f} s (exit {first.returncode}); raise --rows")
    except subprocess.TimeoutExpired:
        first.send_signal(signal.SIGKILL)
        first.wait()
        print(f"first run killed after {args.kill_after:.0f} s")
    print(f"  after the kill: {check(uri, args.rows)}")

    started = time.perf_counter()
    second = leadcli(uri, "import", str(path), "--upsert")
    _out, err = second.communicate()
    took = time.perf_counter() - started
    print(f"import --upsert: exit {second.returncode} in {took:.0f} s ({args.rows / took:.0f} rows/s over the file); {err.strip().splitlines()[-1:] }")
    print(f"  after --upsert: {check(uri, args.rows)}")

    import pymongo

    client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(server)
    client.drop_database(uri.rsplit("/", 1)[1])
    if args.no_baseline:
        return
    baseline_uri = f"{server.rstrip('/')}/leadcli_whole_{uuid.uuid4().hex[:8]}"
    started = time.perf_counter()
    whole = leadcli(baseline_uri, "import", str(path))
    whole.communicate()
    took_whole = time.perf_counter() - started
    print(f"baseline, one uninterrupted import: exit {whole.returncode} in {took_whole:.0f} s ({args.rows / took_whole:.0f} rows/s); "
          f"completion / whole = {took / took_whole:.2f}")  # fmt: skip
    client.drop_database(baseline_uri.rsplit("/", 1)[1])


if __name__ == "__main__":
    main()
