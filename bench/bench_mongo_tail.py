"""What an idle `watch`/`serve` costs a MongoDB-wire server (FerretDB) as the event log grows.

    LEADCLI_BENCH_MONGODB_URI=mongodb://127.0.0.1:PORT python bench/bench_mongo_tail.py [--sizes 1000,3000,5000]

For each log size: the range read `events_after(last)` (baseline: what the tail used to do on
every 0.1 s poll; FerretDB scans every event for it), the next-seq look-up `event_at` the tail
polls now, and the share of 6 s that an idle tail spends in store calls. Prints figures and
ratios; exits 0 whatever they are. Uses a throw-away database, dropped at the end.
"""

from __future__ import annotations

import argparse
import sys
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchtime import median_ms  # noqa: E402

from leadcli.live.tail import SEQ_INTERVAL_S, open_tail  # noqa: E402
from leadcli.store import open_store  # noqa: E402
from leadcli.store.mongo import event_key  # noqa: E402
from tests.leadmaker import insert, make_lead  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="1000,3000,5000")
    parser.add_argument("--idle-seconds", type=float, default=6.0)
    args = parser.parse_args()
    from mongoseed import bench_server

    server = bench_server()
    database = f"leadcli_bench_tail_{uuid.uuid4().hex[:8]}"
    store = open_store(f"{server.rstrip('/')}/{database}")
    try:
        insert(store, make_lead())
        template = store.events.find_one({"seq": 1}, {"_id": 0})
        have = 1
        for size in (int(s) for s in args.sizes.split(",")):
            store.events.insert_many([{**template, "_id": event_key(s), "seq": s} for s in range(have + 1, size + 1)])
            have = size
            last = store.last_seq()
            range_ms = median_ms(lambda last=last: store.events_after(last), n=10)
            probe_ms = median_ms(lambda last=last: store.event_at(last + 1), n=10)
            tail = open_tail(store, last)
            busy = [0.0]

            def timed(f: Any, busy: list[float] = busy) -> Any:
                def call(*a: Any) -> Any:
                    start = time.perf_counter()
                    try:
                        return f(*a)
                    finally:
                        busy[0] += time.perf_counter() - start

                return call

            tail.fetch, tail.lookup = timed(tail.fetch), timed(tail.lookup)  # type: ignore[attr-defined]
            start = time.perf_counter()
            while time.perf_counter() - start < args.idle_seconds:
                tail.poll(0.25)
            share = busy[0] / (time.perf_counter() - start)
            print(
                f"{size:>6} events: range read {range_ms:6.1f} ms (the old tail's every poll: busy "
                f"{range_ms / (range_ms + SEQ_INTERVAL_S * 1000):4.0%})  "
                f"next-seq look-up {probe_ms:5.1f} ms ({range_ms / probe_ms:4.1f}x cheaper)  "
                f"idle tail now busy {share:4.0%} of the time",
                flush=True,
            )
    finally:
        store.client.drop_database(database)
        store.close()


if __name__ == "__main__":
    main()
