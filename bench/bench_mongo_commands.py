"""What each leadcli command costs on the team store, beside what the server itself costs.

At 10k and 100k leads (each with its lead_created event) on a MongoDB-wire server (FerretDB),
every command below runs as a fresh `leadcli` process, and beside it a fresh Python process doing
the equivalent work with raw pymongo (the baseline, same run, same data): the ratio is what
leadcli adds. `--code DIR` adds a column for another checkout (a before/after pair in one run).

    LEADCLI_BENCH_MONGODB_URI=mongodb://127.0.0.1:27017 python bench/bench_mongo_commands.py \\
        [--sizes 10000,100000] [--runs 3] [--code /path/to/other/checkout]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

# The raw pymongo equivalent of each command (what a hand-written script would send).
RAW = {
    "count": "db.leads.count_documents({})",
    "show": "db.leads.find_one({'_id': ObjectId(LEAD)})",
    "list": "list(db.leads.find({}).sort([('created_at', -1), ('_id', -1)]).limit(20))",
    "stages": "list(db.leads.aggregate([{'$group': {'_id': '$current_stage', 'n': {'$sum': 1}}}]))",
    "add": (
        "oid = ObjectId(); db.leads.insert_one({'_id': oid, 'name': 'Raw', 'email': f'raw-{oid}@bench.example', 'version': 1});"
        "db.leadcli_events.insert_one({'_id': f'raw:{oid}', 'type': 'lead_created', 'lead_id': str(oid)})"
    ),
    "doctor": (
        "client.admin.command('buildInfo'); client.admin.command('hello'); list(db.leads.list_indexes());"
        "list(db.leadcli_events.list_indexes()); db.leads.count_documents({})"
    ),
}
RAW_PROGRAM = """
import sys, pymongo
from bson import ObjectId
client = pymongo.MongoClient(sys.argv[1], socketTimeoutMS=600000)
db = client.get_default_database()
LEAD = sys.argv[2]
{work}
"""


def leadcli_args(command: str, lead: str, n: int) -> list[str]:
    return {
        "count": ["count"],
        "show": ["show", lead, "-o", "json"],
        "list": ["list", "-o", "json"],
        "stages": ["stages", "-o", "json"],
        "add": ["add", "--name", "Bench", "--email", f"bench-{uuid.uuid4().hex[:10]}@bench.example", "-o", "ids"],
        "doctor": ["doctor", "-o", "json"],
    }[command]


def seed(uri: str, n: int) -> str:
    sys.path.insert(0, str(ROOT))
    from mongoseed import seed_leads_and_events

    return seed_leads_and_events(uri, n, seed=11)


def timed(argv: list[str], env: dict[str, str]) -> tuple[float, int]:
    start = time.perf_counter()
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=1800)
    took = time.perf_counter() - start
    if proc.returncode:
        print(f"    exit {proc.returncode}: {proc.stderr.strip().splitlines()[-1:]}")
    return took, proc.returncode


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--code", type=Path, action="append", default=[], help="another checkout to time beside this one")
    parser.add_argument("--commands", default=",".join(RAW), help="which commands, comma-separated")
    args = parser.parse_args()
    from mongoseed import bench_server

    server = bench_server()
    import pymongo

    codes = [ROOT, *args.code]
    home = tempfile.mkdtemp()
    for n in (int(s) for s in args.sizes.split(",")):
        database = f"leadcli_bench_{uuid.uuid4().hex[:8]}"
        uri = f"{server.rstrip('/')}/{database}"
        started = time.perf_counter()
        lead = seed(uri, n)
        print(f"\n{n} leads and events (seeded in {time.perf_counter() - started:.0f} s); medians of {args.runs}, wall ms")
        header = f"{'command':8} {'pymongo':>9}" + "".join(f" {Path(c).name[:12]:>14} {'ratio':>6}" for c in codes)
        print(header)
        try:
            # One untimed write by each checkout first: the first write to a database it has not
            # written before does one-time setup (indexes; for this one, the seq hint's scan).
            for code in codes:
                env = {**os.environ, "PYTHONPATH": str(code), "LEADCLI_HOME": home, "LEADCLI_USER": "bench"}
                timed([sys.executable, "-m", "leadcli", "--db", f"{uri}?socketTimeoutMS=600000", *leadcli_args("add", lead, n)], env)
            for command in args.commands.split(","):
                rows: dict[str, list[float]] = {"raw": []}
                for _ in range(args.runs):
                    took, _ = timed([sys.executable, "-c", RAW_PROGRAM.format(work=RAW[command]), uri, lead], dict(os.environ))
                    rows["raw"].append(took)
                    for code in codes:
                        env = {**os.environ, "PYTHONPATH": str(code), "LEADCLI_HOME": home, "LEADCLI_USER": "bench"}
                        # The baseline's socket timeout: on a busy FerretDB a scan outlasts leadcli's 30 s.
                        slow_ok = f"{uri}?socketTimeoutMS=600000"
                        took, _ = timed([sys.executable, "-m", "leadcli", "--db", slow_ok, *leadcli_args(command, lead, n)], env)
                        rows.setdefault(str(code), []).append(took)
                raw = statistics.median(rows["raw"]) * 1000
                line = f"{command:8} {raw:9.0f}"
                for code in codes:
                    ms = statistics.median(rows[str(code)]) * 1000
                    line += f" {ms:14.0f} {ms / raw:6.2f}"
                print(line, flush=True)
        finally:
            pymongo.MongoClient(server).drop_database(database)


if __name__ == "__main__":
    main()
