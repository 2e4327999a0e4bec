"""What each leadcli command costs on the team store, beside what the server itself costs.

At 10k and 100k leads (each with its lead_created event) on a MongoDB-wire server (FerretDB),
every command below runs as a fresh `leadcli` process, and beside it a fresh Python process doing
the equivalent work with raw pymongo (the baseline, same run, same data): the ratio is what
leadcli adds. `--code DIR` adds a column for another checkout (a before/after pair in one run).

Without LEADCLI_BENCH_MONGODB_URI a FerretDB (~/.cache/leadcli-ferretdb/bin/ferretdb) is started
here on a data dir kept in ~/.cache/leadcli-bench/ferretdb, and each size's database is built once
(insert_many of generated documents) and reused by later runs: the timed writes (add, edit, move)
change a few leads of it, which does not change what is measured. `--fresh` rebuilds.

    python bench/bench_mongo_commands.py [--sizes 10000,100000] [--runs 3] [--code /other/checkout]
    LEADCLI_BENCH_MONGODB_URI=mongodb://127.0.0.1:27017 python bench/bench_mongo_commands.py
"""

from __future__ import annotations

import argparse
import os
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
CACHE = Path.home() / ".cache" / "leadcli-bench"
# Bumped when the seeded data changes: a cached database of an older generation is rebuilt.
GENERATION = 1
BUILT = "bench_built"  # a collection holding one marker document once a database is whole
OPEN = "{'current_stage': {'$nin': ['Closed Won', 'Closed Lost']}}"

# The raw pymongo equivalent of each command (what a hand-written script would send). `NOW` is
# the time of the run; `LEAD` the lead the lookups and writes use.
RAW = {
    "count": "db.leads.count_documents({})",
    "show": "db.leads.find_one({'_id': ObjectId(LEAD)})",
    # Two, as a lookup must: a second match makes the handle ambiguous.
    "show-handle": "list(db.leads.find({'handle': {'$gte': HANDLE, '$lt': HANDLE + 'g'}}).limit(2))",
    "list": "list(db.leads.find({}).sort([('created_at', -1), ('_id', -1)]).limit(20))",
    "list-filter": (
        "list(db.leads.find({'current_stage': 'Negotiation', 'owner': 'ada'})"
        ".sort([('created_at', -1), ('_id', -1)]).limit(20))"
    ),
    "search": (
        "rx = {'$regex': 'lovelace', '$options': 'i'};"
        "list(db.leads.find({'$or': [{'name': rx}, {'email': rx}, {'company': rx}, {'notes': rx}]})"
        ".sort([('created_at', -1), ('_id', -1)]).limit(20))"
    ),
    "stages": (
        "list(db.leads.aggregate([{'$group': {'_id': '$current_stage', 'n': {'$sum': 1}}}]));"
        "list(db.leads.aggregate([{'$group': {'_id': '$current_stage', 'v': {'$sum': '$value'}}}]))"
    ),
    # What the report needs, as a script would get it on a server without date arithmetic in
    # its aggregation (FerretDB v1): every lead's stage, value, engagement and stage history.
    "stats": (
        "list(db.leads.find({}, {'current_stage': 1, 'value': 1, 'engaged': 1, 'stage_history': 1, 'created_at': 1}))"
    ),
    "followups": "list(db.leads.find({'follow_up_at': {'$lte': NOW}}).sort([('follow_up_at', 1), ('_id', 1)]).limit(50))",
    "stale": (
        "since = NOW - timedelta(days=30);"
        f"list(db.leads.find({{'$and': [{OPEN}, {{'$or': [{{'last_contacted': {{'$lt': since}}}},"
        " {'last_contacted': None, 'created_at': {'$lt': since}}]}]})"
        ".sort([('created_at', 1), ('_id', 1)]).limit(50))"
    ),
    "doctor": (
        "client.admin.command('buildInfo'); client.admin.command('hello'); list(db.leads.list_indexes());"
        "list(db.leadcli_events.list_indexes()); db.leads.count_documents({})"
    ),
    "add": (
        "oid = ObjectId(); db.leads.insert_one({'_id': oid, 'name': 'Raw', 'company': 'Raw', 'email': f'raw-{oid}@bench.example', 'version': 1});"
        "db.leadcli_events.insert_one({'_id': f'raw:{oid}', 'type': 'lead_created', 'lead_id': str(oid)})"
    ),
    "edit": (
        "doc = db.leads.find_one({'_id': ObjectId(LEAD)});"
        "db.leads.update_one({'_id': doc['_id'], 'version': doc.get('version')},"
        " {'$set': {'notes': f'raw {NOW}', 'updated_at': NOW}, '$inc': {'version': 1}});"
        "db.leadcli_events.insert_one({'_id': f'raw:{ObjectId()}', 'type': 'lead_updated', 'lead_id': LEAD})"
    ),
    "move": (
        "doc = db.leads.find_one({'_id': ObjectId(LEAD)});"
        "to = 'Negotiation' if doc.get('current_stage') != 'Negotiation' else 'Proposal Sent';"
        "db.leads.update_one({'_id': doc['_id'], 'version': doc.get('version')},"
        " {'$set': {'current_stage': to, 'updated_at': NOW}, '$inc': {'version': 1},"
        " '$push': {'stage_history': {'from_stage': doc.get('current_stage'), 'to_stage': to, 'changed_at': NOW}}});"
        "db.leadcli_events.insert_one({'_id': f'raw:{ObjectId()}', 'type': 'lead_stage_changed', 'lead_id': LEAD})"
    ),
}
RAW_PROGRAM = """
import sys, pymongo
from datetime import UTC, datetime, timedelta
from bson import ObjectId
client = pymongo.MongoClient(sys.argv[1], socketTimeoutMS=600000, tz_aware=True)
db = client.get_default_database()
LEAD = sys.argv[2]
HANDLE = sys.argv[3]
NOW = datetime.now(UTC)
{work}
"""


def leadcli_args(command: str, lead: str, n: int) -> list[str]:
    sys.path.insert(0, str(ROOT))
    from leadcli.domain.handle import handle_of

    return {
        "count": ["count"],
        "show": ["show", lead, "-o", "json"],
        "show-handle": ["show", handle_of(lead), "-o", "json"],
        "list": ["list", "-o", "json"],
        "list-filter": ["list", "--stage", "negotiation", "--owner", "ada", "-o", "json"],
        "search": ["search", "lovelace", "-o", "json"],
        "stages": ["stages", "-o", "json"],
        "stats": ["stats", "-o", "json"],
        "followups": ["followups", "--limit", "50", "-o", "json"],
        "stale": ["stale", "--days", "30", "--limit", "50", "-o", "json"],
        "doctor": ["doctor", "-o", "json"],
        "add": [
            "add",
            "--name",
            "Bench",
            "--company",
            "Bench",
            "--email",
            f"bench-{uuid.uuid4().hex[:10]}@bench.example",
            "-o",
            "ids",
        ],
        "edit": ["edit", lead, "--notes", f"bench {uuid.uuid4().hex[:6]}", "-o", "ids"],
        "move": ["move", lead, "--to", "negotiation" if uuid.uuid4().int % 2 else "proposal-sent", "-o", "ids"],
    }[command]


def seed(uri: str, n: int) -> str:
    """Fill the (empty) database at `uri` with `n` generated leads and their lead_created
    events, in bulk; returns the id of the lead the lookups and writes use."""
    import pymongo
    from leadgen import make_leads
    from mongoseed import insert_created, make_unique_indexes

    sys.path.insert(0, str(ROOT))  # the leadcli checkout whose document shape is written
    client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(uri, tz_aware=True, socketTimeoutMS=600000)
    db = client.get_default_database()
    for start in range(0, n, 10_000):  # generated in slices: 1M leads' dicts at once would not fit
        leads = make_leads(min(10_000, n - start), seed=11 + start)
        # Distinct ids and emails across slices (each slice numbers its leads from 0).
        for i, lead in enumerate(leads):
            lead["id"] = lead["id"][:8] + f"{start + i:016x}"
            lead["email"] = lead["email"].replace("@", f".{start + i}@") if start else lead["email"]
        insert_created(db, leads, start)
    make_unique_indexes(db)
    lead = str(db.leads.find_one({}, {"_id": 1}, sort=[("_id", 1)])["_id"])  # type: ignore[index]
    db[BUILT].insert_one({"_id": "built", "leads": n, "lead": lead, "generation": GENERATION})
    client.close()
    return lead


def cached(server: str, n: int, fresh: bool) -> tuple[str, str, float | None]:
    """The URI of a database holding the `n`-lead store and the lead to use, built only if the
    server has no whole one of this generation; and the seconds building took (None: reused)."""
    import pymongo

    database = f"leadcli_bench_{n}_g{GENERATION}"
    uri = f"{server.rstrip('/')}/{database}"
    client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(server)
    marker = client[database][BUILT].find_one({"_id": "built"})
    if marker is not None and not fresh:
        client.close()
        return uri, str(marker["lead"]), None
    client.drop_database(database)  # half-built (interrupted) or asked to rebuild
    client.close()
    started = time.perf_counter()
    lead = seed(uri, n)
    return uri, lead, time.perf_counter() - started


SERVER_PID: int | None = None  # the FerretDB started here: its CPU time is counted too


def server_cpu() -> float:
    """CPU seconds the FerretDB started here has used so far (0 for a server found by URI)."""
    if SERVER_PID is None:
        return 0.0
    fields = Path(f"/proc/{SERVER_PID}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def timed(argv: list[str], env: dict[str, str], cwd: Path | None = None) -> tuple[float, float, int]:
    """(wall seconds, CPU seconds of the process plus the server's meanwhile, exit status). CPU
    is what the ratio uses: the machine is shared, and wall time swings with others' load."""
    before = server_cpu()
    mine = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    # `python -m leadcli` imports from its working directory first: run in the checkout timed.
    proc = subprocess.run(
        argv, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, timeout=1800
    )
    took = time.perf_counter() - start
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = server_cpu() - before + (used.ru_utime - mine.ru_utime) + (used.ru_stime - mine.ru_stime)
    if proc.returncode:
        print(f"    exit {proc.returncode}: {proc.stderr.strip().splitlines()[-1:]}")
    return took, cpu, proc.returncode


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--code", type=Path, action="append", default=[], help="another checkout to time beside this one"
    )
    parser.add_argument("--commands", default=",".join(RAW), help="which commands, comma-separated")
    parser.add_argument("--fresh", action="store_true", help="rebuild the cached stores")
    parser.add_argument(
        "--data", type=Path, default=CACHE / "ferretdb", help="the FerretDB data dir (two runs at once need two)"
    )
    parser.add_argument("--build-only", action="store_true", help="build (or check) the cached stores, time nothing")
    args = parser.parse_args()
    server = os.environ.get("LEADCLI_BENCH_MONGODB_URI")
    proc = None
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stop the FerretDB started here too
    if not server:
        global SERVER_PID
        from mongoseed import start_ferretdb

        try:
            proc, server = start_ferretdb(args.data)
        except RuntimeError as exc:
            sys.exit(str(exc))
        SERVER_PID = proc.pid
    try:
        run(server, args)
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=30)


def run(server: str, args: argparse.Namespace) -> None:
    sys.path.insert(0, str(ROOT))
    from leadcli.domain.handle import handle_of

    codes = [ROOT, *args.code]
    home = tempfile.mkdtemp()
    for n in (int(s) for s in args.sizes.split(",")):
        uri, lead, took = cached(server, n, args.fresh)
        built = f"built in {took:.0f} s" if took is not None else "cached"
        print(f"\n{n} leads and events ({built})", flush=True)
        if args.build_only:
            continue
        # The baseline's socket timeout: on a busy FerretDB a scan outlasts leadcli's 30 s.
        slow_ok = f"{uri}?socketTimeoutMS=600000"
        what = "CPU ms (client + FerretDB)" if SERVER_PID else "client CPU ms"
        print(f"{what}, medians of {args.runs}; wall ms in brackets", flush=True)
        header = f"{'command':11} {'pymongo':>16}" + "".join(f" {Path(c).name[:14]:>16} {'ratio':>6}" for c in codes)
        print(header)
        # One untimed write by each checkout first: the first write to a database it has not
        # written before does one-time setup (indexes; the seq hint).
        for code in codes:
            env = {**os.environ, "PYTHONPATH": str(code), "LEADCLI_HOME": home, "LEADCLI_USER": "bench"}
            timed([sys.executable, "-m", "leadcli", "--db", slow_ok, *leadcli_args("add", lead, n)], env, code)
        for command in args.commands.split(","):
            rows: dict[str, list[tuple[float, float]]] = {"raw": []}
            for _ in range(args.runs):
                raw_argv = [sys.executable, "-c", RAW_PROGRAM.format(work=RAW[command]), uri, lead, handle_of(lead)]
                rows["raw"].append(timed(raw_argv, dict(os.environ))[:2])
                for code in codes:
                    env = {**os.environ, "PYTHONPATH": str(code), "LEADCLI_HOME": home, "LEADCLI_USER": "bench"}
                    argv = [sys.executable, "-m", "leadcli", "--db", slow_ok, *leadcli_args(command, lead, n)]
                    rows.setdefault(str(code), []).append(timed(argv, env, code)[:2])
            raw_wall, raw_cpu = (statistics.median(t[i] for t in rows["raw"]) * 1000 for i in (0, 1))
            line = f"{command:11} {raw_cpu:7.0f} [{raw_wall:6.0f}]"
            for code in codes:
                wall, cpu = (statistics.median(t[i] for t in rows[str(code)]) * 1000 for i in (0, 1))
                line += f" {cpu:7.0f} [{wall:6.0f}] {cpu / raw_cpu:6.2f}"
            print(line, flush=True)


if __name__ == "__main__":
    main()
