"""`doctor`: what the store says about itself, optionally after repairing what leadcli can
(indexes; on a store shared with the Leads Artisan web app, leads it cannot read where a safe
repair exists). Everything goes through the LeadStore port."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from leadcli.services.context import Workspace
from leadcli.store.base import Lead

# How many leads (or email groups) the problem line names before "and N more": the report
# itself lists every one.
NAMED_IN_PROBLEM = 3


def doctor_report(ws: Workspace, *, fix: bool = False) -> dict[str, Any]:
    """The store's description; `problems` lists what needs a human (e.g. duplicate emails
    that keep MongoDB's unique index from building, leads the web app cannot read)."""
    store = ws.store
    fixed: list[str] = []
    if fix:
        store.ensure_indexes()
        fixed.append("indexes checked and created where missing")
    # On MongoDB the leads are counted on the pass the checks make (one read of the collection
    # instead of two: FerretDB v1 reads every document for a count too).
    walk = _may_hold_foreign_leads(ws)
    report: dict[str, Any] = {"store": store.uri_description, **store.describe(count_leads=not walk)}
    report.setdefault("problems", [])
    report["problems"] += settings_problems(ws)
    if walk:
        checks = _lead_checks(ws, fix, fixed)
        report["leads"] = checks.pop("leads")
        report["problems"] += checks.pop("problems")
        report.update(checks)
    if fixed:
        report["fixed"] = "; ".join(fixed)
    return report


def _may_hold_foreign_leads(ws: Workspace) -> bool:
    """Leads written by another app (capitalised emails, documents the web app cannot read) can
    only be in a MongoDB store: leadcli writes every SQLite lead itself."""
    from leadcli.store import is_mongo_uri

    return is_mongo_uri(ws.settings.db)


def _lead_checks(ws: Workspace, fix: bool, fixed: list[str]) -> dict[str, Any]:
    """One pass over the leads: the ones the Leads Artisan web app cannot read (when it shares
    the store) and the emails stored in several case variants (`Sq.Two@x` beside `sq.two@x`:
    the web app keeps an email's case, leadcli lowercases it)."""
    from leadcli.domain.artisan import problems
    from leadcli.domain.query import LeadQuery

    unreadable: list[tuple[Lead, dict[str, str]]] = []
    # Streamed: only each lead's (email, id) is kept, not the lead (at 100,000 leads, holding
    # every lead for the case-variant check took hundreds of MB).
    by_email: dict[str, list[tuple[str, str]]] = {}
    leads = 0
    for lead in ws.store.query(LeadQuery()):
        leads += 1
        email = lead.get("email")
        if isinstance(email, str):
            by_email.setdefault(email.strip().lower(), []).append((email, lead["id"]))
        if ws.web_app and (found := problems(lead)):
            unreadable.append((lead, found))
    if fix and unreadable:
        unreadable = _repair(ws, unreadable, fixed)
    variants = [[{"email": e, "id": i} for e, i in group] for group in by_email.values() if len({e for e, _ in group}) > 1]
    out: dict[str, Any] = {"leads": leads}
    found_problems: list[str] = []
    if ws.web_app:
        out["web_app_unreadable"] = [f"{lead['id']} {lead.get('email')}: {'; '.join(found.values())}" for lead, found in unreadable]
        if unreadable:
            found_problems.append(_unreadable_problem(unreadable))
    out["email_case_variants"] = [" / ".join(f"{lead['email']} ({lead['id']})" for lead in group) for group in variants]
    if variants:
        found_problems.append(_variants_problem(variants))
    out["problems"] = found_problems
    return out


def _repair(ws: Workspace, unreadable: list[tuple[Lead, dict[str, str]]], fixed: list[str]) -> list[tuple[Lead, dict[str, str]]]:
    """Write the safe repairs (domain/artisan.repair) of each lead they make readable, as any
    leadcli write (compare-and-set, an event); the rest are left for a person."""
    from datetime import datetime

    from leadcli.domain.artisan import problems, repair
    from leadcli.domain.errors import LeadError
    from leadcli.services.leads import update_lead

    left: list[tuple[Lead, dict[str, str]]] = []
    repaired = 0
    for lead, found in unreadable:
        candidate, _done = repair(lead)
        if problems(candidate):
            left.append((lead, found))
            continue

        def change(copy: Lead, _now: datetime) -> Lead:
            return repair(copy)[0]

        try:
            update_lead(ws, lead, change)
        except LeadError as exc:
            left.append((lead, {**found, "repair": f"could not repair: {exc.message}"}))
            continue
        repaired += 1
    if repaired:
        fixed.append(f"{repaired} lead(s) made readable by the Leads Artisan web app (an empty status set to the engagement word)")
    return left


def _unreadable_problem(unreadable: list[tuple[Lead, dict[str, str]]]) -> str:
    named = ", ".join(f"{lead['id']} ({next(iter(found.values()))})" for lead, found in unreadable[:NAMED_IN_PROBLEM])
    more = f" and {len(unreadable) - NAMED_IN_PROBLEM} more" if len(unreadable) > NAMED_IN_PROBLEM else ""
    return (
        f"{_leads(len(unreadable))} the Leads Artisan web app cannot read (each makes the web app's list pages "
        f"that hold it fail): {named}{more}, all listed under web_app_unreadable; set what is missing with "
        "`leadcli edit ID --company NAME` (or --name, --status), and `leadcli doctor --fix` repairs an empty status"
    )


def _variants_problem(groups: Iterable[list[dict[str, str]]]) -> str:
    groups = list(groups)
    named = ", ".join(" / ".join(lead["email"] for lead in group) for group in groups[:NAMED_IN_PROBLEM])
    more = f" and {len(groups) - NAMED_IN_PROBLEM} more" if len(groups) > NAMED_IN_PROBLEM else ""
    return (
        f"{len(groups)} email(s) stored in several case variants: {named}{more} (listed under email_case_variants); "
        "leadcli cannot tell them apart by email: merge or delete the duplicates, naming each lead by its id"
    )


def _leads(n: int) -> str:
    return f"{n} lead" if n == 1 else f"{n} leads"


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
