"""What keeping a MongoDB store readable by the Leads Artisan web app costs.

    python bench/bench_artisan.py                                   # the write check alone
    LEADCLI_BENCH_MONGODB_URI=mongodb://127.0.0.1:PORT python bench/bench_artisan.py --size 100000

1. The write check (`domain.artisan.fit`) per lead, against the baseline every imported row
   already pays: leadcli's own validation of the row (`validate_changes`), in the same run.
2. With a server: on a store of --size leads, resolving a LEAD given by email, exact look-up
   (`get_by_email`, the baseline) against `get_all_by_email` (which must see case variants),
   first in a store whose emails are all lowercase, then with one capitalised email stored;
   and `doctor`'s pass over every lead against `count` (one server round trip). Medians; prints
   figures and ratios, exits 0 whatever they are. Uses a throw-away database, dropped at the end.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchtime import median_ms  # noqa: E402

from leadcli.domain.artisan import fit  # noqa: E402
from leadcli.domain.dates import now_utc  # noqa: E402
from leadcli.domain.lead import new_lead  # noqa: E402
from leadcli.domain.validation import validate_changes  # noqa: E402


def write_check(rows: int = 50_000) -> None:
    now = now_utc()
    raw = [{"name": f"Lead {i}", "email": f"lead{i}@example{i % 50}.com", "company": f"Co {i % 50}"} for i in range(rows)]
    leads = [new_lead(r["name"], r["email"], "New Lead", now, "ops", company=r["company"]) for r in raw]
    baseline = median_ms(lambda: [validate_changes(dict(r)) for r in raw]) / rows * 1000
    check = median_ms(lambda: [fit(lead, naming="column") for lead in leads]) / rows * 1000
    print(f"write check: {check:.2f} us a lead; row validation (baseline) {baseline:.2f} us; ratio {check / baseline:.2f}")


def import_figures(server: str, rows: int = 5000, rounds: int = 3) -> None:
    """A CSV import into FerretDB/MongoDB with the web app's rules checked on every row, against
    the same import opted out (LEADCLI_WEB_APP_COMPATIBLE=false), alternating, fresh databases."""
    import subprocess
    import tempfile

    import pymongo

    folder = Path(tempfile.mkdtemp())
    csv = folder / "leads.csv"
    csv.write_text("Name,Email,Company,Stage\n" + "".join(f"Lead {i},lead{i}@example.com,Co {i % 50},New Lead\n" for i in range(rows)))
    times: dict[str, list[float]] = {"true": [], "false": []}
    client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(server)
    for _ in range(rounds):
        for mode in ("false", "true"):
            database = f"leadcli_bench_import_{uuid.uuid4().hex[:8]}"
            env = {**os.environ, "LEADCLI_WEB_APP_COMPATIBLE": mode, "LEADCLI_HOME": str(folder)}
            start = time.perf_counter()
            subprocess.run([sys.executable, "-m", "leadcli", "--db", f"{server.rstrip('/')}/{database}", "import", str(csv)],
                           env=env, check=True, capture_output=True)  # fmt: skip
            times[mode].append(time.perf_counter() - start)
            client.drop_database(database)
    client.close()
    checked, plain = statistics.median(times["true"]), statistics.median(times["false"])
    print(f"import of {rows} rows: checked {checked:.2f} s, opted out (baseline) {plain:.2f} s, ratio {checked / plain:.2f}")


def server_figures(server: str, size: int) -> None:
    import pymongo

    from leadcli.config import load_settings
    from leadcli.domain.query import LeadQuery
    from leadcli.services.context import Workspace
    from leadcli.services.doctor import doctor_report
    from leadcli.store.mongo import MongoStore

    database = f"leadcli_bench_artisan_{uuid.uuid4().hex[:8]}"
    uri = f"{server.rstrip('/')}/{database}"
    client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(uri)
    leads = client.get_default_database().leads
    try:
        now = now_utc().replace(tzinfo=None)
        for start in range(0, size, 5000):
            leads.insert_many([
                {"name": f"Lead {i}", "email": f"lead{i}@example.com", "company": "Co", "status": "Not Engaged", "engaged": False,
                 "current_stage": "New Lead", "stage_history": [], "created_at": now, "updated_at": now, "version": 1}
                for i in range(start, min(size, start + 5000))
            ])  # fmt: skip
        leads.create_index("email", unique=True)
        target = f"lead{size // 2}@example.com"

        def fresh(call: str) -> float:
            def run() -> None:
                store = MongoStore(uri)  # a new process's store: nothing cached
                getattr(store, call)(target)
                store.close()

            return median_ms(run)

        exact, variants = fresh("get_by_email"), fresh("get_all_by_email")
        print(f"{size} leads, all lowercase: get_by_email {exact:.1f} ms, get_all_by_email {variants:.1f} ms, ratio {variants / exact:.2f}")
        leads.insert_one({**leads.find_one({"email": "lead1@example.com"}, {"_id": 0}), "email": "Lead.Capital@example.com"})
        exact, variants = fresh("get_by_email"), fresh("get_all_by_email")
        print(f"{size} leads, one capitalised: get_by_email {exact:.1f} ms, get_all_by_email {variants:.1f} ms, ratio {variants / exact:.2f}")

        ws = Workspace(load_settings(db=uri, env={}))
        counted = median_ms(lambda: ws.store.count(LeadQuery()), n=3)
        doctor = median_ms(lambda: doctor_report(ws), n=1)
        print(f"{size} leads: doctor {doctor:.0f} ms (its pass over every lead), count {counted:.0f} ms, ratio {doctor / counted:.1f}")
        ws.close()
    finally:
        client.drop_database(database)
        client.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", type=int, default=20_000)
    args = parser.parse_args()
    write_check()
    server = os.environ.get("LEADCLI_BENCH_MONGODB_URI")
    if server:
        import_figures(server)
        server_figures(server, args.size)
    else:
        print("(set LEADCLI_BENCH_MONGODB_URI=mongodb://host:port for the store figures)")


if __name__ == "__main__":
    main()
