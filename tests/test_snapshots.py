"""What a person sees at a terminal, pinned: `show`, `list`, `stats` and `stages`, drawn with
fixed data, a fixed "now" and a 100-column console, compared with tests/snapshots/*.txt (the
`watch --board` view has its own, in tests/test_board.py). Regenerate after an intended change with

    UPDATE_SNAPSHOTS=1 python -m pytest tests/test_snapshots.py

and review the diff. Also: the same commands print no ANSI escapes into a pipe, and honour
NO_COLOR when drawing.
"""

from __future__ import annotations

import io
import os
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from conftest import invoke
from rich.console import Console

from leadcli.domain.pipeline import Pipeline
from leadcli.output import rich_view

SNAPSHOTS = Path(__file__).parent / "snapshots"
NOW = datetime(2026, 11, 26, 13, 0, tzinfo=UTC)
PIPELINE = Pipeline()
ANSI = re.compile(r"\x1b\[")


def lead(n: int, name: str, email: str, stage: str, **extra: object) -> dict[str, object]:
    record: dict[str, object] = {
        "id": f"6650f1c2a1b2c3d4e5f607{n:02x}", "name": name, "email": email, "company": None, "phone": None,
        "status": "Not Engaged", "engaged": False, "current_stage": stage, "stage_updated_at": "2026-11-20T09:00:00.000+00:00",
        "owner": None, "source": None, "tags": [], "value": None, "notes": None, "follow_up_at": None, "last_contacted": None,
        "created_at": "2026-11-01T09:00:00.000+00:00", "updated_at": "2026-11-20T09:00:00.000+00:00",
        "stage_history": [{"from_stage": None, "to_stage": "New Lead", "changed_at": "2026-11-01T09:00:00.000+00:00", "by": "ops", "notes": None}],
        "fields": {}, "version": 1, "activities": [],
    }  # fmt: skip
    record.update(extra)
    return record


ADA = lead(
    0x18, "Ada Lovelace", "ada@example.com", "Proposal Sent",
    company="Analytical Engines", phone="+44 20 7946 0000", status="Engaged", engaged=True, owner="sam",
    source="conference", tags=["vip", "emea"], value=12000, notes="Wants the numbers by Friday.",
    follow_up_at="2026-11-24T10:00:00.000+00:00", last_contacted="2026-11-21T15:30:00.000+00:00",
    fields={"region": "EMEA"}, version=6,
    stage_history=[
        {"from_stage": None, "to_stage": "New Lead", "changed_at": "2026-10-01T09:00:00.000+00:00", "by": "ops", "notes": None},
        {"from_stage": "New Lead", "to_stage": "Initial Contact", "changed_at": "2026-10-04T11:00:00.000+00:00", "by": "sam", "notes": "intro call"},
        {"from_stage": "Initial Contact", "to_stage": "Meeting Scheduled", "changed_at": "2026-10-20T08:00:00.000+00:00", "by": "sam", "notes": None},
        {"from_stage": "Meeting Scheduled", "to_stage": "Proposal Sent", "changed_at": "2026-11-10T16:00:00.000+00:00", "by": "sam", "notes": "v2 pricing"},
    ],
    activities=[
        {"type": "call", "at": "2026-10-04T11:00:00.000+00:00", "by": "sam", "note": "intro"},
        {"type": "meeting", "at": "2026-10-28T14:00:00.000+00:00", "by": "sam", "note": "demo with the CFO"},
        {"type": "email", "at": "2026-11-21T15:30:00.000+00:00", "by": "sam", "note": "sent proposal v2"},
    ],
)  # fmt: skip
LEADS = [
    ADA,
    lead(0x19, "Grace Hopper", "grace@example.com", "Closed Won", company="US Navy", value=30000, owner="kim"),
    lead(0x1A, "Alan Turing", "alan@example.com", "New Lead", company="Bletchley Park", follow_up_at="2026-12-01T09:00:00.000+00:00"),
    lead(0x1B, "Katherine Johnson with a rather long name", "katherine.johnson@very-long-domain.example.com", "Negotiation",
         company="NASA Langley Research Center", value=8500.5, owner="sam", last_contacted="2026-11-25T09:00:00.000+00:00"),
    lead(0x1C, "Edsger Dijkstra", "edsger@example.com", "Closed Lost", company="TU Eindhoven"),
]  # fmt: skip
STATS = {
    "total": 8, "engaged": 2, "win_rate": 0.67,
    "stages": [
        {"stage": "New Lead", "count": 3, "value": 3000}, {"stage": "Initial Contact", "count": 1, "value": 0},
        {"stage": "Meeting Scheduled", "count": 0, "value": 0}, {"stage": "Proposal Sent", "count": 1, "value": 12000},
        {"stage": "Negotiation", "count": 0, "value": 0}, {"stage": "Closed Won", "count": 2, "value": 42000},
        {"stage": "Closed Lost", "count": 1, "value": 5000},
    ],
}  # fmt: skip
# The default columns as a terminal shows them: the handle first, the id the first to give way.
FIELDS = ["handle", "name", "email", "company", "current_stage", "status", "owner", "value", "follow_up_at", "id"]
STALE_FIELDS = ["handle", "name", "email", "company", "current_stage", "owner", "last_contacted", "created_at", "id"]
WITH_HANDLES = [{**x, "handle": str(x["id"])[-10:]} for x in LEADS]
# User text that looks like Rich markup is shown as typed.
MARKUP = lead(0x1D, "Ada [/] Lovelace", "ada@example.com", "Negotiation", company="[bold]Acme", notes="[reverse]URGENT",
              owner="[i]sam", fields={"x[/]": "[red]y"}, tags=["[/tag]"],
              stage_history=[{"from_stage": None, "to_stage": "Negotiation", "changed_at": "2026-11-01T09:00:00.000+00:00", "by": "[b]ops", "notes": "[reverse]URGENT"}],
              activities=[{"type": "note", "at": "2026-11-02T09:00:00.000+00:00", "by": "ops", "note": "[blink]now[/blink]"}])  # fmt: skip


def draw(view: object, width: int = 100) -> str:
    buffer = io.StringIO()
    Console(file=buffer, width=width, force_terminal=True, color_system=None, highlight=False).print(view)
    return "\n".join(line.rstrip() for line in buffer.getvalue().splitlines()) + "\n"


def check_snapshot(name: str, text: str) -> None:
    path = SNAPSHOTS / f"{name}.txt"
    if os.environ.get("UPDATE_SNAPSHOTS"):
        SNAPSHOTS.mkdir(exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"no snapshot {path.name}: run with UPDATE_SNAPSHOTS=1 and review it"
    assert text == path.read_text(encoding="utf-8"), f"{path.name} changed; if intended, rerun with UPDATE_SNAPSHOTS=1"


VIEWS = {
    "show": lambda: rich_view.lead_card(ADA, PIPELINE, now=NOW),
    "list": lambda: rich_view.lead_table(WITH_HANDLES, FIELDS, PIPELINE, now=NOW, width=100),
    "list_narrow": lambda: rich_view.lead_table(WITH_HANDLES, FIELDS, PIPELINE, now=NOW, width=60),
    **{f"list_{w}": (lambda w=w: rich_view.lead_table(WITH_HANDLES, FIELDS, PIPELINE, now=NOW, width=w)) for w in (60, 80, 120)},
    **{f"stale_{w}": (lambda w=w: rich_view.lead_table(WITH_HANDLES, STALE_FIELDS, PIPELINE, now=NOW, width=w)) for w in (60, 80, 120)},
    **{f"followups_{w}": (lambda w=w: rich_view.lead_table(WITH_HANDLES, FIELDS, PIPELINE, now=NOW, width=w, keep=("follow_up_at",))) for w in (60, 80, 120)},
    **{f"show_{w}": (lambda w=w: rich_view.lead_card(ADA, PIPELINE, now=NOW, width=w)) for w in (60, 80, 120)},
    **{f"markup_card_{w}": (lambda w=w: rich_view.lead_card(MARKUP, PIPELINE, now=NOW, width=w)) for w in (60, 80, 120)},
    **{
        f"markup_list_{w}": (lambda w=w: rich_view.lead_table([{**MARKUP, "handle": "0000000001d"[-10:]}], FIELDS + ["tags", "notes"], PIPELINE, now=NOW, width=w))
        for w in (60, 80, 120)
    },
    "no_leads_match": lambda: rich_view.note("no leads match"),
    "stats": lambda: rich_view.stats_view(STATS, PIPELINE),
    "stats_without_pipeline": lambda: rich_view.stats_view(STATS),
    "stages": lambda: rich_view.stages_chart([{"stage": s["stage"], "count": s["count"]} for s in STATS["stages"]], PIPELINE),
}


@pytest.mark.parametrize("name", sorted(VIEWS))
def test_view_matches_snapshot(name: str) -> None:
    suffix = name.rsplit("_", 1)[-1]
    width = 60 if name.endswith("narrow") else int(suffix) if suffix.isdigit() else 100
    check_snapshot(name, draw(VIEWS[name](), width))


def test_stage_colours_are_the_same_in_every_view() -> None:
    palette = rich_view.StagePalette.of(PIPELINE)
    from_stats = rich_view.StagePalette([s["stage"] for s in STATS["stages"]], "Closed Won", "Closed Lost")
    assert palette.colors == from_stats.colors
    assert palette.color("Closed Won") == "green" and palette.color("Closed Lost") == "red"
    assert len({palette.color(s) for s in PIPELINE.stages}) == len(PIPELINE.stages)


# -- through the commands -----------------------------------------------------------------------


@pytest.fixture
def seeded(tmp_path: Path) -> str:
    db = str(tmp_path / "leads.db")
    for args in (
        ("--name", "Ada Lovelace", "--email", "ada@example.com", "--company", "Analytical Engines", "--value", "12000", "--follow-up", "-2d", "--tag", "vip"),
        ("--name", "Grace Hopper", "--email", "grace@example.com", "--stage", "negotiation", "--value", "5000"),
    ):
        assert invoke("--db", db, "add", *args).code == 0
    assert invoke("--db", db, "edit", "grace@example.com", "--stage", "closed-won").code == 0
    return db


COMMANDS = [("show", "ada@example.com"), ("list",), ("stages",), ("search", "ada"), ("list", "--fields", "name,current_stage")]


@pytest.mark.parametrize("args", COMMANDS, ids=lambda a: " ".join(a))
def test_commands_print_plain_text_into_a_pipe(seeded: str, args: tuple[str, ...]) -> None:
    result = invoke("--db", seeded, *args)
    assert result.code == 0, result.stderr
    assert result.stdout and not ANSI.search(result.stdout)
    assert not any(ch in result.stdout for ch in "─━│╭█"), "box drawing in a pipe"


@pytest.mark.parametrize("args", COMMANDS, ids=lambda a: " ".join(a))
def test_commands_draw_in_colour_on_a_terminal_unless_no_color(seeded: str, args: tuple[str, ...]) -> None:
    drawn = invoke("--db", seeded, *args, env={"LEADCLI_FORCE_TERMINAL": "1", "COLUMNS": "100"})
    assert drawn.code == 0, drawn.stderr
    assert re.search(r"\x1b\[[0-9;]*3[1-7]m", drawn.stdout), "no colour on a terminal"
    plain = invoke("--db", seeded, *args, env={"LEADCLI_FORCE_TERMINAL": "1", "COLUMNS": "100", "NO_COLOR": "1"})
    assert plain.code == 0
    assert not re.search(r"\x1b\[[0-9;]*3[0-7]m", plain.stdout), "colour despite NO_COLOR"


def test_list_in_a_pipe_keeps_every_column_and_value_whole(seeded: str) -> None:
    result = invoke("--db", seeded, "list", env={"COLUMNS": "40"})
    header = result.stdout.splitlines()[0].split()
    assert header == ["ID", "HANDLE", "NAME", "EMAIL", "COMPANY", "CURRENT_STAGE", "STATUS", "OWNER", "VALUE", "FOLLOW_UP_AT"]
    assert "Analytical Engines" in result.stdout


def test_show_in_a_pipe_lists_history_one_change_a_line(seeded: str) -> None:
    out = invoke("--db", seeded, "show", "grace@example.com").stdout
    assert re.search(r"^  \S+  - -> Negotiation  by tester$", out, re.M), out
    assert re.search(r"^  \S+  Negotiation -> Closed Won  by tester$", out, re.M), out


def test_list_on_a_narrow_terminal_hides_columns_and_says_which(seeded: str) -> None:
    result = invoke("--db", seeded, "list", env={"LEADCLI_FORCE_TERMINAL": "1", "COLUMNS": "60", "NO_COLOR": "1"})
    plain = re.sub(r"\x1b\[[0-9;]*m", "", result.stdout)
    assert "hidden to fit: company, status, owner, value, follow-up, id (use --fields)" in " ".join(plain.split())
    assert max(len(line) for line in plain.splitlines()) <= 60
