"""The MongoDB-wire server the Mongo benches use, and seeding a bench database with raw pymongo in
leadcli's shape, so every version a bench times starts from the same data (each bench is run as
`python bench/NAME.py`, which puts bench/ on sys.path; seeding imports the leadcli checkout it
seeds for)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

FERRETDB = Path.home() / ".cache" / "leadcli-ferretdb" / "bin" / "ferretdb"  # built by .ci/ferretdb.sh


def bench_server() -> str:
    """LEADCLI_BENCH_MONGODB_URI without a trailing slash; exits saying so when it is not set."""
    server = os.environ.get("LEADCLI_BENCH_MONGODB_URI")
    if not server:
        sys.exit("set LEADCLI_BENCH_MONGODB_URI=mongodb://host:port (FerretDB or MongoDB)")
    return server.rstrip("/")


def start_ferretdb(data: Path) -> tuple[subprocess.Popen[bytes], str]:
    """A FerretDB on a free loopback port over the data dir `data` (its SQLite files, and its log
    in ferretdb.log): the process and its URI (no database). RuntimeError saying why it did not
    start (no binary, it exited, no answer within 60 s)."""
    if not FERRETDB.exists():
        raise RuntimeError("no FerretDB: build it with `bash .ci/ferretdb.sh`, or set LEADCLI_BENCH_MONGODB_URI")
    data.mkdir(parents=True, exist_ok=True)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    log = open(data / "ferretdb.log", "ab")
    proc = subprocess.Popen(
        [str(FERRETDB), "--handler=sqlite", f"--sqlite-url=file:{data}/", f"--state-dir={data}",
         f"--listen-addr=127.0.0.1:{port}", "--telemetry=disable", "--log-level=error", "--debug-addr=-"],
        stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"FerretDB exited: see {data / 'ferretdb.log'}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return proc, f"mongodb://127.0.0.1:{port}"
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("FerretDB did not start within 60 s")


def seed_leads_and_events(uri: str, n: int, seed: int) -> str:
    """`n` leads (`make_leads(n, seed)`) and their `n` lead_created events (seq 1..n), with the
    unique indexes leadcli makes. Returns the id of the first lead (the smallest `_id`)."""
    import pymongo
    from leadgen import make_leads

    client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(uri, tz_aware=True, socketTimeoutMS=600000)
    db = client.get_default_database()
    insert_created(db, make_leads(n, seed=seed), 0)
    make_unique_indexes(db)
    first = db.leads.find_one({}, {"_id": 1}, sort=[("_id", 1)])
    client.close()
    return str(first["_id"]) if first else ""


def insert_created(db: Any, leads: list[dict[str, Any]], first_seq: int) -> None:
    """`leads` as leadcli stores them, each with its lead_created event (seq `first_seq` + 1
    onwards), 2,000 at a time."""
    from leadcli.store.mongo_docs import to_document

    for start in range(0, len(leads), 2000):
        chunk = leads[start : start + 2000]
        db.leads.insert_many([to_document(lead) for lead in chunk])
        seq = first_seq + start
        db.leadcli_events.insert_many(
            [
                {"_id": f"seq:{seq + i + 1}", "seq": seq + i + 1, "type": "lead_created", "at": lead["created_at"],
                 "by": "seed", "lead_id": lead["id"], "lead": to_document(lead), "changes": "{}"}
                for i, lead in enumerate(chunk)
            ]
        )  # fmt: skip


def make_unique_indexes(db: Any) -> None:
    """The unique indexes leadcli makes: event seq and lead email."""
    db.leadcli_events.create_index("seq", unique=True, name="seq_1")
    db.leads.create_index("email", unique=True, name="email_1")
