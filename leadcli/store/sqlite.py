"""The embedded store: one SQLite file, so leadcli works on a fresh machine with no server.

Columns for what is filtered and sorted, the whole record as JSON in `doc`; WAL and a busy
timeout so several processes can write at once; `BEGIN IMMEDIATE` so a write never upgrades a
read lock into a deadlock; every user value goes in as a parameter.
"""

from __future__ import annotations

import functools
import json
import os
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

from leadcli.domain.dates import iso, now_utc, to_utc
from leadcli.domain.errors import Conflict, InvalidInput, NotFound, StoreUnavailable, VersionConflict
from leadcli.domain.folding import PAD, fold
from leadcli.domain.handle import HANDLE_LENGTH
from leadcli.domain.lead import from_jsonable, to_jsonable
from leadcli.domain.query import STORE_SORT_FIELDS, LeadQuery
from leadcli.domain.stays import split_stays
from leadcli.store.base import ChangeFeed, Event, Lead
from leadcli.store.sql import select_in

BUSY_TIMEOUT_S = 10.0
# Page cache for bulk writes (KiB, as a negative cache_size): a batch touches pages all over a
# dozen indexes; the default 2 MB evicts and rereads them. Set by each bulk write: a quarter of
# the file, between these bounds — the indexes' working set grows with the store, and at 300k
# leads 256 MB instead of 64 MB took 13% less import CPU (peak memory 358 MB instead of 147).
BULK_CACHE_KIB = -65536
BULK_CACHE_MAX_KIB = -262144
# Page size of a new store (an existing file keeps its own). A lead row with its JSON document
# is ~1 KB and a dozen indexes grow at random places: 8 KiB pages split less, make shallower
# trees and fewer WAL frames than the 4 KiB default (a 50,000-row import ~10% less CPU), while
# a one-lead edit still rewrites only ~14 small pages.
PAGE_SIZE = 8192


def _run_script(db: sqlite3.Connection, script: str) -> None:
    """Execute statements one by one inside the caller's transaction (`executescript` would
    commit it first, and another process could then migrate in between)."""
    statement = ""
    for line in script.splitlines(keepends=True):
        statement += line
        if sqlite3.complete_statement(statement):
            db.execute(statement)
            statement = ""
    if statement.strip():
        raise ValueError(f"incomplete SQL statement in migration: {statement!r}")


def _m1_leads_and_events(db: sqlite3.Connection) -> None:
    _run_script(
        db,
        """
        CREATE TABLE leads (
            pk INTEGER PRIMARY KEY,
            id TEXT NOT NULL UNIQUE,
            email TEXT NOT NULL UNIQUE,
            name TEXT NOT NULL,
            company TEXT,
            notes TEXT,
            current_stage TEXT,
            status TEXT,
            engaged INTEGER NOT NULL DEFAULT 0,
            owner TEXT,
            source TEXT,
            value REAL,
            tags TEXT NOT NULL DEFAULT '[]',
            follow_up_at TEXT,
            last_contacted TEXT,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            version INTEGER NOT NULL,
            doc TEXT NOT NULL
        );
        CREATE INDEX leads_created ON leads (created_at, id);
        CREATE INDEX leads_updated ON leads (updated_at, id);
        CREATE INDEX leads_stage ON leads (current_stage, created_at);
        CREATE INDEX leads_name ON leads (name, id);
        CREATE INDEX leads_company ON leads (company, id);
        CREATE INDEX leads_value ON leads (value, id);
        CREATE INDEX leads_owner ON leads (owner COLLATE NOCASE);
        CREATE INDEX leads_follow_up ON leads (follow_up_at);
        CREATE INDEX leads_last_contacted ON leads (last_contacted, id);
        CREATE TABLE events (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            type TEXT NOT NULL,
            at TEXT NOT NULL,
            by TEXT,
            lead_id TEXT NOT NULL,
            data TEXT NOT NULL
        );
        CREATE INDEX events_lead ON events (lead_id, seq);
        """
    )


def _m2_substring_search(db: sqlite3.Connection) -> None:
    """A trigram index makes `--search` a substring lookup instead of a scan of every lead."""
    _run_script(
        db,
        """
        CREATE VIRTUAL TABLE leads_fts USING fts5(
            name, email, company, notes, content='leads', content_rowid='pk', tokenize='trigram'
        );
        INSERT INTO leads_fts (rowid, name, email, company, notes)
            SELECT pk, name, email, company, notes FROM leads;
        CREATE TRIGGER leads_fts_insert AFTER INSERT ON leads BEGIN
            INSERT INTO leads_fts (rowid, name, email, company, notes)
            VALUES (new.pk, new.name, new.email, new.company, new.notes);
        END;
        CREATE TRIGGER leads_fts_delete AFTER DELETE ON leads BEGIN
            INSERT INTO leads_fts (leads_fts, rowid, name, email, company, notes)
            VALUES ('delete', old.pk, old.name, old.email, old.company, old.notes);
        END;
        CREATE TRIGGER leads_fts_update AFTER UPDATE OF name, email, company, notes ON leads BEGIN
            INSERT INTO leads_fts (leads_fts, rowid, name, email, company, notes)
            VALUES ('delete', old.pk, old.name, old.email, old.company, old.notes);
            INSERT INTO leads_fts (rowid, name, email, company, notes)
            VALUES (new.pk, new.name, new.email, new.company, new.notes);
        END;
        """
    )


def _m3_filter_indexes(db: sqlite3.Connection) -> None:
    """Indexes for the filters people combine most: "my leads" (owner) newest first or by stage
    and value, and a tag table so `--tag` is a B-tree lookup instead of parsing every lead's JSON."""
    _run_script(
        db,
        """
        DROP INDEX leads_owner;
        CREATE INDEX leads_owner_created ON leads (owner COLLATE NOCASE, created_at, id);
        CREATE INDEX leads_owner_stage_value ON leads (owner COLLATE NOCASE, current_stage, value, id);
        CREATE INDEX leads_stage_value ON leads (current_stage, value, id);
        CREATE TABLE lead_tags (tag TEXT NOT NULL, pk INTEGER NOT NULL, PRIMARY KEY (tag, pk)) WITHOUT ROWID;
        INSERT OR IGNORE INTO lead_tags (tag, pk) SELECT j.value, leads.pk FROM leads, json_each(leads.tags) AS j;
        CREATE TRIGGER lead_tags_insert AFTER INSERT ON leads BEGIN
            INSERT OR IGNORE INTO lead_tags (tag, pk) SELECT value, new.pk FROM json_each(new.tags);
        END;
        CREATE TRIGGER lead_tags_delete AFTER DELETE ON leads BEGIN
            DELETE FROM lead_tags WHERE pk = old.pk;
        END;
        CREATE TRIGGER lead_tags_update AFTER UPDATE OF tags ON leads BEGIN
            DELETE FROM lead_tags WHERE pk = old.pk;
            INSERT OR IGNORE INTO lead_tags (tag, pk) SELECT value, new.pk FROM json_each(new.tags);
        END;
        """
    )


def _m4_index_in_the_store(db: sqlite3.Connection) -> None:
    """The store, not per-row triggers, keeps the search index and the tag table in step with
    inserts and updates, one statement per write (a whole import batch at once): a trigger made
    every INSERT or UPDATE keep a statement journal (the ~14 pages it touches, copied, spilled
    to a temp file) and flushed FTS5 once per row, which made an import 3x and an --upsert
    import 10x slower. Deletes, one lead at a time, keep their triggers."""
    _run_script(
        db,
        """
        DROP TRIGGER leads_fts_insert;
        DROP TRIGGER leads_fts_update;
        DROP TRIGGER lead_tags_insert;
        DROP TRIGGER lead_tags_update;
        """
    )


def _m5_drop_unused_indexes(db: sqlite3.Connection) -> None:
    """Indexes no query uses, each one more B-tree every write updates (an import pays for
    every row): nothing reads events by lead (`history` reads the lead's stage_history, the
    feed reads by seq), and the planner never picks `follow_up_at` alone: `followups` and
    `--follow-up-before` sort by another column, so they walk that column's index instead
    (EXPLAIN QUERY PLAN, with and without LIMIT)."""
    _run_script(
        db,
        """
        DROP INDEX events_lead;
        DROP INDEX leads_follow_up;
        """
    )


def _m6_lead_handles(db: sqlite3.Connection) -> None:
    """An index on each lead's handle, the last 10 characters of its id (domain/handle.py), so
    `leadcli show 3c4d5e6f70` is an index lookup. An expression index: nothing to keep in step."""
    _run_script(
        db,
        """
        CREATE INDEX leads_handle ON leads (substr(id, 15));
        """
    )


def _m7_folded_search(db: sqlite3.Connection) -> None:
    """Search that ignores accents as well as case, and short searches through an index.

    `leads_search` replaces `leads_fts`: a trigram index over the *folded* text of name, email,
    company and notes (`domain.folding.fold`: `Müller` is indexed as `muller`, so `muller`,
    `Muller` and `müller` all find it), each value followed by two `PAD` characters so that the
    last one or two characters of a value also start a trigram: a 1-2 character search expands,
    through the `leads_search_terms` vocabulary, to the trigrams that start with it. The table
    keeps its own (folded) copy of the text: deleting by rowid needs no function, so another
    tool deleting a lead keeps it in step (the delete trigger).

    `leads_follow_up`: `followups` reads the due leads in follow-up order from this index
    (partial: leads without a follow-up cost an import nothing)."""
    _run_script(
        db,
        f"""
        DROP TRIGGER leads_fts_delete;
        DROP TABLE leads_fts;
        CREATE VIRTUAL TABLE leads_search USING fts5(name, email, company, notes, tokenize='trigram');
        CREATE VIRTUAL TABLE leads_search_terms USING fts5vocab(leads_search, col);
        INSERT INTO leads_search (rowid, name, email, company, notes) {_SEARCH_ROWS};
        CREATE TRIGGER leads_search_delete AFTER DELETE ON leads BEGIN
            DELETE FROM leads_search WHERE rowid = old.pk;
        END;
        CREATE INDEX leads_follow_up ON leads (follow_up_at, id) WHERE follow_up_at IS NOT NULL;
        """,
    )


# The search index's row of each lead (see _m7); `leadcli_search_text` is registered on every
# connection the store opens.
_SEARCH_ROWS = (
    "SELECT pk, leadcli_search_text(name), leadcli_search_text(email), leadcli_search_text(company),"
    " leadcli_search_text(notes) FROM leads"
)


def _m8_stage_stays(db: sqlite3.Connection) -> None:
    """`stats` from aggregates kept as leads move: `lead_stays` holds, per lead and stage it
    spent time in, the seconds of its finished stays there and the start of its running stay
    (`domain.stays`). The store writes a lead's rows with the lead; `stats` sums them per
    stage, ending running stays at "now" in open stages (closed ones are the pipeline's, known
    only when the report runs). Reading every lead's history for each report cost 20x
    sqlite-utils at 1M leads. Existing leads are filled here, from their documents, in SQL.
    Two covering indexes make the report index scans, never reads of the lead rows (each holds
    a whole document): `lead_stays_stage` for days per stage, `leads_engaged` (partial: the
    engaged leads) for the engaged count — the per-stage counts and values already have
    `leads_stage_value`. At 100k leads that took the report from 0.47 s of SQL to ~0.15 s."""
    _run_script(
        db,
        f"""
        CREATE TABLE lead_stays (
            pk INTEGER NOT NULL, stage TEXT NOT NULL, finished REAL, running_since TEXT, PRIMARY KEY (pk, stage)
        ) WITHOUT ROWID;
        INSERT INTO lead_stays (pk, stage, finished, running_since) {_STAYS_FROM_DOCUMENTS};
        CREATE INDEX lead_stays_stage ON lead_stays (stage, finished, running_since);
        CREATE INDEX leads_engaged ON leads (current_stage) WHERE engaged = 1;
        CREATE TRIGGER lead_stays_delete AFTER DELETE ON leads BEGIN
            DELETE FROM lead_stays WHERE pk = old.pk;
        END;
        """,
    )


# Every lead's `lead_stays` rows from its document (see _m8): its history entries with a stage
# and a time in order, then its current stage from stage_updated_at (else created_at) unless
# the history ends there; each stay ends at the next one's start; the last one is running.
_STAYS_FROM_DOCUMENTS = """
WITH entries AS (
    SELECT leads.pk, entry.key AS k, entry.value ->> 'to_stage' AS stage, entry.value ->> 'changed_at' AS since,
           entry.value ->> 'leadcli_current' AS current
    FROM leads, json_each(json_insert(
        coalesce(leads.doc -> 'stage_history', '[]'), '$[#]',
        json_object('to_stage', leads.current_stage, 'changed_at', coalesce(leads.doc ->> 'stage_updated_at', leads.created_at),
                    'leadcli_current', 1))) AS entry
    WHERE entry.type = 'object'),
kept AS (
    SELECT pk, k, stage, since, current, lag(stage) OVER (PARTITION BY pk ORDER BY k) AS previous FROM entries
    WHERE stage IS NOT NULL AND since IS NOT NULL),
stays AS (
    SELECT pk, stage, since, lead(since) OVER (PARTITION BY pk ORDER BY k) AS until FROM kept
    WHERE current IS NULL OR previous IS NOT stage)
SELECT pk, stage,
       sum(CASE WHEN until IS NOT NULL THEN max(0.0, round((julianday(until) - julianday(since)) * 86400.0, 3)) END),
       max(CASE WHEN until IS NULL THEN since END)
FROM stays GROUP BY pk, stage
"""

# Per stage: seconds spent (finished stays, plus running ones up to ? in open stages) summed
# over the leads that spent time there, and those leads. {leads} narrows to the matching leads.
_STAGE_SECONDS_SQL = """
SELECT stage, total(coalesce(finished, 0.0) + CASE WHEN running_since IS NOT NULL AND {open}
                    THEN max(0.0, round((julianday(?) - julianday(running_since)) * 86400.0, 3)) ELSE 0.0 END),
       count(*)
FROM lead_stays WHERE {leads}(finished IS NOT NULL OR (running_since IS NOT NULL AND {open})) GROUP BY stage
"""


def _stay_rows(pk: int, lead: Lead) -> list[tuple[Any, ...]]:
    """The lead's `lead_stays` rows (see _m8)."""
    history = lead.get("stage_history")
    if history and len(history) == 1:  # a new lead (every imported one): one running stay
        stage, at = history[0].get("to_stage"), history[0].get("changed_at")
        if stage is not None and stage == lead.get("current_stage") and isinstance(at, datetime):
            return [(pk, stage, None, _iso_cached(to_utc(at)))]
    finished, running = split_stays(lead)
    stages = dict.fromkeys([*finished, *([running[0]] if running else [])])
    return [
        (pk, stage, finished.get(stage), iso(running[1]) if running and running[0] == stage else None)
        for stage in stages
    ]


def _write_stays(db: sqlite3.Connection, leads: list[tuple[int, Lead]], *, replace: bool = False) -> None:
    """Store these leads' stays; `replace`: they had rows, rewritten only where they differ."""
    rows: list[tuple[Any, ...]] = []
    changed: list[tuple[int]] = []
    for pk, lead in leads:
        new = _stay_rows(pk, lead)
        if replace:
            old = db.execute("SELECT pk, stage, finished, running_since FROM lead_stays WHERE pk = ?", (pk,)).fetchall()
            if sorted(old, key=lambda r: r[1]) == sorted(new, key=lambda r: r[1]):
                continue
            changed.append((pk,))
        rows += new
    db.executemany("DELETE FROM lead_stays WHERE pk = ?", changed)
    db.executemany("INSERT INTO lead_stays (pk, stage, finished, running_since) VALUES (?, ?, ?, ?)", rows)


# Ordered, append-only: the schema version is the number of migrations applied.
MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [
    _m1_leads_and_events,
    _m2_substring_search,
    _m3_filter_indexes,
    _m4_index_in_the_store,
    _m5_drop_unused_indexes,
    _m6_lead_handles,
    _m7_folded_search,
    _m8_stage_stays,
]


def _index_new_leads(db: sqlite3.Connection, since_pk: int) -> None:
    """Add the leads inserted in this transaction (pk > since_pk: a new row gets a pk above the
    largest, and the writer holds the lock) to the search index and the tag table (see _m4)."""
    db.execute(f"INSERT INTO leads_search (rowid, name, email, company, notes) {_SEARCH_ROWS} WHERE pk > ?", (since_pk,))
    db.execute(
        "INSERT OR IGNORE INTO lead_tags (tag, pk)"
        " SELECT j.value, leads.pk FROM leads, json_each(leads.tags) AS j WHERE leads.pk > ?",
        (since_pk,),
    )


# What the search index and the tag table hold of a lead: (pk, name, email, company, notes, tags).
Indexed = tuple[Any, ...]


def _indexed(pk: int, columns: tuple[Any, ...]) -> Indexed:
    """`Indexed` of a row stored or about to be written as `columns` (in _COLUMNS order)."""
    return (pk, columns[2], columns[1], columns[3], columns[4], columns[11])


def _reindex_updated(db: sqlite3.Connection, updated: dict[int, tuple[Indexed, Indexed]]) -> None:
    """Bring the search index and the tag table from each updated lead's old values to its new
    ones (by pk), touching only the leads whose searched columns or tags changed."""
    changed = [new for old, new in updated.values() if old[1:5] != new[1:5]]
    tags = [(new[0], new[5]) for old, new in updated.values() if old[5] != new[5]]
    db.executemany("DELETE FROM leads_search WHERE rowid = ?", [(new[0],) for new in changed])
    db.executemany(
        "INSERT INTO leads_search (rowid, name, email, company, notes) VALUES (?, ?, ?, ?, ?)",
        [(new[0], *map(_search_text, new[1:5])) for new in changed],
    )
    db.executemany("DELETE FROM lead_tags WHERE pk = ?", [(pk,) for pk, _ in tags])
    db.executemany("INSERT OR IGNORE INTO lead_tags (tag, pk) SELECT value, ? FROM json_each(?)", tags)


def _bulk_cache_kib(db: sqlite3.Connection) -> int:
    """The page cache for a bulk write (a negative cache_size, in KiB): see BULK_CACHE_KIB."""
    pages, size = db.execute("PRAGMA page_count").fetchone()[0], db.execute("PRAGMA page_size").fetchone()[0]
    return max(BULK_CACHE_MAX_KIB, min(BULK_CACHE_KIB, -(pages * size // 4096)))


def _store_error(exc: sqlite3.Error, path: Path) -> StoreUnavailable:
    text = str(exc)
    if "locked" in text or "busy" in text:
        return StoreUnavailable(f"the store {path} stayed locked by another writer for {BUSY_TIMEOUT_S:.0f} s")
    return StoreUnavailable(f"cannot use the store {path}: {text}")


def escaped_sqlite_error(exc: sqlite3.DatabaseError) -> StoreUnavailable:
    """An SQLite error met outside the store's own translation (mid-read): the store's fault,
    exit 5 with what to do."""
    if "locked" in str(exc) or "busy" in str(exc):
        return StoreUnavailable(f"the store stayed locked by another writer: {exc}")
    return StoreUnavailable(f"the store cannot be read: {str(exc)[:100]}; run leadcli doctor, and restore the file from a backup")


class SqliteStore:
    read_only = False  # opened read-only: a file or directory the user may not write

    def __init__(self, path: Path, *, create_dir: bool = True) -> None:
        """`create_dir`: make the file's directory (0700) if missing; else (a path the user
        named) a missing directory is exit 2, not a new empty store reporting 0 leads forever."""
        self.path = path.expanduser()
        self.uri_description = str(self.path)
        if not self.path.parent.is_dir() and not create_dir:
            raise InvalidInput(f"--db: the directory of {self.path} does not exist; create it first, or check the path")
        try:
            self._create_private()
            self.db = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
            self.db.execute(f"PRAGMA page_size = {PAGE_SIZE}")  # before WAL: it creates the file
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            _register_functions(self.db)
            self._migrate()
            # SQLite opens a file it may not write read-only without a word: say so at a write.
            self.read_only = not os.access(self.path, os.W_OK)
        except sqlite3.OperationalError as exc:
            if not ("readonly" in str(exc) or "unable to open" in str(exc)) or not self.path.is_file():
                raise _store_error(exc, self.path) from None
            self._open_read_only()
        except sqlite3.Error as exc:
            raise _store_error(exc, self.path) from None
        except OSError as exc:
            raise StoreUnavailable(f"cannot open the store {self.path}: {exc.strerror}") from None

    def _create_private(self) -> None:
        """A new store holds customer data: the file is made 0600 (SQLite gives its -wal and
        -shm the same mode) in a 0700 directory when leadcli makes that too."""
        if self.path.exists():
            return
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        try:
            os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        except FileExistsError:
            pass  # another process made it meanwhile

    def _open_read_only(self) -> None:
        """A store the user may not write (a 0444 file, a read-only directory or mount) can
        still be read: list, show, count. A write then fails as the store's error (exit 5)."""
        self.db.close()
        uri = self.path.absolute().as_uri()
        try:
            try:
                self.db = sqlite3.connect(f"{uri}?mode=ro", uri=True, timeout=BUSY_TIMEOUT_S, isolation_level=None)
                version = self.schema_version()
            except sqlite3.OperationalError:
                # WAL needs a -shm file beside the store; in a read-only directory there is none
                # and none can be made, so no one can be writing it: read the file as it is.
                self.db = sqlite3.connect(f"{uri}?immutable=1", uri=True, timeout=BUSY_TIMEOUT_S, isolation_level=None)
                version = self.schema_version()
            _register_functions(self.db)
        except sqlite3.Error as exc:
            raise _store_error(exc, self.path) from None
        if version != len(MIGRATIONS):
            raise StoreUnavailable(
                f"the store {self.path} is read-only for you and needs an upgrade (schema {version}); "
                "open it once with write access"
            )
        self.read_only = True

    # -- schema ---------------------------------------------------------------------------

    def schema_version(self) -> int:
        return int(self.db.execute("PRAGMA user_version").fetchone()[0])

    def _migrate(self) -> None:
        version = self.schema_version()
        if version > len(MIGRATIONS):
            # A newer leadcli changed this file in ways this one does not know; writing to it
            # could break what that version relies on.
            raise StoreUnavailable(
                f"the store {self.path} has schema version {version}, newer than this leadcli knows "
                f"({len(MIGRATIONS)}): upgrade leadcli to use it"
            )
        if version == len(MIGRATIONS):
            return
        with self._write():
            current = self.schema_version()  # another process may have migrated meanwhile
            for migration in MIGRATIONS[current:]:
                migration(self.db)
            self.db.execute(f"PRAGMA user_version = {len(MIGRATIONS)}")

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        if self.read_only:
            raise StoreUnavailable(
                f"the store {self.path} is read-only for you (its file or directory permissions): "
                "it can be read, not changed"
            )
        try:
            self.db.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise _store_error(exc, self.path) from None
        try:
            yield self.db
        except BaseException:
            # SQLite may have rolled back already (e.g. on a full disk); a second ROLLBACK
            # would then raise and hide the real error.
            if self.db.in_transaction:
                self.db.execute("ROLLBACK")
            raise
        try:
            self.db.execute("COMMIT")
        except sqlite3.Error as exc:
            raise _store_error(exc, self.path) from None

    # -- reads ----------------------------------------------------------------------------

    def _one(self, sql: str, params: tuple[Any, ...]) -> Lead | None:
        row = self._execute(sql, params).fetchone()
        return _decode(row[0]) if row else None

    def _execute(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Cursor:
        try:
            return self.db.execute(sql, params)
        except sqlite3.OperationalError as exc:
            raise _store_error(exc, self.path) from None

    def get(self, lead_id: str) -> Lead | None:
        return self._one("SELECT doc FROM leads WHERE id = ?", (lead_id,))

    def get_by_email(self, email: str) -> Lead | None:
        return self._one("SELECT doc FROM leads WHERE email = ?", (email.strip().lower(),))

    def get_all_by_email(self, email: str) -> list[Lead]:
        lead = self.get_by_email(email)  # leadcli lowercases every email it stores
        return [lead] if lead is not None else []

    def find_by_prefix(self, prefix: str, limit: int = 2) -> list[Lead]:
        # Ids are lowercase hex, so a range scan on the unique index finds the prefix.
        rows = self._execute(
            "SELECT doc FROM leads WHERE id >= ? AND id < ? ORDER BY id LIMIT ?",
            (prefix, prefix + "g", limit),
        )
        return [_decode(r[0]) for r in rows]

    def find_by_handle(self, prefix: str, limit: int = 2) -> list[Lead]:
        # The expression must be written as the index has it (leads_handle) for SQLite to use it.
        if len(prefix) > HANDLE_LENGTH:
            return []
        rows = self._execute(
            "SELECT doc FROM leads WHERE substr(id, 15) >= ? AND substr(id, 15) < ? ORDER BY substr(id, 15) LIMIT ?",
            (prefix, prefix + "g", limit),
        )
        return [_decode(r[0]) for r in rows]

    def known_values(self, kind: str, prefix: str = "", limit: int = 200) -> list[str]:
        """Distinct owners or tags starting with `prefix`, for shell completion (index walks:
        leads_owner_created, lead_tags' primary key)."""
        sql = {
            "owner": "SELECT DISTINCT owner FROM leads WHERE owner >= ? AND owner < ? ORDER BY owner LIMIT ?",
            "tag": "SELECT DISTINCT tag FROM lead_tags WHERE tag >= ? AND tag < ? ORDER BY tag LIMIT ?",
        }[kind]
        return [r[0] for r in self._execute(sql, (prefix, prefix + "\U0010ffff", limit)) if r[0]]

    def query(self, query: LeadQuery) -> Iterator[Lead]:
        for doc in self._documents(query):
            yield _decode(doc)

    def query_records(self, query: LeadQuery) -> Iterator[dict[str, Any]]:
        """`query`'s leads as JSON-ready records (ISO strings, as `to_jsonable` gives them),
        straight from the stored documents, which are exactly that: `export` skips turning
        every timestamp into a datetime and back (a third of its CPU per lead)."""
        for doc in self._documents(query):
            yield _loads(doc)

    def _documents(self, query: LeadQuery) -> Iterator[Any]:
        """The stored documents (JSON) of `query`'s leads, in its order and page."""
        where, params = _where(self.db, query)
        order = _order(query, params)
        sql = f"SELECT doc FROM leads{where} ORDER BY {order}"
        if query.limit is not None or query.offset:
            sql += " LIMIT ? OFFSET ?"
            params += [query.limit if query.limit is not None else -1, query.offset]
        for row in self._execute(sql, params):
            yield row[0]

    def count(self, query: LeadQuery) -> int:
        where, params = _where(self.db, query)
        return int(self._execute(f"SELECT count(*) FROM leads{where}", params).fetchone()[0])

    def stage_totals(self, query: LeadQuery, values: bool = True) -> dict[str | None, tuple[int, float]]:
        where, params = _where(self.db, query)
        rows = self._execute(
            f"SELECT current_stage, count(*), total(value) FROM leads{where} GROUP BY current_stage", params
        )
        return {stage: (int(n), float(total)) for stage, n, total in rows}

    def stage_stats(
        self, query: LeadQuery, closed: Sequence[str], now: datetime
    ) -> tuple[dict[str | None, tuple[int, float]], int, dict[str, tuple[float, int]]]:
        """`stats` in SQL: per current stage (leads, value), a GROUP BY over the matching
        leads; the engaged ones among them; per stage spent in (seconds summed over the leads that spent time
        there, those leads), a GROUP BY over the stays the store keeps (see _m8)."""
        where, params = _where(self.db, query)
        totals = {
            stage: (int(n), float(value))
            for stage, n, value in self._execute(
                f"SELECT current_stage, count(*), total(value) FROM leads{where} GROUP BY current_stage", params
            )
        }
        # The engaged leads in all (stats reports no per-stage engagement), from the partial index.
        engaged = self._execute(f"SELECT count(*) FROM leads{where + ' AND' if where else ' WHERE'} engaged = 1", params).fetchone()[0]
        is_open = f"stage NOT IN ({', '.join('?' * len(closed))})" if closed else "1"
        sql = _STAGE_SECONDS_SQL.format(open=is_open, leads=f"pk IN (SELECT pk FROM leads{where}) AND " if where else "")
        seconds = {
            stage: (float(total), int(n))
            for stage, total, n in self._execute(sql, [*closed, iso(now), *params, *closed])
        }
        return totals, int(engaged), seconds

    # -- writes ---------------------------------------------------------------------------

    def insert(self, lead: Lead, event: Event) -> Lead:
        lead = {**lead, "version": lead.get("version") or 1}
        with self._write() as db:
            try:
                cursor = db.execute(
                    f"INSERT INTO leads ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))})",
                    _columns(lead),
                )
            except sqlite3.IntegrityError:
                raise self._duplicate(lead) from None
            pk = int(cursor.lastrowid or 0)
            _index_new_leads(db, pk - 1)
            _write_stays(db, [(pk, lead)])
            self._append_event(db, lead, event)
        return lead

    def replace(self, lead: Lead, expected_version: int, event: Event, before: Lead | None = None) -> Lead:
        # `before` is for stores shared with other writers (MongoDB); here leadcli is the only one.
        lead = {**lead, "version": expected_version + 1}
        columns = _columns(lead)
        with self._write() as db:
            old = db.execute(f"SELECT {_STORED} FROM leads WHERE id = ?", (lead["id"],)).fetchone()
            sql, values = _update(old[1:] if old else None, columns)
            try:
                cursor = db.execute(sql, (*values, lead["id"], expected_version))
            except sqlite3.IntegrityError:
                raise self._duplicate(lead) from None
            if cursor.rowcount == 0:
                raise self._lost_race(lead["id"])
            _reindex_updated(db, {old[0]: (_indexed(old[0], old[1:]), _indexed(old[0], columns))})
            _write_stays(db, [(old[0], lead)], replace=True)
            self._append_event(db, lead, event)
        return lead

    def find_by_emails(self, emails: Sequence[str]) -> list[Lead]:
        wanted = list(dict.fromkeys(e.strip().lower() for e in emails))
        return [_decode(r[0]) for r in select_in(self._execute, "SELECT doc FROM leads WHERE email IN ({})", wanted)]

    def write_batch(
        self, inserts: Sequence[tuple[Lead, Event]], updates: Sequence[tuple[Lead, int, Event]]
    ) -> list[Exception | None]:
        results: list[Exception | None] = [None] * (len(inserts) + len(updates))
        insert_sql = f"INSERT INTO leads ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))})"
        rows = [_row(lead if lead.get("version") else {**lead, "version": 1}) for lead, _ in inserts]  # no copy per lead
        events: list[tuple[Any, ...]] = []
        with self._write() as db:
            db.execute(f"PRAGMA cache_size = {_bulk_cache_kib(db)}")
            since_pk = db.execute("SELECT coalesce(max(pk), 0) FROM leads").fetchone()[0]
            db.execute("SAVEPOINT batch_inserts")
            try:
                db.executemany(insert_sql, [columns for columns, _ in rows])
            except sqlite3.IntegrityError:
                # Someone else wrote one of these emails meanwhile: redo row by row to find it.
                db.execute("ROLLBACK TO batch_inserts")
                for i, (columns, _) in enumerate(rows):
                    try:
                        db.execute(insert_sql, columns)
                    except sqlite3.IntegrityError:
                        results[i] = self._duplicate(inserts[i][0])
            db.execute("RELEASE batch_inserts")
            _index_new_leads(db, since_pk)
            written = [lead for i, (lead, _) in enumerate(inserts) if results[i] is None]
            # Each successful INSERT took the next pk (max + 1, under this transaction's lock).
            _write_stays(db, [(since_pk + 1 + n, lead) for n, lead in enumerate(written)])
            for i, ((lead, event), (_, doc_json)) in enumerate(zip(inserts, rows, strict=True)):
                if results[i] is None:
                    events.append(_event_row(lead["id"], doc_json, event))
            stored = self._stored_by_id(db, [lead["id"] for lead, _, _ in updates])
            updated: dict[int, tuple[Indexed, Indexed]] = {}  # pk: (as indexed before, as written last)
            restayed: dict[int, Lead] = {}  # pk: the lead as written last
            for j, (lead, expected, event) in enumerate(updates):
                columns, doc_json = _row({**lead, "version": expected + 1})
                old = stored.get(lead["id"])
                sql, values = _update(old[1:] if old else None, columns)
                try:
                    cursor = db.execute(sql, (*values, lead["id"], expected))
                except sqlite3.IntegrityError:
                    results[len(inserts) + j] = self._duplicate(lead)
                    continue
                if cursor.rowcount == 0:
                    results[len(inserts) + j] = self._lost_race(lead["id"])
                    continue
                assert old is not None  # it was there: the update matched it
                pk = old[0]
                first = updated[pk][0] if pk in updated else _indexed(pk, old[1:])  # as indexed before the batch
                updated[pk] = (first, _indexed(pk, columns))
                restayed[pk] = lead
                stored[lead["id"]] = (pk, *columns)  # a second update in this batch compares with this one
                events.append(_event_row(lead["id"], doc_json, event))
            _reindex_updated(db, updated)
            _write_stays(db, list(restayed.items()), replace=True)
            db.executemany("INSERT INTO events (type, at, by, lead_id, data) VALUES (?, ?, ?, ?, ?)", events)
        return results

    def _stored_by_id(self, db: sqlite3.Connection, ids: list[str]) -> dict[str, tuple[Any, ...]]:
        """Each lead's (pk, *columns) as stored, by id."""
        return {row[1]: row for row in select_in(db.execute, f"SELECT {_STORED} FROM leads WHERE id IN ({{}})", ids)}

    def delete(self, lead: Lead, event: Event) -> None:
        with self._write() as db:
            cursor = db.execute("DELETE FROM leads WHERE id = ? AND version = ?", (lead["id"], lead["version"]))
            if cursor.rowcount == 0:
                raise self._lost_race(lead["id"])
            self._append_event(db, lead, event)

    def _lost_race(self, lead_id: str) -> Exception:
        exists = self.db.execute("SELECT 1 FROM leads WHERE id = ?", (lead_id,)).fetchone()
        if exists:
            return VersionConflict(f"lead {lead_id} changed under a concurrent write; run the command again")
        return NotFound(f"lead {lead_id} no longer exists")

    def _duplicate(self, lead: Lead) -> Conflict:
        row = self.db.execute("SELECT id FROM leads WHERE email = ?", (lead["email"],)).fetchone()
        if row and row[0] != lead["id"]:
            return Conflict(f"a lead with email {lead['email']} already exists (id {row[0]})")
        return Conflict(f"a lead with id {lead['id']} already exists")

    def _append_event(self, db: sqlite3.Connection, lead: Lead, event: Event) -> None:
        data = {"lead": to_jsonable(lead), "changes": event.get("changes") or {}}
        db.execute(
            "INSERT INTO events (type, at, by, lead_id, data) VALUES (?, ?, ?, ?, ?)",
            (event["type"], iso(event.get("at") or now_utc()), event.get("by"), lead["id"], _dumps(data)),
        )

    # -- events ---------------------------------------------------------------------------

    def events_after(self, seq: int, limit: int = 500) -> list[Event]:
        rows = self._execute(
            "SELECT seq, type, at, by, lead_id, data FROM events WHERE seq > ? ORDER BY seq LIMIT ?", (seq, limit)
        ).fetchall()
        events = []
        for seq_, type_, at, by, lead_id, data in rows:
            payload = _loads(data)
            events.append(
                {
                    "seq": seq_,
                    "type": type_,
                    "at": at,
                    "by": by,
                    "lead_id": lead_id,
                    "lead": from_jsonable(payload["lead"]),
                    "changes": payload["changes"],
                }
            )
        return events

    def last_seq(self) -> int:
        row = self._execute("SELECT max(seq) FROM events").fetchone()
        return int(row[0] or 0)

    def data_version(self) -> int:
        """Changes whenever another connection commits: a cheap "anything new?" for tailing."""
        return int(self._execute("PRAGMA data_version").fetchone()[0])

    # -- live changes (watch, serve) ------------------------------------------------------

    def changes(self, after: int, others: bool = True) -> ChangeFeed:
        """Events after `after`, polled by `PRAGMA data_version` (see store.tail.SqliteTail)."""
        from leadcli.store.tail import SqliteTail

        self._identity = self._file_identity()
        return SqliteTail(self, after)

    def change_source(self) -> str:
        return "poll (PRAGMA data_version)"

    def _file_identity(self) -> tuple[int, int] | None:
        try:
            st = os.stat(self.path)
        except OSError:
            return None
        return (st.st_dev, st.st_ino)

    def replaced(self) -> bool:
        """Whether another file now sits at the store's path (a backup restored with `mv`);
        a path with no file at all (mid-swap) is not replaced yet."""
        now = self._file_identity()
        return now is not None and now != getattr(self, "_identity", now)

    def reopen(self) -> None:
        """Open whatever file is at the path now (after `replaced()`)."""
        self.db.close()
        self.__init__(self.path)  # type: ignore[misc]
        self._identity = self._file_identity()


    def ensure_indexes(self) -> list[str]:
        """Recreate the indexes (and triggers) a full migration makes that this file lacks
        (`doctor --fix`); returns their names."""
        missing = self._missing_schema()
        if missing:
            with self._write() as db:
                for _name, sql in missing:
                    db.execute(sql)
        return [name for name, _sql in missing]

    def _missing_schema(self) -> list[tuple[str, str]]:
        """(name, SQL) of each index or trigger the migrations create and this file lacks."""
        reference = sqlite3.connect(":memory:")
        _register_functions(reference)
        try:
            for migration in MIGRATIONS:
                migration(reference)
            wanted = reference.execute("SELECT name, sql FROM sqlite_master WHERE type IN ('index', 'trigger') AND sql IS NOT NULL").fetchall()
        finally:
            reference.close()
        present = {r[0] for r in self._execute("SELECT name FROM sqlite_master WHERE type IN ('index', 'trigger')")}
        return [(name, sql) for name, sql in wanted if name not in present]

    def problems(self) -> list[str]:
        """What `doctor` should report: a damaged file (SQLite's quick_check, every page read)
        and indexes or triggers a migration made that are gone."""
        found = []
        checked = [r[0] for r in self._execute("PRAGMA quick_check(5)")]
        if checked != ["ok"]:
            found.append(f"the store file is damaged ({'; '.join(checked)}): restore it from a backup")
        for name, _sql in self._missing_schema():
            found.append(f"index or trigger {name} is missing (leadcli doctor --fix recreates it)")
        return found

    def describe(self, count_leads: bool = True) -> dict[str, Any]:
        indexes = [r[0] for r in self._execute("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'leads' AND name NOT LIKE 'sqlite_%' ORDER BY name")]
        return {
            "backend": "sqlite",
            "location": str(self.path),
            "server_version": sqlite3.sqlite_version,
            "schema_version": self.schema_version(),
            "journal_mode": self._execute("PRAGMA journal_mode").fetchone()[0],
            "indexes": ["email (unique)", "id (unique)", *indexes, "leads_search (folded trigram search)", "lead_stays (days per stage)"],
            "leads": self.count(LeadQuery()) if count_leads else None,
            "events": self.last_seq(),
            "live_updates": "poll (PRAGMA data_version)",
            "problems": self.problems(),
        }

    def close(self) -> None:
        self.db.close()


_COLUMNS = (
    "id", "email", "name", "company", "notes", "current_stage", "status", "engaged", "owner",
    "source", "value", "tags", "follow_up_at", "last_contacted", "created_at", "updated_at",
    "version", "doc",
)  # fmt: skip


def _dumps(value: Any) -> str:
    """Compact JSON, UTF-8 as it is. orjson: ~5x faster than the json module both ways, and an
    import encodes a document per lead (a 50,000-row import ~0.2 s less CPU), while `list` and
    `export` decode one per lead."""
    return orjson.dumps(value).decode()


def _loads(text: str) -> Any:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        # Written before leadcli refused NaN and infinity in custom fields: the json module
        # wrote them as NaN/Infinity, which it alone reads back.
        return json.loads(text)


def _columns(lead: Lead) -> tuple[Any, ...]:
    doc = to_jsonable(lead)
    return (
        doc["id"], doc["email"], doc["name"], doc["company"], doc["notes"], doc["current_stage"],
        doc["status"], 1 if doc["engaged"] else 0, doc["owner"], doc["source"], doc["value"],
        _dumps(doc["tags"]) if doc["tags"] else "[]", doc["follow_up_at"], doc["last_contacted"], doc["created_at"],
        doc["updated_at"], doc["version"], _dumps(doc),
    )  # fmt: skip


_STORED = "pk, " + ", ".join(_COLUMNS)  # a row as `_update` compares it: (pk, *columns)


def _update(old: tuple[Any, ...] | None, columns: tuple[Any, ...]) -> tuple[str, tuple[Any, ...]]:
    """The compare-and-set UPDATE (parameters: the values, then id and expected version) of
    only the columns that differ from `old` (all of them when it is unknown). SQLite rewrites an
    index entry only for indexes over a SET column: a stage and owner change leaves the name,
    company, value, date and email indexes alone (UPDATEs ~35% faster in a bulk --upsert)."""
    # `version` always: a row a concurrent writer already made identical (the same version
    # too) must still be a compare-and-set miss, not an UPDATE with nothing to SET.
    changed = tuple(i for i in range(1, len(_COLUMNS)) if old is None or i == _VERSION or old[i] != columns[i])
    return _update_sql(changed), tuple(columns[i] for i in changed)


_VERSION = _COLUMNS.index("version")


@functools.lru_cache(maxsize=256)
def _update_sql(changed: tuple[int, ...]) -> str:
    return f"UPDATE leads SET {', '.join(f'{_COLUMNS[i]} = ?' for i in changed)} WHERE id = ? AND version = ?"


def _row(lead: Lead) -> tuple[tuple[Any, ...], str]:
    """The lead's columns and its JSON document, serialized once (bulk writes reuse it for the event)."""
    columns = _columns(lead)
    return columns, columns[-1]


def _event_row(lead_id: str, doc_json: str, event: Event) -> tuple[Any, ...]:
    changes = event.get("changes")
    data = '{"lead":' + doc_json + ',"changes":' + (_dumps(changes) if changes else "{}") + "}"
    return (event["type"], _iso_cached(event.get("at") or now_utc()), event.get("by"), lead_id, data)


_last_iso: tuple[Any, str] = (None, "")


def _iso_cached(at: Any) -> str:
    """`iso(at)`, remembering the last one: a batch's events share one `at`."""
    global _last_iso
    if _last_iso[0] is not at:
        _last_iso = (at, iso(at))
    return _last_iso[1]


def _decode(doc: str) -> Lead:
    return from_jsonable(_loads(doc))


SEARCH_COLUMNS = ("name", "email", "company", "notes")


def _search_text(text: str | None) -> str | None:
    """A column's value as the search index holds it: folded, then padded (see _m7)."""
    return None if text is None else fold(text) + PAD + PAD


def _register_functions(db: sqlite3.Connection) -> None:
    db.create_function("leadcli_search_text", 1, _search_text, deterministic=True)


# A 1-2 character search expanding to more trigrams than this (a common letter) reads the
# leads in the requested order instead, checking each one, and stops at the end of the page.
MAX_SHORT_TERMS = 200


def _contains(
    db: sqlite3.Connection, columns: tuple[str, ...], text: str, clauses: list[str], params: list[Any]
) -> None:
    """`columns` contain `text`, ignoring case and accents (`domain.folding`), every character literal.

    Always through the folded trigram index `leads_search` (see _m7). Three characters or more: a
    quoted FTS5 phrase is an exact substring match, and the text is a bound parameter inside an
    FTS string, so no character of it is syntax. One or two: the trigrams that start with the
    text, looked up in the index's vocabulary (a B-tree range), then matched as `"t1" OR "t2"…`
    (the padding makes a value's last characters start trigrams too). When a very common letter
    expands to hundreds of trigrams, each lead, read in the query's order, is checked against its
    folded text instead: the page fills within a few rows, since such a letter is in most leads.
    """
    needle = fold(text)
    if not needle:  # combining marks alone: folded away, they match nothing
        clauses.append("0")
        return
    colset = "{" + " ".join(columns) + "} : "
    if len(needle) >= 3:
        clauses.append("pk IN (SELECT rowid FROM leads_search WHERE leads_search MATCH ?)")
        params.append(colset + _phrase(needle))
        return
    rows = db.execute(
        f"SELECT DISTINCT term FROM leads_search_terms WHERE term >= ? AND term < ? AND col IN ({', '.join('?' * len(columns))})"
        f" LIMIT {MAX_SHORT_TERMS + 1}",
        (needle, needle[:-1] + chr(ord(needle[-1]) + 1), *columns),
    ).fetchall()
    terms = [row[0] for row in rows if row[0].startswith(needle)]
    if not terms:
        clauses.append("0")
    elif len(terms) <= MAX_SHORT_TERMS:
        clauses.append("pk IN (SELECT rowid FROM leads_search WHERE leads_search MATCH ?)")
        params.append(colset + "(" + " OR ".join(map(_phrase, terms)) + ")")
    else:
        found = " OR ".join(f"instr(s.{c}, ?) > 0" for c in columns)
        clauses.append(f"EXISTS (SELECT 1 FROM leads_search AS s WHERE s.rowid = leads.pk AND ({found}))")
        params += [needle] * len(columns)


def _phrase(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


def _where(db: sqlite3.Connection, q: LeadQuery) -> tuple[str, list[Any]]:
    """The query's filters as a WHERE clause: each schema op (domain/schema.py) translated once."""
    clauses: list[str] = []
    params: list[Any] = []
    for spec, value in q.conditions():
        op, fields = spec.op, spec.fields
        column = _column(fields[0])
        if op in ("in", "not_in", "id_in"):
            marks = ", ".join("?" * len(value))
            if op == "in":
                clauses.append(f"{column} IN ({marks})")
            elif op == "not_in":
                clauses.append(f"({column} IS NULL OR {column} NOT IN ({marks}))")
            else:
                clauses.append(f"id IN ({marks})" if value else "0")
            params += value
        elif op == "equals":
            clauses.append(f"{column} = ? COLLATE NOCASE")
            params.append(value)
        elif op == "is":
            clauses.append(f"{column} = ?" if column == fields[0] else f"coalesce({column}, 0) = ?")  # columns are NOT NULL
            params.append(1 if value else 0)
        elif op == "has_all":
            for item in value:
                if fields == ("tags",):
                    # Correlated lookups keep the sort index usable: a common tag stops after one
                    # page, a rare one costs a B-tree probe per lead, never a JSON parse.
                    clauses.append("EXISTS (SELECT 1 FROM lead_tags WHERE tag = ? AND pk = leads.pk)")
                else:
                    clauses.append(f"EXISTS (SELECT 1 FROM json_each({column}) WHERE value = ?)")
                params.append(item)
        elif op == "contains":
            _contains(db, fields, value, clauses, params)
        elif op in _BOUNDS:
            clauses.append(_BOUNDS[op].format(column=column))
            params.append(iso(value))
        elif op == "idle_before":
            clauses.append(f"coalesce({column}, {_column(fields[1])}) < ?")
            params.append(iso(value))
        else:
            raise ValueError(f"no SQLite translation of the filter op {op!r}")
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), params


_BOUNDS = {
    "at_or_after": "{column} >= ?",
    "before": "{column} < ?",
    "at_or_before": "{column} <= ?",
    "before_or_never": "({column} IS NULL OR {column} < ?)",
}


def _column(field: str) -> str:
    """The SQL for a schema field: its column, or its value in the stored document (a field the
    leads table has no column for; the name is the schema's, never user text)."""
    if field in _COLUMNS:
        return field
    if not field.isidentifier():
        raise ValueError(f"not a field name: {field!r}")
    return f"json_extract(doc, '$.{field}')"


def _order(q: LeadQuery, params: list[Any]) -> str:
    direction = "DESC" if q.descending else "ASC"
    if q.sort == "current_stage":
        cases = " ".join("WHEN ? THEN ?" for _ in q.stage_order)
        for rank, stage in enumerate(q.stage_order):
            params += [stage, rank]
        key = f"CASE current_stage {cases} ELSE {len(q.stage_order)} END" if q.stage_order else "current_stage"
    elif q.sort in STORE_SORT_FIELDS:  # a column name spliced into SQL: only the known ones
        key = q.sort
    else:
        raise ValueError(f"unknown sort field {q.sort!r}")
    return f"{key} {direction}, id {direction}"
