"""What `stats` on MongoDB costs leadcli, the streamed Python pass (FerretDB's path) against the
one aggregation (MongoDB's, store/mongo_stats.py), on realistic leads (bench/leadgen.py, a
third of them with the web app's text times in their history).

No MongoDB here, so the server's own cost of the pipeline is not measured (mongomock's is no
measure of it). What is: per command, the bytes the server sends leadcli and leadcli's CPU
once they arrive — decoding, `from_document` and `stage_figures` for the Python pass; building
the pipeline, decoding its one reply document and shaping it for the aggregation — and how many
leads the pipeline leaves to the Python pass (it should be none of these).

    python bench/bench_mongo_stats.py [N ...]     (default 10000 100000)
"""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime
from typing import Any

import bson
import mongomock
from bson.codec_options import CodecOptions
from leadgen import make_leads

from leadcli.domain.pipeline import Pipeline
from leadcli.domain.stays import stage_figures
from leadcli.store import mongo_stats
from leadcli.store.mongo import STATS_PROJECTION
from leadcli.store.mongo_docs import from_document, to_document

NOW = datetime(2026, 3, 31, tzinfo=UTC)
CODEC = CodecOptions(tz_aware=True, tzinfo=UTC)
SAMPLE = 2000  # leads the pipeline is run on (mongomock) to count what it leaves to Python


def documents(n: int) -> list[dict[str, Any]]:
    docs = []
    for i, lead in enumerate(make_leads(n)):
        doc = to_document(lead)
        if i % 3 == 0:  # as the web app writes its history: naive ISO text with microseconds
            for entry in doc.get("stage_history") or []:
                entry["changed_at"] = entry["changed_at"].replace(tzinfo=None).strftime("%Y-%m-%dT%H:%M:%S.%f")
                entry.pop("by", None)
        docs.append(doc)
    return docs


def cpu_ms(func: Any, runs: int = 3) -> float:
    best = float("inf")
    for _ in range(runs):
        started = time.process_time()
        func()
        best = min(best, time.process_time() - started)
    return best * 1000


def measure(n: int, closed: tuple[str, ...]) -> str:
    docs = documents(n)
    wire = [bson.encode({"_id": d["_id"], **{k: d[k] for k in STATS_PROJECTION if k in d}}) for d in docs]

    def python_pass() -> None:
        stage_figures((from_document(bson.decode(raw, CODEC)) for raw in wire), closed, NOW)

    sample = mongomock.MongoClient(tz_aware=True).db.leads
    sample.insert_many(docs[:SAMPLE])
    reply = next(sample.aggregate(mongo_stats.pipeline({}, closed, NOW, "New Lead")))
    _figures, odd = mongo_stats.figures(reply)
    reply_bytes = bson.encode(reply)

    def request() -> bytes:
        return bson.encode({"aggregate": "leads", "pipeline": mongo_stats.pipeline({}, closed, NOW, "New Lead")})

    def pipeline_side() -> None:
        request()
        mongo_stats.figures(bson.decode(reply_bytes, CODEC))

    return (
        f"{n} | {sum(map(len, wire))} B, {cpu_ms(python_pass):.0f} ms | {len(request())} B, {len(reply_bytes)} B, "
        f"{cpu_ms(pipeline_side, runs=20):.2f} ms | {odd} of {min(n, SAMPLE)}"
    )


def main(sizes: list[int]) -> None:
    closed = tuple(Pipeline().closed)
    print("leads | python pass: bytes sent, leadcli CPU ms | pipeline: request bytes, reply bytes, leadcli CPU ms | left to Python (of a sample)")
    for n in sizes:
        print(measure(n, closed), flush=True)


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [10_000, 100_000])
