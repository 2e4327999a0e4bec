"""Dates typed without a zone are read in the machine's local timezone (no `timezone` in the
config): at that date's own UTC offset, not at the offset the zone has today."""

from __future__ import annotations

from pathlib import Path

from conftest import run_process


def test_local_dates_use_the_offset_of_their_own_day_across_dst(tmp_path: Path) -> None:
    db = str(tmp_path / "leads.db")
    env = {"TZ": "Europe/Paris"}  # UTC+1 in winter, UTC+2 in summer, whatever today is
    winter = run_process("--db", db, "add", "--name", "W", "--email", "w@example.com", "--follow-up", "2027-01-15T09:00", "-o", "json", env=env)
    summer = run_process("--db", db, "add", "--name", "S", "--email", "s@example.com", "--follow-up", "2027-07-15T09:00", "-o", "json", env=env)
    assert winter.code == 0 and summer.code == 0, winter.stderr + summer.stderr
    assert winter.json()["follow_up_at"] == "2027-01-15T08:00:00.000+00:00"
    assert summer.json()["follow_up_at"] == "2027-07-15T07:00:00.000+00:00"
    # A bare day runs from its local midnight to the next: the end of 15 July is 21:59:59.999Z.
    late = run_process("--db", db, "add", "--name", "L", "--email", "l@example.com", "--follow-up", "2027-07-16T00:30", "-o", "json", env=env)
    assert late.json()["follow_up_at"] == "2027-07-15T22:30:00.000+00:00"
    due = run_process("--db", db, "followups", "--due", "2027-07-15", "-o", "ids", env=env)
    assert due.code == 0, due.stderr
    assert len(due.stdout.split()) == 2
