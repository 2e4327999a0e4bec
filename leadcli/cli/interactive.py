"""`edit LEAD` on a terminal with no field options: ask for each main field, showing the current
value as the default. Only ever called when stdin is a TTY; scripts never see a prompt."""

from __future__ import annotations

from typing import Any

from leadcli.cli.console import info
from leadcli.domain.errors import InvalidInput
from leadcli.services import leads as svc
from leadcli.services.context import Workspace

# (option name as in `values`, label, lead field, may be cleared with "-")
PROMPTED = (
    ("name", "Name", "name", False),
    ("email", "Email", "email", False),
    ("company", "Company", "company", True),
    ("phone", "Phone", "phone", True),
    ("current_stage", "Stage", "current_stage", False),
    ("status", "Status", "status", True),
    ("owner", "Owner", "owner", True),
    ("value", "Value", "value", True),
    ("follow_up_at", "Follow-up", "follow_up_at", True),
    ("notes", "Notes", "notes", True),
)
CLEAR = "-"


def shown(ws: Workspace, field: str, value: Any) -> str:
    """A field's current value as the prompt shows it (and as typing it back keeps it)."""
    if value is None:
        return ""
    if field == "follow_up_at":
        return value.astimezone(ws.zone).strftime("%Y-%m-%d %H:%M")
    if field == "value":
        return f"{value:g}" if float(value).is_integer() and abs(value) < 1e15 else str(value)
    return str(value)


def ask_changes(ws: Workspace, lead: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """(option values, fields to unset) for what the user changed; an answer that does not
    validate is explained and asked again, so the one write at the end cannot fail on it."""
    info(f"Editing {lead['name']} <{lead['email']}>: Enter keeps a value, {CLEAR} clears it.")
    values: dict[str, Any] = {}
    unset: list[str] = []
    for option, label, field, clearable in PROMPTED:
        current = shown(ws, field, lead.get(field))
        while True:
            answer = ask(f"{label} [{current}]: " if current else f"{label}: ") or current
            if answer == current:
                break
            if answer in ("", CLEAR):
                if clearable:
                    if current:
                        unset.append(field)
                    break
                info(f"  {label.lower()} cannot be empty")
                continue
            try:
                svc.check_changes(ws, svc.changes_from_options(ws, {option: answer}))
            except InvalidInput as exc:
                info(f"  {exc}")
                continue
            values[option] = answer
            break
    return values, unset


def ask(question: str) -> str:
    """One answer from the terminal; the question goes to stderr so stdout holds only the
    result (click's prompt writes a space to stdout). End of input cancels the edit."""
    import sys

    import typer

    from leadcli.domain.text import escaped

    sys.stderr.write(escaped(question))  # the current value, as every view shows it
    sys.stderr.flush()
    line = sys.stdin.readline()
    if not line:
        info("\ncancelled: nothing changed")
        raise typer.Exit(1)
    return line.strip()
