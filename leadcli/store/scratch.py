"""Scratch space for one command's bookkeeping, outside the lead store: a private, temporary
SQLite database that spills to a temporary file when it grows, so a million-row import does not
hold a million keys in Python memory."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence

from leadcli.domain.lead import from_jsonable, to_jsonable
from leadcli.store.base import Lead
from leadcli.store.sql import select_in

# Page cache of a scratch database (KiB, as a negative cache_size): a million-row import's
# emails are ~50 MB of B-tree probed and grown at random places; with SQLite's default 2 MB
# most probes reread spilled pages (at 1M rows 12.8 against 8.9 us of CPU per row). Only
# what is used is allocated.
SCRATCH_CACHE_KIB = -65536


class FirstRows:
    """Each key (an import's email) with the row it was first seen in; and, for a dry run, which
    writes nothing the store could tell, each id the file gave a lead it would insert, with
    that lead's email."""

    def __init__(self) -> None:
        self.db = sqlite3.connect("")  # "": a temporary on-disk database, deleted on close
        self.db.execute(f"PRAGMA cache_size = {SCRATCH_CACHE_KIB}")
        self.db.execute("CREATE TABLE seen (key TEXT PRIMARY KEY, row INTEGER NOT NULL)")
        self.db.execute("CREATE TABLE ids (id TEXT PRIMARY KEY, email TEXT NOT NULL)")

    def rows(self, keys: Sequence[str]) -> dict[str, int]:
        """The keys already recorded, with their first row."""
        return dict(select_in(self.db.execute, "SELECT key, row FROM seen WHERE key IN ({})", keys))

    def add(self, pairs: Sequence[tuple[str, int]]) -> None:
        """Record (key, row) pairs; a key already recorded keeps its first row."""
        self.db.executemany("INSERT OR IGNORE INTO seen (key, row) VALUES (?, ?)", pairs)

    def emails_of(self, ids: Sequence[str]) -> dict[str, str]:
        """The ids recorded by `add_ids`, with their lead's email."""
        return dict(select_in(self.db.execute, "SELECT id, email FROM ids WHERE id IN ({})", ids))

    def add_ids(self, pairs: Sequence[tuple[str, str]]) -> None:
        self.db.executemany("INSERT OR IGNORE INTO ids (id, email) VALUES (?, ?)", pairs)

    def close(self) -> None:
        self.db.close()


class Drafts:
    """Leads as a dry run would have written them, by email, so a later row for the same email
    (an `--upsert --dry-run` file that names a lead twice) is checked against what the real run
    would find there, and counted as the real run would count it."""

    def __init__(self) -> None:
        self.db = sqlite3.connect("")
        self.db.execute("CREATE TABLE drafts (email TEXT PRIMARY KEY, doc TEXT NOT NULL)")

    def get(self, emails: Sequence[str]) -> dict[str, Lead]:
        rows = select_in(self.db.execute, "SELECT email, doc FROM drafts WHERE email IN ({})", emails)
        return {email: from_jsonable(json.loads(doc)) for email, doc in rows}

    def put(self, leads: Sequence[Lead]) -> None:
        rows = [(lead["email"], json.dumps(to_jsonable(lead))) for lead in leads]
        self.db.executemany("INSERT OR REPLACE INTO drafts (email, doc) VALUES (?, ?)", rows)

    def close(self) -> None:
        self.db.close()
