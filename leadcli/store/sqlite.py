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
from pathlib import Path
from typing import Any

import orjson

from leadcli.domain.dates import iso, now_utc
from leadcli.domain.errors import Conflict, InvalidInput, NotFound, StoreUnavailable, VersionConflict
from leadcli.domain.handle import HANDLE_LENGTH
from leadcli.domain.lead import from_jsonable, to_jsonable
from leadcli.domain.query import SORT_FIELDS, LeadQuery
from leadcli.store.base import ChangeFeed, Event, Lead
from leadcli.store.sql import select_in

BUSY_TIMEOUT_S = 10.0
# Page cache for bulk writes (KiB, as a negative cache_size): a batch touches pages all over a
# dozen indexes; the default 2 MB evicts and rereads them. Set by the first bulk write.
BULK_CACHE_KIB = -65536
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


# Ordered, append-only: the schema version is the number of migrations applied.
MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [
    _m1_leads_and_events,
    _m2_substring_search,
    _m3_filter_indexes,
    _m4_index_in_the_store,
    _m5_drop_unused_indexes,
    _m6_lead_handles,
]


def _index_new_leads(db: sqlite3.Connection, since_pk: int) -> None:
    """Add the leads inserted in this transaction (pk > since_pk: a new row gets a pk above the
    largest, and the writer holds the lock) to the search index and the tag table (see _m4)."""
    db.execute(
        "INSERT INTO leads_fts (rowid, name, email, company, notes)"
        " SELECT pk, name, email, company, notes FROM leads WHERE pk > ?",
        (since_pk,),
    )
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
    fts_old = [old[:5] for old, new in updated.values() if old[1:5] != new[1:5]]
    fts_new = [new[:5] for old, new in updated.values() if old[1:5] != new[1:5]]
    tags = [(new[0], new[5]) for old, new in updated.values() if old[5] != new[5]]
    db.executemany(
        "INSERT INTO leads_fts (leads_fts, rowid, name, email, company, notes) VALUES ('delete', ?, ?, ?, ?, ?)", fts_old
    )
    db.executemany("INSERT INTO leads_fts (rowid, name, email, company, notes) VALUES (?, ?, ?, ?, ?)", fts_new)
    db.executemany("DELETE FROM lead_tags WHERE pk = ?", [(pk,) for pk, _ in tags])
    db.executemany("INSERT OR IGNORE INTO lead_tags (tag, pk) SELECT value, ? FROM json_each(?)", tags)


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
            self.db.create_function("leadcli_fold", 1, _fold, deterministic=True)
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
            self.db.create_function("leadcli_fold", 1, _fold, deterministic=True)
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
        where, params = _where(query)
        order = _order(query, params)
        sql = f"SELECT doc FROM leads{where} ORDER BY {order}"
        if query.limit is not None or query.offset:
            sql += " LIMIT ? OFFSET ?"
            params += [query.limit if query.limit is not None else -1, query.offset]
        cursor = self._execute(sql, params)
        for row in cursor:
            yield _decode(row[0])

    def count(self, query: LeadQuery) -> int:
        where, params = _where(query)
        return int(self._execute(f"SELECT count(*) FROM leads{where}", params).fetchone()[0])

    def stage_totals(self, query: LeadQuery) -> dict[str | None, tuple[int, float]]:
        where, params = _where(query)
        rows = self._execute(
            f"SELECT current_stage, count(*), total(value) FROM leads{where} GROUP BY current_stage", params
        )
        return {stage: (int(n), float(total)) for stage, n, total in rows}

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
            _index_new_leads(db, (cursor.lastrowid or 0) - 1)
            self._append_event(db, lead, event)
        return lead

    def replace(self, lead: Lead, expected_version: int, event: Event) -> Lead:
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
            db.execute(f"PRAGMA cache_size = {BULK_CACHE_KIB}")
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
            for i, ((lead, event), (_, doc_json)) in enumerate(zip(inserts, rows, strict=True)):
                if results[i] is None:
                    events.append(_event_row(lead["id"], doc_json, event))
            stored = self._stored_by_id(db, [lead["id"] for lead, _, _ in updates])
            updated: dict[int, tuple[Indexed, Indexed]] = {}  # pk: (as indexed before, as written last)
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
                stored[lead["id"]] = (pk, *columns)  # a second update in this batch compares with this one
                events.append(_event_row(lead["id"], doc_json, event))
            _reindex_updated(db, updated)
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

    def describe(self) -> dict[str, Any]:
        indexes = [r[0] for r in self._execute("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'leads' AND name NOT LIKE 'sqlite_%' ORDER BY name")]
        return {
            "backend": "sqlite",
            "location": str(self.path),
            "server_version": sqlite3.sqlite_version,
            "schema_version": self.schema_version(),
            "journal_mode": self._execute("PRAGMA journal_mode").fetchone()[0],
            "indexes": ["email (unique)", "id (unique)", *indexes, "leads_fts (trigram search)"],
            "leads": self.count(LeadQuery()),
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


def _fold(text: str | None) -> str | None:
    """Case folding as the trigram index does it: each character lowercased on its own."""
    if text is None:
        return None
    return "".join(c if len(low := c.lower()) != 1 else low for c in text)


def _contains(columns: tuple[str, ...], text: str, clauses: list[str], params: list[Any]) -> None:
    """`columns` contain `text`, case-insensitively, every character literal.

    Three characters or more go through the trigram index: a quoted FTS5 phrase is an exact
    substring match (case folded per character), and the text is a bound parameter inside an
    FTS string, so no character of it is syntax. Shorter text cannot use trigrams: LIKE with
    ESCAPE for ASCII text, else a scan with the same folding as the index.
    """
    if len(text) >= 3:
        phrase = '"' + text.replace('"', '""') + '"'
        if columns != SEARCH_COLUMNS:
            phrase = "{" + " ".join(columns) + "} : " + phrase
        clauses.append("pk IN (SELECT rowid FROM leads_fts WHERE leads_fts MATCH ?)")
        params.append(phrase)
    elif text.isascii():
        clauses.append("(" + " OR ".join(f"{c} LIKE ? ESCAPE '\\'" for c in columns) + ")")
        params += [_like(text)] * len(columns)
    else:
        clauses.append("(" + " OR ".join(f"instr(leadcli_fold({c}), ?) > 0" for c in columns) + ")")
        params += [_fold(text)] * len(columns)


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _where(q: LeadQuery) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    params: list[Any] = []
    if q.ids is not None:
        clauses.append(f"id IN ({', '.join('?' * len(q.ids))})" if q.ids else "0")
        params += q.ids
    if q.stages:
        clauses.append(f"current_stage IN ({', '.join('?' * len(q.stages))})")
        params += q.stages
    if q.exclude_stages:
        clauses.append(f"(current_stage IS NULL OR current_stage NOT IN ({', '.join('?' * len(q.exclude_stages))}))")
        params += q.exclude_stages
    for column, value in (("status", q.status), ("owner", q.owner), ("source", q.source)):
        if value is not None:
            clauses.append(f"{column} = ? COLLATE NOCASE")
            params.append(value)
    if q.engaged is not None:
        clauses.append("engaged = ?")
        params.append(1 if q.engaged else 0)
    for tag in q.tags:
        # Correlated lookups keep the sort index usable: a common tag stops after one page,
        # a rare one costs a B-tree probe per lead, never a JSON parse.
        clauses.append("EXISTS (SELECT 1 FROM lead_tags WHERE tag = ? AND pk = leads.pk)")
        params.append(tag)
    if q.company:
        _contains(("company",), q.company, clauses, params)
    if q.search:
        _contains(SEARCH_COLUMNS, q.search, clauses, params)
    for column, op, bound in (
        ("created_at", ">=", q.created_after),
        ("created_at", "<", q.created_before),
    ):
        if bound is not None:
            clauses.append(f"{column} {op} ?")
            params.append(iso(bound))
    if q.contacted_before is not None:
        clauses.append("(last_contacted IS NULL OR last_contacted < ?)")
        params.append(iso(q.contacted_before))
    if q.follow_up_before is not None:
        clauses.append("follow_up_at <= ?")
        params.append(iso(q.follow_up_before))
    if q.idle_since is not None:
        clauses.append("coalesce(last_contacted, created_at) < ?")
        params.append(iso(q.idle_since))
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), params


def _order(q: LeadQuery, params: list[Any]) -> str:
    direction = "DESC" if q.descending else "ASC"
    if q.sort == "current_stage":
        cases = " ".join("WHEN ? THEN ?" for _ in q.stage_order)
        for rank, stage in enumerate(q.stage_order):
            params += [stage, rank]
        key = f"CASE current_stage {cases} ELSE {len(q.stage_order)} END" if q.stage_order else "current_stage"
    elif q.sort in SORT_FIELDS:  # a column name spliced into SQL: only the known ones
        key = q.sort
    else:
        raise ValueError(f"unknown sort field {q.sort!r}")
    return f"{key} {direction}, id {direction}"
