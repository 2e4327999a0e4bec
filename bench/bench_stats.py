"""How long `stats` takes (one pass over every matching lead's history, for avg_days) against
`stages` (a GROUP BY in the store) on the same SQLite store. Prints figures; asserts nothing.

    /work/.venv/bin/python bench/bench_stats.py [N]
"""

from __future__ import annotations

import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from benchtime import best_of

from leadcli.config import load_settings
from leadcli.domain.lead import new_id
from leadcli.domain.pipeline import DEFAULT_STAGES
from leadcli.domain.query import LeadQuery
from leadcli.services.context import Workspace
from leadcli.services.reports import pipeline_stats, stage_rows


def fill(ws: Workspace, n: int) -> None:
    start = datetime(2025, 1, 1, tzinfo=UTC)
    ws.store.db.execute("BEGIN")  # one transaction for the fill; the bench is about reads
    for i in range(n):
        steps = i % len(DEFAULT_STAGES) + 1
        history = [
            {"from_stage": DEFAULT_STAGES[s - 1] if s else None, "to_stage": DEFAULT_STAGES[s],
             "changed_at": start + timedelta(days=3 * s, minutes=i), "by": "bench", "notes": None}
            for s in range(steps)
        ]  # fmt: skip
        lead = {
            "id": new_id(), "name": f"Lead {i}", "email": f"lead{i}@example.com", "company": None, "phone": None,
            "status": "Not Engaged", "engaged": i % 3 == 0, "current_stage": history[-1]["to_stage"],
            "stage_updated_at": history[-1]["changed_at"], "owner": None, "source": None, "tags": [],
            "value": float(i % 50 * 100), "notes": None, "follow_up_at": None, "last_contacted": None,
            "created_at": history[0]["changed_at"], "updated_at": history[-1]["changed_at"],
            "stage_history": history, "fields": {}, "version": 1,
        }  # fmt: skip
        from leadcli.store.sqlite import _columns
        from leadcli.store.sqlite_schema import _COLUMNS

        ws.store.db.execute(f"INSERT INTO leads ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))})", _columns(lead))
    ws.store.db.execute("COMMIT")


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 20_000
    with tempfile.TemporaryDirectory() as tmp:
        ws = Workspace(load_settings(db=str(Path(tmp) / "bench.db")))
        fill(ws, n)
        query = LeadQuery()
        stages = best_of(3, lambda: stage_rows(ws, query))
        stats = best_of(3, lambda: pipeline_stats(ws, query))
        ws.close()
    print(f"{n} leads: stages (GROUP BY) {stages * 1000:.1f} ms, stats (history pass) {stats * 1000:.1f} ms, ratio {stats / stages:.1f}x")


if __name__ == "__main__":
    main()
