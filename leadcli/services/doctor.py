"""`doctor`: what the store says about itself, optionally after repairing what leadcli can
(indexes on MongoDB; SQLite migrates itself on open)."""

from __future__ import annotations

from typing import Any

from leadcli.services.context import Workspace


def doctor_report(ws: Workspace, *, fix: bool = False) -> dict[str, Any]:
    """The store's description; `problems` lists what needs a human (e.g. duplicate emails
    that keep MongoDB's unique index from building)."""
    store = ws.store
    fixed = None
    if fix and hasattr(store, "ensure_indexes"):
        store.ensure_indexes()
        fixed = "indexes checked and created where missing"
    report: dict[str, Any] = {"store": store.uri_description, **store.describe()}
    report.setdefault("problems", [])
    report["problems"] += settings_problems(ws)
    if fixed:
        report["fixed"] = fixed
    return report


def settings_problems(ws: Workspace) -> list[str]:
    """Settings that load but would fail the first command that uses them (a timezone typo
    breaks every date a cron job parses), so `doctor` names them up front."""
    from leadcli.domain.errors import LeadError

    problems = []
    for check in (lambda: ws.zone, lambda: ws.pipeline):
        try:
            check()
        except LeadError as exc:
            problems.append(exc.message)
    return problems
