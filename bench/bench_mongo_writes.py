"""Writes on the team store under load: `leadcli add` latency once the event log holds ~10k
events (1 writer, then 16 at once, each add a real process), and import rows/s beside 4
concurrent editors — on a MongoDB-wire server (FerretDB), with `leadcli add` on SQLite and the
import alone as baselines measured in the same run.

    LEADCLI_BENCH_MONGODB_URI=mongodb://127.0.0.1:27017 python bench/bench_mongo_writes.py
    ... --code /path/to/other/checkout   # run that checkout's leadcli (a before/after pair)

The store is seeded with raw pymongo (leads and events in leadcli's shape), so every run of
any version starts from the same data. Exit codes are counted, and every stored lead is
checked for its `lead_created` event.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from mongoseed import seed_leads_and_events  # noqa: E402

EVENTS = 10_000
SINGLE_ADDS = 15
WRITERS, ADDS_EACH = 16, 3
IMPORT_ROWS = 20_000
EDITORS = 4


def seed(uri: str, n: int) -> None:
    """n leads and their n lead_created events, as leadcli writes them."""
    seed_leads_and_events(uri, n, seed=7)


STDERR_LOG = os.environ.get("LEADCLI_BENCH_STDERR_LOG")  # every non-zero exit's whole stderr goes here


def leadcli(code: Path, db: str, *args: str, timeout: float = 600) -> tuple[int, float, str]:
    env = {**os.environ, "PYTHONPATH": str(code), "LEADCLI_HOME": tempfile.mkdtemp(), "LEADCLI_USER": "bench"}
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "leadcli", "--db", db, *args], env=env, capture_output=True, text=True, timeout=timeout)
    if proc.returncode and STDERR_LOG:
        with open(STDERR_LOG, "a") as log:
            log.write(f"=== exit {proc.returncode} after {time.perf_counter() - start:.1f}s: {' '.join(args[:3])}\n{proc.stderr}\n")
    return proc.returncode, time.perf_counter() - start, proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else ""


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p * (len(ordered) - 1))))] * 1000


def adds(code: Path, db: str, tag: str, writers: int, each: int) -> tuple[list[float], dict[int, int], list[str]]:
    times: list[float] = []
    codes: dict[int, int] = {}
    errors: list[str] = []
    lock = threading.Lock()

    def writer(w: int) -> None:
        for i in range(each):
            code_, took, err = leadcli(code, db, "add", "--name", f"Bench {w} {i}", "--email", f"{tag}-{w}-{i}@bench.example", "-o", "ids")
            with lock:
                times.append(took)
                codes[code_] = codes.get(code_, 0) + 1
                if code_:
                    errors.append(err)

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return times, codes, errors


def missing_events(uri: str) -> int:
    import pymongo

    client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(uri)
    db = client.get_default_database()
    created = {e["lead_id"] for e in db.leadcli_events.find({"type": "lead_created"}, {"lead_id": 1})}
    ids = {str(d["_id"]) for d in db.leads.find({}, {"_id": 1})}
    intents = db.leadcli_intents.count_documents({})
    client.close()
    if intents:
        print(f"    intents left unsettled: {intents}")
    return len(ids - created)


def write_csv(path: Path, n: int, tag: str) -> None:
    rng = random.Random(3)
    with path.open("w", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(["Name", "Email", "Company", "Stage", "Tags", "Notes"])
        for i in range(n):
            out.writerow([f"Import {i}", f"{tag}-{i}@import.example", f"Co {rng.randrange(500)}", "New Lead", "a;b", "imported"])


def import_rate(code: Path, db: str, rows: int, editors: int, seeded_ids: list[str]) -> tuple[float, int, dict[int, int]]:
    path = Path(tempfile.mkdtemp()) / "rows.csv"
    write_csv(path, rows, uuid.uuid4().hex[:6])
    stop = threading.Event()
    codes: dict[int, int] = {}
    errors: dict[int, str] = {}
    lock = threading.Lock()

    def editor(e: int) -> None:
        rng = random.Random(e)
        while not stop.is_set():
            code_, _took, err = leadcli(code, db, "edit", rng.choice(seeded_ids), "--owner", f"ed{e}-{rng.randrange(1000)}", "-o", "ids")
            with lock:
                codes[code_] = codes.get(code_, 0) + 1
                if code_ and code_ not in errors:
                    errors[code_] = err

    threads = [threading.Thread(target=editor, args=(e,)) for e in range(editors)]
    for t in threads:
        t.start()
    code_, took, err = leadcli(code, db, "import", str(path), timeout=3600)
    stop.set()
    for t in threads:
        t.join()
    if code_:
        print(f"    import exit {code_}: {err}")
    for editor_code, message in sorted(errors.items()):
        print(f"    an editor's exit {editor_code}: {message}")
    return rows / took, code_, codes


def import_phase(args: argparse.Namespace, uri: str) -> None:
    import pymongo

    client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(uri)
    ids = [str(d["_id"]) for d in client.get_default_database().leads.find({}, {"_id": 1}).limit(2000)]
    client.close()
    if args.beside_only:
        beside, code_beside, edit_codes = import_rate(args.code, uri, args.rows, EDITORS, ids)
        print(f"import {args.rows} rows beside {EDITORS} editors: {beside:.0f} rows/s (exit {code_beside}); editor exits {edit_codes}")
        print(f"stored leads without their lead_created event: {missing_events(uri)}")
        return
    alone, code_alone, _ = import_rate(args.code, uri, args.rows, 0, ids)
    beside, code_beside, edit_codes = import_rate(args.code, uri, args.rows, EDITORS, ids)
    print(f"import {args.rows} rows: alone {alone:.0f} rows/s (exit {code_alone}); beside {EDITORS} editors "
          f"{beside:.0f} rows/s (exit {code_beside}), ratio {beside / alone:.2f}; editor exits {edit_codes}")  # fmt: skip
    print(f"stored leads without their lead_created event: {missing_events(uri)}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--code", type=Path, default=ROOT, help="the leadcli checkout to run")
    parser.add_argument("--events", type=int, default=EVENTS)
    parser.add_argument("--rows", type=int, default=IMPORT_ROWS)
    parser.add_argument("--import-only", action="store_true", help="skip the add latencies")
    parser.add_argument("--beside-only", action="store_true", help="with --import-only: skip the import alone")
    args = parser.parse_args()
    from mongoseed import bench_server

    server = bench_server()
    import pymongo

    database = f"leadcli_bench_{uuid.uuid4().hex[:8]}"
    uri = f"{server.rstrip('/')}/{database}"
    print(f"code: {args.code}; seeding {args.events} leads and events...")
    seed(uri, args.events)
    sqlite_db = str(Path(tempfile.mkdtemp()) / "bench.db")
    try:
        if args.import_only:
            import_phase(args, uri)
            return
        base, _, _ = adds(args.code, sqlite_db, "s", 1, SINGLE_ADDS)
        one, codes1, errors1 = adds(args.code, uri, "one", 1, SINGLE_ADDS)
        print(f"add, 1 writer x {SINGLE_ADDS}: p50 {pct(one, 0.5):.0f} ms, p95 {pct(one, 0.95):.0f} ms; "
              f"sqlite p50 {pct(base, 0.5):.0f} ms; ratio p50 {pct(one, 0.5) / pct(base, 0.5):.2f}; exits {codes1}")  # fmt: skip
        many, codes16, errors16 = adds(args.code, uri, "many", WRITERS, ADDS_EACH)
        print(f"add, {WRITERS} writers x {ADDS_EACH}: p50 {pct(many, 0.5):.0f} ms, p95 {pct(many, 0.95):.0f} ms; "
              f"ratio p50 to sqlite 1 writer {pct(many, 0.5) / pct(base, 0.5):.2f}; exits {codes16}")  # fmt: skip
        for line in sorted(set(errors1 + errors16))[:5]:
            print(f"    {line}")
        print(f"stored leads without their lead_created event: {missing_events(uri)}")
        print(json.dumps({"add1_p50": pct(one, 0.5), "add1_p95": pct(one, 0.95), "add16_p50": pct(many, 0.5),
                          "add16_p95": pct(many, 0.95), "sqlite_add_p50": pct(base, 0.5)}))  # fmt: skip
        import_phase(args, uri)
    finally:
        pymongo.MongoClient(server).drop_database(database)


if __name__ == "__main__":
    main()
