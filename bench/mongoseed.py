"""The MongoDB-wire server the Mongo benches use, and seeding a bench database with raw pymongo in
leadcli's shape, so every version a bench times starts from the same data (each bench is run as
`python bench/NAME.py`, which puts bench/ on sys.path; seeding imports the leadcli checkout it
seeds for)."""

from __future__ import annotations

import os
import sys
from typing import Any


def bench_server() -> str:
    """LEADCLI_BENCH_MONGODB_URI without a trailing slash; exits saying so when it is not set."""
    server = os.environ.get("LEADCLI_BENCH_MONGODB_URI")
    if not server:
        sys.exit("set LEADCLI_BENCH_MONGODB_URI=mongodb://host:port (FerretDB or MongoDB)")
    return server.rstrip("/")


def seed_leads_and_events(uri: str, n: int, seed: int) -> str:
    """`n` leads (`make_leads(n, seed)`) and their `n` lead_created events (seq 1..n), with the
    unique indexes leadcli makes. Returns the id of the first lead (the smallest `_id`)."""
    import pymongo
    from leadgen import make_leads

    from leadcli.store.mongo_docs import to_document as _to_document

    client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(uri, tz_aware=True, socketTimeoutMS=600000)
    db = client.get_default_database()
    leads = make_leads(n, seed=seed)
    for start in range(0, n, 2000):
        chunk = leads[start : start + 2000]
        db.leads.insert_many([_to_document(lead) for lead in chunk])
        db.leadcli_events.insert_many(
            [
                {"_id": f"seq:{start + i + 1}", "seq": start + i + 1, "type": "lead_created", "at": lead["created_at"],
                 "by": "seed", "lead_id": lead["id"], "lead": _to_document(lead), "changes": "{}"}
                for i, lead in enumerate(chunk)
            ]
        )  # fmt: skip
    db.leadcli_events.create_index("seq", unique=True, name="seq_1")
    db.leads.create_index("email", unique=True, name="email_1")
    first = db.leads.find_one({}, {"_id": 1}, sort=[("_id", 1)])
    client.close()
    return str(first["_id"]) if first else ""
