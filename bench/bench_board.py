"""What one `watch --board` frame costs per event (apply the event, snapshot the columns, lay
out and draw at 120x40) against a baseline drawn in the same run: a plain Rich table of the
same cards (the cost of drawing that much with Rich at all). Prints figures; asserts nothing.

    python bench/bench_board.py [N]
"""

from __future__ import annotations

import io
import sys
from typing import Any

from benchtime import best_of
from rich import box
from rich.console import Console
from rich.table import Table

from leadcli.domain.pipeline import DEFAULT_STAGES, Pipeline
from leadcli.output.events import Board


def leads(n: int) -> list[dict[str, Any]]:
    return [
        {"id": f"{i:024x}", "name": f"Person {i} Surname", "email": f"p{i}@example.com", "current_stage": DEFAULT_STAGES[i % 7],
         "value": float(i % 50 * 100), "updated_at": f"2026-11-{1 + i % 28:02d}T09:00:00.000+00:00"}
        for i in range(n)
    ]  # fmt: skip


def console() -> Console:
    return Console(file=io.StringIO(), width=120, height=40, force_terminal=True, color_system="standard")


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    everyone = leads(n)
    board = Board(Pipeline(), everyone)
    out = console()
    moved = dict(everyone[0])

    def frame() -> None:
        moved["current_stage"] = "Negotiation" if moved["current_stage"] != "Negotiation" else "New Lead"
        board.apply({"seq": 1, "type": "lead_stage_changed", "lead_id": moved["id"], "lead": dict(moved),
                     "changes": {"current_stage": ["New Lead", moved["current_stage"]]}, "at": "2026-11-26T12:00:00+00:00"}, True)  # fmt: skip
        out.print(board.renderable())

    shown = [leads[:33] for _, leads in board.columns()]  # what a 40-line frame shows

    def plain() -> None:
        table = Table(box=box.MINIMAL)
        for stage in DEFAULT_STAGES:
            table.add_column(stage)
        for row in range(33):
            table.add_row(*(str(col[row]["name"]) if row < len(col) else "" for col in shown))
        out.print(table)

    board_s = best_of(5, frame)
    plain_s = best_of(5, plain)
    print(f"{n} leads, 120x40: board frame {board_s * 1000:.1f} ms, plain Rich table of its cards {plain_s * 1000:.1f} ms, ratio {board_s / plain_s:.1f}x")


if __name__ == "__main__":
    main()
