"""The LeadStore port: what services need from a store, and nothing about SQL or Mongo.

Leads pass through as dicts in the contract's shape (see `domain.lead`). Every write takes an
event draft (`type`, `by`, `changes`) that the store records with a new `seq` in the same
transaction where it has one, so `watch` sees exactly the writes that happened.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any, Protocol

from leadcli.domain.query import LeadQuery

Lead = dict[str, Any]
Event = dict[str, Any]


class ChangeFeed(Protocol):
    """What `LeadStore.changes` returns: events as they happen, for `watch` and `serve`."""

    @property
    def position(self) -> int:
        """The seq of the last leadcli event returned (changes by other apps have no seq)."""
        ...

    def poll(self, timeout: float) -> list[Event]:
        """The events that are ready, waiting up to `timeout` s for some; [] if none.
        StoreUnavailable when the store cannot be reached (the caller retries)."""
        ...

    def close(self) -> None: ...


class LeadStore(Protocol):
    uri_description: str

    def get(self, lead_id: str) -> Lead | None: ...

    def get_by_email(self, email: str) -> Lead | None: ...

    def get_all_by_email(self, email: str) -> list[Lead]:
        """Every lead whose email is `email` ignoring case, oldest first: at most one in a store
        only leadcli writes (it lowercases emails), several where another app stored case
        variants (the Leads Artisan web app keeps `Sq.Two@x` beside leadcli's `sq.two@x`)."""
        ...

    def find_by_prefix(self, prefix: str, limit: int = 2) -> list[Lead]:
        """Leads whose id starts with `prefix` (lowercase hex), at most `limit`."""
        ...

    def find_by_handle(self, prefix: str, limit: int = 2) -> list[Lead]:
        """Leads whose handle (`domain.handle.handle_of(id)`) starts with `prefix` (lowercase
        hex), at most `limit`, by an index."""
        ...

    def find_by_reference(self, key: str, limit: int = 2) -> list[Lead]:
        """What a LEAD argument of hex characters names: the leads whose handle starts with
        `key` (up to `limit`), then those whose id does (up to `limit`), each lead once."""
        ...

    def query_records(self, query: LeadQuery) -> Iterator[dict[str, Any]]:
        """`query`'s leads as JSON-ready records (`lead.to_jsonable`: ISO strings), streamed
        (SQLite hands out its stored documents as they are)."""
        ...

    def stage_stats(
        self, query: LeadQuery, closed: Sequence[str], now: datetime
    ) -> tuple[dict[str | None, tuple[int, float]], int, dict[str, tuple[float, int]]]:
        """What `stats` is made of, over the leads matching `query`: per current stage (leads,
        value); the engaged leads; per stage spent in (seconds summed over the leads that spent
        time there, those leads), a running stay ended at `now` unless its stage is `closed`."""
        ...

    def insert(self, lead: Lead, event: Event) -> Lead:
        """Add a new lead; Conflict if its email (or id) exists."""
        ...

    def replace(self, lead: Lead, expected_version: int, event: Event, before: Lead | None = None) -> Lead:
        """Compare-and-set: write `lead` if the stored one still has `expected_version`; the
        stored version becomes expected_version + 1. VersionConflict if it changed, NotFound if
        it is gone, Conflict if the new email belongs to another lead. `before`, the lead as it
        was read, lets a store shared with other apps write only what changed and see their
        writes since the read (MongoDB: `updated_at`, which the Leads Artisan backend sets)."""
        ...

    def find_by_emails(self, emails: Sequence[str]) -> list[Lead]:
        """The leads having any of `emails` (trimmed, lowercased); one round trip, for bulk import."""
        ...

    def write_batch(
        self, inserts: Sequence[tuple[Lead, Event]], updates: Sequence[tuple[Lead, int, Event]]
    ) -> list[Exception | None]:
        """Many writes at once, for bulk import: each insert as `insert(lead, event)`, each update
        `(lead, expected_version, event)` as `replace`, each with its event. Returns one entry per
        insert, then one per update: None when written, else the error that `insert`/`replace`
        would have raised (Conflict, VersionConflict, NotFound); the other writes still happen.
        SQLite: the whole batch is one transaction. MongoDB: each lead write is atomic, so a batch
        killed midway leaves whole leads; re-running the import with --upsert completes it."""
        ...

    def bulk_load(self, expected_inserts: Callable[[], int | None] | None = None) -> AbstractContextManager[None]:
        """Brackets a bulk load (an import: `write_batch` after `write_batch`); `expected_inserts`,
        asked as each batch is written: the inserts the caller now expects in all, if it can tell. The store may set index upkeep aside
        meanwhile and catch up at the end, as long as every committed write stays readable and
        a load killed midway leaves a store that reopens consistent. SQLite: see
        `SqliteStore.bulk_load`; MongoDB: nothing (each write is its own)."""
        ...

    def delete(self, lead: Lead, event: Event) -> None:
        """Delete if unchanged since read (same version); VersionConflict/NotFound otherwise."""
        ...

    def query(self, query: LeadQuery) -> Iterator[Lead]:
        """Matching leads in the query's order and page, streamed."""
        ...

    def count(self, query: LeadQuery) -> int: ...

    def stage_totals(self, query: LeadQuery, values: bool = True) -> dict[str | None, tuple[int, float]]:
        """Per stage: (number of matching leads, sum of their values; 0 when not `values`:
        a store may then spare the work of summing them)."""
        ...

    def events_after(self, seq: int, limit: int = 500) -> list[Event]:
        """Events with seq > `seq`, oldest first."""
        ...

    def last_seq(self) -> int: ...

    def changes(self, after: int, others: bool = True) -> ChangeFeed:
        """Every event after seq `after`, oldest first, none skipped, then each new one as it
        is written (SQLite: polled by `PRAGMA data_version`, following a replaced file; MongoDB:
        a change stream, or a tail by seq). On MongoDB also the writes other apps make to the
        shared `leads` collection, as events with seq None and `by` = FOREIGN_BY
        (`domain.foreign`): those are not logged, so `--since` cannot replay them. `others`
        False: leadcli's events only (no other app shares the store)."""
        ...

    def change_source(self) -> str:
        """How `changes` learns of writes, for `watch`/`serve` to say (and `doctor`)."""
        ...

    def ensure_indexes(self) -> list[str]:
        """Create whatever indexes (SQLite: and triggers) the store lacks, idempotently, for
        `doctor --fix`; returns what it could not fix or what it created, as text."""
        ...

    def describe(self, count_leads: bool = True) -> dict[str, Any]:
        """What `doctor` shows: backend, version, indexes, counts, live-update capability.
        `count_leads=False`: `leads` is None, for a caller that counts them on its own pass."""
        ...

    def close(self) -> None: ...
