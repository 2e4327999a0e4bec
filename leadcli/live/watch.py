"""The `watch` use case: events from the local store or a `serve` feed, filtered by a LeadQuery
applied to each event's lead, as JSON-ready dicts in the contract's shape."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

from leadcli.domain.events import event_to_jsonable
from leadcli.domain.matching import matches
from leadcli.domain.query import LeadQuery
from leadcli.live.feed import RECONNECT_BUDGET_S, follow_tail
from leadcli.services.context import Workspace
from leadcli.store.base import LeadStore


def store_events(
    ws: Workspace,
    since: int | None,
    *,
    until: float | None,
    budget: float = RECONNECT_BUDGET_S,
    stop: Callable[[], bool] = lambda: False,
) -> Iterator[dict[str, Any]]:
    """Every event after `since` (None: only new ones) from the workspace's store."""
    store = ws.store
    start = store.last_seq() if since is None else since
    tail = store.changes(start, others=ws.web_app)  # other apps' writes where one shares the store
    try:
        for event in follow_tail(tail, until=until, budget=budget, what=f"the store {store.uri_description}", stop=stop):
            yield event_to_jsonable(event)
    finally:
        tail.close()


def store_opener(ws: Workspace) -> Callable[[], LeadStore]:
    """Opens another connection to the workspace's store (`serve` gives each thread its own)."""
    settings = ws.settings

    def open_one() -> LeadStore:
        from leadcli.store import open_store

        return open_store(settings.db, database=settings.database)

    return open_one


def select(events: Iterable[dict[str, Any]], query: LeadQuery, count: int | None) -> Iterator[dict[str, Any]]:
    """The events whose lead passes the filters, at most `count` of them."""
    if count is not None and count <= 0:
        return
    seen = 0
    for event in events:
        if matches(event.get("lead"), query):
            yield event
            seen += 1
            if count is not None and seen >= count:
                return
