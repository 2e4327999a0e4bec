"""The embedded store: one SQLite file, so leadcli works on a fresh machine with no server.

Columns for what is filtered and sorted, the whole record as JSON in `doc`; WAL and a busy
timeout so several processes can write at once; `BEGIN IMMEDIATE` so a write never upgrades a
read lock into a deadlock; every user value goes in as a parameter.
"""

from __future__ import annotations

import functools
import json
import os
import socket
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

from leadcli.domain.dates import iso, now_utc
from leadcli.domain.errors import Conflict, InvalidInput, NotFound, StoreUnavailable, VersionConflict
from leadcli.domain.handle import HANDLE_LENGTH
from leadcli.domain.lead import from_jsonable, to_jsonable
from leadcli.domain.query import LeadQuery
from leadcli.store.base import ChangeFeed, Event, Lead
from leadcli.store.sql import select_in
from leadcli.store.sqlite_query import _order, _where
from leadcli.store.sqlite_schema import (
    _COLUMNS,
    _STAGE_SECONDS_SQL,
    MIGRATIONS,
    Indexed,
    _index_new_leads,
    _indexed,
    _iso_cached,
    _register_functions,
    _reindex_updated,
    _search_new_leads,
    _write_stays,
)

BUSY_TIMEOUT_S = 10.0
# Page cache for bulk writes (KiB, as a negative cache_size): a batch touches pages all over a
# dozen indexes; the default 2 MB evicts and rereads them. Set by each bulk write: a quarter of
# the file, between these bounds — the indexes' working set grows with the store, and at 300k
# leads 256 MB instead of 64 MB took 13% less import CPU (peak memory 358 MB instead of 147).
BULK_CACHE_KIB = -65536
BULK_CACHE_MAX_KIB = -262144
# The page cache of a deferred bulk load (see BULK_DEFER_MIN_ROWS): its batches write only the
# two unique indexes and the tables' ends, its end sorts each index through SQLite's sorter
# (spilling to temporary files as it must). 64 MB rather than the store-sized cache (up to 256
# MB) took the same CPU with far less memory: 1M rows 175.2 against 175.5 us a row, peak 281
# against 480 MB; 300k rows 131 against 141 us, 213 against 301 MB (one run each, shared machine).
DEFERRED_CACHE_KIB = -65536
# Page size of a new store (an existing file keeps its own). A lead row with its JSON document
# is ~1 KB and a dozen indexes grow at random places: 8 KiB pages split less, make shallower
# trees and fewer WAL frames than the 4 KiB default (a 50,000-row import ~10% less CPU), while
# a one-lead edit still rewrites only ~14 small pages.
PAGE_SIZE = 8192
# A bulk load (an import, see `SqliteStore.bulk_load`) expected to insert at least this many
# leads, and at least BULK_DEFER_STORE_SHARE times the leads already stored, drops the
# secondary indexes and leaves the new leads out of the search index while it loads, then
# builds both once at the end: a sort per index and one pass of the search index, instead of
# inserts at random places in a dozen B-trees per row, whose cost grows with the store (see
# docs/scale.md). Below these, rebuilding indexes over the whole store would cost more than it
# saves. Tests lower them.
BULK_DEFER_MIN_ROWS = 50_000
BULK_DEFER_STORE_SHARE = 0.25
# Present only while a deferred bulk load is under way (or was killed): what it dropped, from
# which pk on the search index lacks leads, and which process owns it (see _finish_bulk_load).
BULK_TABLE = "leadcli_bulk_load"


def _bulk_cache_kib(db: sqlite3.Connection) -> int:
    """The page cache for a bulk write (a negative cache_size, in KiB): see BULK_CACHE_KIB."""
    pages, size = db.execute("PRAGMA page_count").fetchone()[0], db.execute("PRAGMA page_size").fetchone()[0]
    return max(BULK_CACHE_MAX_KIB, min(BULK_CACHE_KIB, -(pages * size // 4096)))


def _process_start(pid: int) -> str:
    """When process `pid` started (Linux: clock ticks since boot, /proc/PID/stat field 22), so
    a pid reused by another process is not taken for the loader; "" where unknown."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            return f.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return ""


def _this_process() -> str:
    return json.dumps({"host": socket.gethostname(), "pid": os.getpid(), "start": _process_start(os.getpid())})


def _process_alive(owner: str) -> bool:
    """Whether the process described by `_this_process()` text still runs. A process on another
    host cannot be checked: taken as running (`doctor --fix` finishes its load regardless)."""
    try:
        who = json.loads(owner)
        pid = int(who["pid"])
    except (ValueError, KeyError, TypeError):
        return False
    if who.get("host") != socket.gethostname():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # another user's process: it exists
        pass
    start = _process_start(pid)
    return not (start and who.get("start") and start != who["start"])


@dataclass
class _BulkLoad:
    """A bulk load under way in this process (see SqliteStore.bulk_load)."""

    expected: Callable[[], int | None] | None  # the inserts the caller now expects in all, if it can tell
    stored: int  # leads in the store when it began
    rows: int = 0  # inserted so far
    since_pk: int | None = None  # deferred: the search index lacks the leads above this pk
    dropped: list[tuple[str, str]] | None = None  # deferred: (name, SQL) of the indexes dropped


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


def _use_wal(db: sqlite3.Connection) -> None:
    """Switch the file to WAL (it stays so). While another connection makes the same switch on
    a new file, SQLite answers "database is locked" at once, without its busy wait, so several
    processes creating one store together (cron jobs on a fresh machine) would fail: try again
    for as long as a busy wait would."""
    deadline = time.monotonic() + BUSY_TIMEOUT_S
    while True:
        try:
            db.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.005)


def _has_bulk_table(db: sqlite3.Connection) -> bool:
    return db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (BULK_TABLE,)).fetchone() is not None


class SqliteStore:
    read_only = False  # opened read-only: a file or directory the user may not write

    def __init__(self, path: Path, *, create_dir: bool = True) -> None:
        """`create_dir`: make the file's directory (0700) if missing; else (a path the user
        named) a missing directory is exit 2, not a new empty store reporting 0 leads forever."""
        self.path = path.expanduser()
        self.uri_description = str(self.path)
        self._bulk: _BulkLoad | None = None
        if not self.path.parent.is_dir() and not create_dir:
            raise InvalidInput(f"--db: the directory of {self.path} does not exist; create it first, or check the path")
        try:
            self._create_private()
            self.db = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
            self.db.execute(f"PRAGMA page_size = {PAGE_SIZE}")  # before WAL: it creates the file
            _use_wal(self.db)
            self.db.execute("PRAGMA synchronous=NORMAL")
            _register_functions(self.db)
            self._migrate()
            # SQLite opens a file it may not write read-only without a word: say so at a write.
            self.read_only = not os.access(self.path, os.W_OK)
            if not self.read_only and self._killed_bulk_load():
                self._finish_bulk_load()
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

    def find_by_reference(self, key: str, limit: int = 2) -> list[Lead]:
        """See LeadStore: two index range scans (leads_handle, the id's unique index)."""
        found = {lead["id"]: lead for lead in self.find_by_handle(key, limit)}
        for lead in self.find_by_prefix(key, limit):
            found.setdefault(lead["id"], lead)
        return list(found.values())

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
        rows = [_row(lead if lead.get("version") else {**lead, "version": 1}) for lead, _ in inserts]  # no copy per lead
        events: list[tuple[Any, ...]] = []
        bulk = self._bulk
        before = (bulk.since_pk, bulk.dropped) if bulk is not None else (None, None)
        try:
            return self._write_batch(inserts, updates, rows, events, results)
        except BaseException:
            if bulk is not None:  # rolled back with whatever _defer did (DROP INDEXes…)
                bulk.since_pk, bulk.dropped = before
            raise

    def _write_batch(
        self,
        inserts: Sequence[tuple[Lead, Event]],
        updates: Sequence[tuple[Lead, int, Event]],
        rows: list[tuple[tuple[Any, ...], str]],
        events: list[tuple[Any, ...]],
        results: list[Exception | None],
    ) -> list[Exception | None]:
        insert_sql = f"INSERT INTO leads ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))})"
        with self._write() as db:
            db.execute(f"PRAGMA cache_size = {_bulk_cache_kib(db)}")
            since_pk = db.execute("SELECT coalesce(max(pk), 0) FROM leads").fetchone()[0]
            deferred = self._bulk is not None and self._defer(db, len(inserts))
            if deferred:
                db.execute(f"PRAGMA cache_size = {DEFERRED_CACHE_KIB}")
                self._set_aside_from(db, since_pk)
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
            _index_new_leads(db, since_pk, search=not deferred)
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

    @contextmanager
    def bulk_load(self, expected_inserts: Callable[[], int | None] | None = None) -> Iterator[None]:
        """Many inserts are coming (an import: `write_batch` after `write_batch`, each its own
        transaction). When they are many, for this store and in all (as `expected_inserts`
        estimates at each batch, else the rows inserted so far; see BULK_DEFER_MIN_ROWS), the batch that crosses the line drops
        the secondary indexes and the batches leave their leads out of the search index; at the
        end one transaction rebuilds both. Crash-safe: the drop commits with a batch, together
        with a `BULK_TABLE` row saying what was dropped and who loads; a store opened after
        that process died (a killed import) finishes the work first, and `doctor --fix` does
        it whoever owns it. Meanwhile other processes see every committed lead, but a search
        of theirs misses the new ones and their queries run without the dropped indexes."""
        self._bulk = _BulkLoad(expected_inserts, self.count(LeadQuery()))
        failed = True
        try:
            yield
            failed = False
        finally:
            bulk, self._bulk = self._bulk, None
            if bulk.since_pk is not None:
                try:
                    self._finish_bulk_load(bulk)
                except (sqlite3.Error, StoreUnavailable):
                    if not failed:
                        raise
                    # The load's own error is the one to report; the next open finishes this.

    def _defer(self, db: sqlite3.Connection, inserts: int) -> bool:
        """Whether this batch of the bulk load skips index upkeep, deferring it now if the load
        has become large enough (the batch's transaction drops the indexes). Inserts count:
        an `--upsert` that mostly updates or changes nothing (a CRM's whole export again, with a
        few new leads) keeps its indexes, as the caller's estimate of its inserts tells."""
        bulk = self._bulk
        assert bulk is not None
        bulk.rows += inserts
        if bulk.since_pk is not None:
            if _has_bulk_table(db) and db.execute(f"SELECT 1 FROM {BULK_TABLE} WHERE owner = ?", (_this_process(),)).fetchone():
                return True
            # Finished meanwhile by another process (`doctor --fix`): the leads so far are indexed
            # and searchable, and nothing would record those of the batches to come (a kill would
            # leave them out of the search index for good): index them as they come, or defer anew.
            bulk.since_pk = bulk.dropped = None
        if not inserts:
            return False
        expected = max((bulk.expected() if bulk.expected else None) or 0, bulk.rows)
        if expected < BULK_DEFER_MIN_ROWS or expected < bulk.stored * BULK_DEFER_STORE_SHARE or _has_bulk_table(db):
            return False  # small, or another process's load is deferred already
        dropped = db.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
            " AND tbl_name IN ('leads', 'lead_stays') ORDER BY name"
        ).fetchall()
        since = int(db.execute("SELECT coalesce(max(pk), 0) FROM leads").fetchone()[0])
        db.execute(f"CREATE TABLE {BULK_TABLE} (since_pk INTEGER NOT NULL, owner TEXT NOT NULL, indexes TEXT NOT NULL)")
        db.execute(f"INSERT INTO {BULK_TABLE} VALUES (?, ?, ?)", (since, _this_process(), json.dumps(dropped)))
        for name, _sql in dropped:
            db.execute(f'DROP INDEX "{name}"')
        bulk.since_pk, bulk.dropped = since, [(name, sql) for name, sql in dropped]
        return True

    def _set_aside_from(self, db: sqlite3.Connection, since_pk: int) -> None:
        """This deferred batch's leads take the pks above `since_pk`, the largest now. That is
        below where the load began setting leads aside only if another process deleted the
        newest leads meanwhile (SQLite reuses the largest pk + 1): the load's end, or the next
        open after a kill, must then put the leads from there into the search index."""
        bulk = self._bulk
        assert bulk is not None and bulk.since_pk is not None
        if since_pk < bulk.since_pk:
            db.execute(f"UPDATE {BULK_TABLE} SET since_pk = ? WHERE owner = ?", (since_pk, _this_process()))
            bulk.since_pk = since_pk

    def _killed_bulk_load(self) -> bool:
        """A deferred bulk load whose process is gone (killed midway) left its work undone."""
        if not _has_bulk_table(self.db):
            return False
        return not all(_process_alive(owner) for (owner,) in self.db.execute(f"SELECT owner FROM {BULK_TABLE}"))

    def _finish_bulk_load(self, bulk: _BulkLoad | None = None) -> list[str]:
        """Do what a deferred bulk load left for its end, in one transaction: recreate the
        indexes it dropped, put the leads above its pk into the search index (again: a lead
        another process wrote or edited meanwhile is there already), forget the load. `bulk`:
        this process's own load (its `BULK_TABLE` row may be gone: `doctor --fix` finished it);
        None: every recorded load (a killed one's). Returns the indexes recreated."""
        with self._write() as db:
            db.execute(f"PRAGMA cache_size = {DEFERRED_CACHE_KIB}")
            since = bulk.since_pk if bulk else None
            dropped = list(bulk.dropped or []) if bulk else []
            if _has_bulk_table(db):
                mine = _this_process()
                for since_pk, owner, indexes in db.execute(f"SELECT since_pk, owner, indexes FROM {BULK_TABLE}").fetchall():
                    if bulk is None or owner == mine:
                        since = since_pk if since is None else min(since, since_pk)
                        dropped += [(name, sql) for name, sql in json.loads(indexes)]
                        db.execute(f"DELETE FROM {BULK_TABLE} WHERE owner = ?", (owner,))
                if db.execute(f"SELECT count(*) FROM {BULK_TABLE}").fetchone()[0] == 0:
                    db.execute(f"DROP TABLE {BULK_TABLE}")
            if since is None:
                return []
            present = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
            made = {name: sql for name, sql in dropped if name not in present}
            for sql in made.values():
                db.execute(sql)
            if made and db.execute("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_stat1'").fetchone():
                for name in made:  # dropping an index dropped its statistics: the planner needs them back
                    db.execute(f'ANALYZE "{name}"')
            db.execute("DELETE FROM leads_search WHERE rowid > ?", (since,))
            _search_new_leads(db, since)
        return list(made)

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
        (`doctor --fix`), first finishing a deferred bulk load, whoever runs it (see
        bulk_load); returns their names."""
        made = self._finish_bulk_load() if _has_bulk_table(self.db) else []
        missing = self._missing_schema()
        if missing:
            with self._write() as db:
                for _name, sql in missing:
                    db.execute(sql)
        return made + [name for name, _sql in missing]

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
        if _has_bulk_table(self.db):
            found.append(
                "an import is loading leads with its indexes set aside (or was stopped in a way that left them so):"
                " they are rebuilt when it ends; leadcli doctor --fix rebuilds them now"
            )
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




def _decode(doc: str) -> Lead:
    return from_jsonable(_loads(doc))
