"""Leads for tests, written straight through a store with chosen timestamps and histories (the
CLI stamps `now`; these tests need the past, exact ties and no sleeping), built by the same
`new_lead` the services use. Also a reference implementation of LeadQuery ordering to check
stores against."""

from __future__ import annotations

import itertools
import os
from datetime import UTC, datetime, timedelta
from typing import Any

from leadcli.domain.lead import history_entry, new_lead
from leadcli.domain.pipeline import DEFAULT_STAGES
from leadcli.store import open_store

PIPELINE = DEFAULT_STAGES
BASE = datetime(2026, 1, 5, 9, 30, 0, 123000, tzinfo=UTC)
T0 = datetime(2024, 1, 1, tzinfo=UTC)

_EMAILS = itertools.count(1)


def unique_email() -> str:
    """A unique address of digits only: a random hex one (an id) held letters that a search
    test's text could match by chance (`ée` folds to `ee`, found in ~9% of hex ids)."""
    return f"{os.getpid()}{next(_EMAILS):06d}@example.com"


def make_lead(**overrides: Any) -> dict[str, Any]:
    """A lead in the shape services hand to a store (Ada Lovelace, New Lead, at BASE)."""
    created = overrides.pop("created_at", BASE)
    stage = overrides.pop("current_stage", "New Lead")
    return new_lead("Ada Lovelace", unique_email(), stage, created, "tester", **overrides)


def lead(name: str, **fields: Any) -> dict[str, Any]:
    """A lead named `name` (a unique email unless given), created at T0 unless given."""
    created = fields.pop("created_at", T0)
    stage = fields.pop("current_stage", "New Lead")
    email = fields.pop("email", None) or unique_email()
    return new_lead(name, email, stage, created, "seed", **fields)


def at(when: str | datetime) -> datetime:
    """`2026-03-01` or `2026-03-01T12:00` as an aware UTC datetime (datetimes pass through)."""
    if isinstance(when, datetime):
        return when
    return datetime.fromisoformat(when).replace(tzinfo=UTC)


def lead_with_moves(
    email: str,
    *,
    moves: list[tuple[str, str | datetime]] | None = None,
    created: str | datetime = "2026-01-01",
    **fields: Any,
) -> dict[str, Any]:
    """A lead whose history is `moves` [(stage, when), …]; the first move is its creation
    (defaults to New Lead at `created`). Other keyword arguments set fields as they are."""
    moves = moves or [("New Lead", created)]
    history, previous = [], None
    for stage, when in moves:
        history.append(history_entry(previous, stage, at(when), "fixture", None))
        previous = stage
    last_move = history[-1]["changed_at"]
    record = new_lead(
        email.split("@")[0].title(), email, previous, at(moves[0][1]), "fixture",
        stage_history=history, stage_updated_at=last_move, updated_at=last_move,
    )  # fmt: skip
    if fields.get("engaged"):
        record["status"] = "Engaged"
    for key, value in fields.items():
        record[key] = at(value) if key in ("last_contacted", "follow_up_at") and value is not None else value
    return record


def event(kind: str = "lead_created", **changes: Any) -> dict[str, Any]:
    return {"type": kind, "by": "tester", "at": BASE + timedelta(hours=1), "changes": changes}


def insert(store: Any, record: dict[str, Any]) -> dict[str, Any]:
    return store.insert(record, {"type": "lead_created", "by": "fixture", "at": record["created_at"], "changes": {}})


def seed(store_uri: str, leads: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Write `leads` into the store at `store_uri` (opened and closed here)."""
    store = open_store(store_uri)
    try:
        for record in leads:
            store.insert(record, {"type": "lead_created", "by": "seed", "at": record["created_at"], "changes": {}})
    finally:
        store.close()
    return leads


def _key(value: Any) -> tuple[int, Any]:
    # SQLite (and MongoDB) order: NULL before any value.
    return (0, "") if value is None else (1, value)


def reference_order(leads: list[dict[str, Any]], sort: str, descending: bool, stage_order: tuple[str, ...] = ()) -> list[str]:
    """The ids of `leads` in the order the contract defines: by `sort` (current_stage in
    pipeline order, unknown or no stage after every pipeline stage), ties by id."""

    def key(record: dict[str, Any]) -> tuple[Any, str]:
        if sort == "current_stage" and stage_order:
            stage = record.get("current_stage")
            primary: Any = stage_order.index(stage) if stage in stage_order else len(stage_order)
        else:
            primary = _key(record.get(sort))
        return (primary, record["id"])

    return [record["id"] for record in sorted(leads, key=key, reverse=descending)]
