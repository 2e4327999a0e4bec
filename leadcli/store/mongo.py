"""The team store: MongoDB through pymongo, in the Leads Artisan backend's document shape.

Collection `leads` holds one document per lead (`_id` an ObjectId; the backend's fields plus
leadcli's optional ones), `leadcli_events` the event log, numbered by a unique `seq`, and on
FerretDB `leadcli_locks` the per-lead write leases (see mongo_lease). Only portable operators
are used (they work on MongoDB and on FerretDB v1, which has no $indexOfArray, $switch, $facet,
collation or transactions), but for `stats`' aggregation (mongo_stats), which only a server
that has them is sent. User text reaches the server only as values: `re.escape`d inside
anchored or substring regexes, never as operators (stage names in that aggregation: `$literal`).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import socket
import threading
import time
import warnings
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from datetime import UTC, datetime
from typing import Any, TypeVar
from urllib.parse import unquote

import pymongo
from bson import ObjectId
from pymongo import errors as mongo_errors

from leadcli.config import mask_uri
from leadcli.domain.dates import now_utc
from leadcli.domain.errors import Conflict, Failed, InvalidInput, NotFound, StoreUnavailable, VersionConflict
from leadcli.domain.handle import HANDLE_LENGTH, handle_of, is_hex
from leadcli.domain.lead import to_jsonable
from leadcli.domain.query import LeadQuery
from leadcli.domain.stays import stage_figures
from leadcli.store import mongo_stats
from leadcli.store.base import ChangeFeed, Event, Lead
from leadcli.store.mongo_docs import DEFAULTS, event_from_document, event_key
from leadcli.store.mongo_docs import from_document as _from_document
from leadcli.store.mongo_docs import to_document as _to_document
from leadcli.store.mongo_docs import utc as _utc
from leadcli.store.mongo_lease import NO_LEASE, Lease, WriteLeases
from leadcli.store.mongo_lease import is_duplicate as _is_duplicate
from leadcli.store.mongo_query import case_prefixes as _case_prefixes
from leadcli.store.mongo_query import exact as _exact
from leadcli.store.mongo_query import lead_filter as _filter
from leadcli.store.mongo_query import object_id as _object_id
from leadcli.store.mongo_query import sort_field as _sort_field
from leadcli.store.mongo_query import version_is as _version_is

# pymongo's background threads sleep in steps of this many seconds, and at interpreter exit
# it joins them, so every `leadcli` run on MongoDB ended with up to 0.5 s of idle waiting
# (measured: `count` 650 ms against 150 ms of work). Shorter steps cost a few wake-ups a second.
pymongo.common.MIN_HEARTBEAT_INTERVAL = 0.05

DEFAULT_DATABASE = "leads_db"
LEADS = "leads"
EVENTS = "leadcli_events"
LOCKS = "leadcli_locks"
# Small bookkeeping documents: the event seq hint and the setup marker (`_id`s below).
META = "leadcli_meta"
# Writes in flight on a server without transactions (see `_open_intent`).
INTENTS = "leadcli_intents"
SEQ_HINT = "event_seq"
SETUP = "setup"
# Bumped when leadcli's indexes change: a database whose setup marker is older is checked again.
SETUP_VERSION = 3
# Short enough that an unreachable server is a clear exit 5 well within ~10 s, never a hang.
TIMEOUT_MS = 5000
# leadcli's indexes on `leads` (`id` is `_id`); the unique email index is what enforces
# uniqueness, so it is built on its own and its failure reported, not hidden.
EMAIL_INDEX = pymongo.IndexModel([("email", 1)], unique=True, name="email_1")
LEAD_INDEXES = [
    pymongo.IndexModel([("current_stage", 1), ("created_at", 1)], name="current_stage_1_created_at_1"),
    pymongo.IndexModel([("created_at", 1), ("_id", 1)], name="created_at_1__id_1"),
    pymongo.IndexModel([("owner", 1)], name="owner_1"),
    pymongo.IndexModel([("tags", 1)], name="tags_1"),
    pymongo.IndexModel([("follow_up_at", 1)], name="follow_up_at_1"),
    # What `watch` polls for other apps' writes on a server without change streams.
    pymongo.IndexModel([("updated_at", 1)], name="updated_at_1"),
    # Not sparse: a document without `handle` (another app's) is indexed as null, so the ones
    # still to fill in are found by the index too (see find_by_reference).
    pymongo.IndexModel([("handle", 1)], name="handle_1"),
]
# What `stats` reads of a lead where it is summed in Python (see stage_stats).
STATS_PROJECTION = {"current_stage": 1, "value": 1, "engaged": 1, "stage_history": 1, "stage_updated_at": 1, "created_at": 1}
# A server that does not know an operator or stage of the stats pipeline (InvalidPipelineOperator,
# an unknown stage name, FerretDB's NotImplemented): its stats are summed in Python from then on.
UNKNOWN_OPERATOR = (168, 40324, 238)
EVENT_INDEXES = [
    pymongo.IndexModel([("seq", 1)], unique=True, name="seq_1"),
    # What recovery asks of an abandoned write: did its event land? (FerretDB v1 scans anyway.)
    pymongo.IndexModel([("op", 1)], name="op_1"),
]
T = TypeVar("T")
# Leads per insert_many/bulk_write, adapted to the server: a chunk grows while it takes under
# CHUNK_FAST seconds and halves past CHUNK_SLOW, or after a timeout (then retried, idempotently),
# so a slow server makes an import slower, never impossible. Well under the 100,000-operation
# limit (pymongo splits by size itself).
CHUNK_MIN, CHUNK_FIRST, CHUNK_MAX = 25, 500, 5000
CHUNK_FAST, CHUNK_SLOW = 1.0, 5.0
# An intent whose writer runs on another host counts as abandoned once it has shown no sign of
# life for this long (one on this host as soon as its process is gone). A live writer renews its
# intent's `at` every quarter of this (`_Heartbeat`), so a slow write is never taken for a dead one.
INTENT_STALE_SECONDS = 60.0
HOST = socket.gethostname()
# What a recovery's look-up of an intent's events may take: FerretDB v1 reads every event for it,
# which at a few 100,000 events exceeds the usual 30 s socket timeout.
RECOVERY_TIMEOUT = 600.0
# Seconds a bulk call (one import batch) may take in all, per lead and at least: the usual 30 s
# socket timeout is for one small request, and on FerretDB v1 a batch's look-ups read the
# whole collection, so a slow or busy server must make an import slower, not fail it.
BULK_SECONDS_PER_LEAD, BULK_SECONDS_MIN = 0.05, 60.0


class _SeqTaken(Exception):
    """Inside a transaction, another writer took the seq: the whole transaction is redone."""


class MongoStore:
    def __init__(self, uri: str, database: str | None = None) -> None:
        self.uri = uri
        self.uri_description = mask_uri(uri)
        self._secrets = _uri_secrets(uri)
        self._indexes_ensured = False
        self._recovered = False
        self._beats: dict[str, _Heartbeat] = {}
        self._capitalised_emails: bool | None = None
        self._indexes_serve_regex_prefixes: bool | None = None  # see get_all_by_email
        self._ferretdb: bool | None = None
        self._stats_pipeline: bool | None = None  # see stage_stats
        self._last_seq = 0
        self._seq_floor = 0  # inside a transaction: the next seq to try after a taken one
        self._txn_seq = 0  # the seq a transaction took, counted once it commits
        self._chunk = CHUNK_FIRST
        # The documents `find_by_emails` last returned, by id: what a bulk update compares with
        # (fields it changes, and a web-app write since the read). One import batch at most.
        self._read_docs: dict[str, Lead] = {}
        self.index_problems: list[str] = []
        # Whether writes take a per-lead lease first: None decides at the first write (only
        # FerretDB needs one); tests set it to exercise either path on any server.
        self.write_lease: bool | None = None
        self._leases: WriteLeases | None = None
        options: dict[str, Any] = {"tz_aware": True, "tzinfo": UTC, "appname": "leadcli"}
        # Keyword options would override the URI's; a URI that sets its own timeouts wins.
        lowered = uri.lower()
        for name in ("serverSelectionTimeoutMS", "connectTimeoutMS"):
            if name.lower() + "=" not in lowered:
                options[name] = TIMEOUT_MS
        if "sockettimeoutms=" not in lowered:
            options["socketTimeoutMS"] = 30_000
        with self._errors():
            try:
                # pymongo only warns about an option it does not know or cannot read (tls=maybe,
                # a misspelt authSource): printed as two lines, then ignored. Here it is an error.
                with warnings.catch_warnings():
                    warnings.simplefilter("error", UserWarning)
                    self.client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(uri, **options)
            except (ValueError, TypeError, UserWarning) as exc:  # pymongo's URI parser raises these too
                raise InvalidInput(f"--db: not a valid MongoDB URI: {self._scrub(_one_line(str(exc)))}") from None
            self.db = self.client.get_default_database(default=database or DEFAULT_DATABASE)
        self.database = self.db.name
        self.uri_description = f"{mask_uri(uri)} (database {self.database})"
        self.leads = self.db[LEADS]
        self.events = self.db[EVENTS]
        self.meta = self.db[META]
        self.intents = self.db[INTENTS]

    # -- errors ---------------------------------------------------------------------------

    def _scrub(self, text: str) -> str:
        """An error text safe to show: the URI's password never appears, in any encoding."""
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return mask_uri(text)

    def _errors(self) -> _ErrorBoundary:
        return _ErrorBoundary(self)

    def _translate(self, exc: Exception) -> Exception:
        where = mask_uri(self.uri)
        if isinstance(exc, mongo_errors.InvalidURI):
            # Not even a masked URI here: masking needs a URI that parses.
            return InvalidInput(f"--db: not a valid MongoDB URI: {self._scrub(_one_line(str(exc)))}")
        if isinstance(exc, mongo_errors.ServerSelectionTimeoutError):
            reason = str(exc).split(", Timeout:")[0]
            reason = re.sub(r"\s*\(configured timeouts:[^)]*\)", "", reason)
            return StoreUnavailable(f"cannot reach MongoDB at {where}: {self._scrub(_one_line(reason))}")
        if isinstance(exc, (mongo_errors.ConnectionFailure, mongo_errors.ConfigurationError)):
            return StoreUnavailable(f"cannot use MongoDB at {where}: {self._scrub(_one_line(str(exc)))}")
        if isinstance(exc, mongo_errors.OperationFailure):
            if exc.code == 18:
                return StoreUnavailable(
                    f"MongoDB at {where} rejected the credentials (authentication failed); check the user, "
                    "password and authSource in --db"
                )
            if exc.code == 13:
                return StoreUnavailable(
                    f"MongoDB at {where}: the user is not authorized for this ({self._scrub(_one_line(_errmsg(exc)))})"
                )
            return Failed(f"MongoDB at {where}: {self._scrub(_one_line(_errmsg(exc)))}")
        if isinstance(exc, mongo_errors.PyMongoError):
            return Failed(f"MongoDB at {where}: {self._scrub(_one_line(str(exc)))}")
        return exc

    # -- indexes --------------------------------------------------------------------------

    def ensure_indexes(self) -> list[str]:
        """Create leadcli's indexes if missing (idempotent); returns the problems found, such
        as duplicate emails in an existing database that keep the unique index from building.
        Runs before the first write to a database without leadcli's setup marker (then the
        marker spares every later command the checks), and from `doctor --fix`."""
        problems: list[str] = []
        with self._errors():
            self._ensure(self.leads, LEAD_INDEXES, problems, lambda exc: f"could not create the leads indexes: {self._scrub(_one_line(_errmsg(exc)))}")
            self._ensure(self.leads, [EMAIL_INDEX], problems, self._email_index_problem)
            self._ensure(self.events, EVENT_INDEXES, problems, None)
            if not problems:
                self._upsert_meta(SETUP, {"$set": {"version": SETUP_VERSION, "at": now_utc()}})
        self._indexes_ensured = True
        self.index_problems = problems
        return problems

    def _ensure(
        self, collection: Any, wanted: list[pymongo.IndexModel], problems: list[str],
        problem: Callable[[mongo_errors.OperationFailure], str] | None,
    ) -> None:  # fmt: skip
        """Create the missing ones of `wanted`, one at a time, tolerating another process doing
        the same: FerretDB v1.24 drops the connection (a server-side panic) when a createIndexes
        names only indexes that exist — which is what two leadcli processes racing on a new
        database sent, so a duplicate email there was sometimes exit 5 instead of 4. After an
        error the indexes are listed again: one that another process built is no problem."""
        for _attempt in range(4):
            names = {doc["name"] for doc in collection.list_indexes()}
            missing = [m for m in wanted if m.document["name"] not in names]
            if not missing:
                return
            try:
                for model in missing:
                    collection.create_indexes([model])
                return
            except mongo_errors.OperationFailure as exc:
                if exc.code in (13, 18):
                    raise
                names = {doc["name"] for doc in collection.list_indexes()}
                if all(m.document["name"] in names for m in wanted):
                    return
                if exc.code in (85, 86, 11000) or _is_duplicate(exc) or _attempt == 3:
                    if problem is None:
                        raise
                    problems.append(problem(exc))
                    return
            except mongo_errors.AutoReconnect:
                if _attempt == 3:
                    raise
                time.sleep(0.05 * (_attempt + 1))

    def _email_index_problem(self, exc: mongo_errors.OperationFailure) -> str:
        duplicates = self._duplicate_emails_problem()
        if duplicates:
            return duplicates
        if exc.code in (85, 86):
            return (
                "an index on email exists without `unique`, so leadcli cannot refuse duplicate emails; "
                "drop it (db.leads.dropIndex('email_1')) and run `leadcli doctor --fix`"
            )
        return f"could not create the unique email index: {self._scrub(_one_line(_errmsg(exc)))}"

    def _duplicate_emails_problem(self) -> str | None:
        pipeline: list[dict[str, Any]] = [
            {"$group": {"_id": "$email", "n": {"$sum": 1}}},
            {"$match": {"n": {"$gt": 1}}},
            {"$limit": 3},
        ]
        with self._errors():
            duplicates = list(self.leads.aggregate(pipeline))
        if not duplicates:
            return None
        examples = ", ".join(f"{d['_id']} ({d['n']} leads)" for d in duplicates)
        return (
            f"emails are not unique, so the unique email index cannot be built: {examples}; "
            "merge or delete the duplicates, then run `leadcli doctor --fix` "
            "(until then leadcli cannot refuse a duplicate email)"
        )

    def _before_write(self) -> None:
        """Once per process, before its first write: leadcli's indexes, unless the database's
        setup marker says they were built (one look-up by `_id` instead of listing and creating
        indexes on every command; `doctor` still lists them and `doctor --fix` rebuilds), then
        the writes abandoned by dead processes are settled (`_recover`)."""
        if not self._indexes_ensured:
            with self._errors():
                marker = self.meta.find_one({"_id": SETUP})
            if marker is not None and int(marker.get("version") or 0) >= SETUP_VERSION:
                self._indexes_ensured = True
            else:
                self.ensure_indexes()
        if not self._recovered:
            self._recovered = True
            if not self._transactions():
                with self._errors():
                    self._recover()

    def _transactions(self) -> bool:
        """Whether writes and their events can share a transaction: only replica sets and
        sharded clusters have them (a standalone server or FerretDB v1 does not)."""
        kind = self.client.topology_description.topology_type_name
        return kind in ("ReplicaSetWithPrimary", "Sharded", "LoadBalanced")

    def _atomic(self, write: Callable[[Any], T]) -> T:
        """Run `write(session)` — the lead's write then its event — in one transaction (only
        called where the server has them; elsewhere writes go through an intent, see
        `_open_intent`). A seq taken by a concurrent transaction redoes ours with the next one:
        every retry means another writer committed, so numbering never gives up."""
        self._seq_floor = self._txn_seq = 0
        while True:
            try:
                with self.client.start_session() as session:
                    result = session.with_transaction(write)
            except _SeqTaken:
                continue
            if self._txn_seq:
                self._last_seq = max(self._last_seq, self._txn_seq)
                self._raise_hint(self._txn_seq)  # after the commit: a shared hint would serialise transactions
            return result

    def _lease(self, lead_id: str) -> AbstractContextManager[Lease]:
        """Hold `lead_id`'s write lease where compare-and-set needs one (FerretDB v1 runs an
        update or delete as a read, then a write by `_id`); elsewhere a no-op. The write under
        it calls `lease.check()` right before touching the lead. Every write to an existing
        lead goes through it (a bulk update too: `with self._lease(id) as lease:` per lead)."""
        if self.write_lease is None:
            self.write_lease = self._is_ferretdb()
        if not self.write_lease:
            return nullcontext(NO_LEASE)
        if self._leases is None:
            self._leases = WriteLeases(self.db[LOCKS])
        return self._leases.hold(lead_id)

    def _is_ferretdb(self) -> bool:
        if self._ferretdb is None:
            with self._errors():
                self._ferretdb = "ferretdbVersion" in self.client.admin.command("buildInfo")
        return self._ferretdb

    # -- reads ----------------------------------------------------------------------------

    def get(self, lead_id: str) -> Lead | None:
        oid = _object_id(lead_id)
        if oid is None:
            return None
        with self._errors():
            doc = self.leads.find_one({"_id": oid})
        return _from_document(doc) if doc else None

    def get_by_email(self, email: str) -> Lead | None:
        text = email.strip().lower()
        with self._errors():
            doc = self.leads.find_one({"email": text})
            if doc is None and self._has_capitalised_emails():
                doc = self.leads.find_one({"email": {"$regex": _exact(text), "$options": "i"}})
        return _from_document(doc) if doc else None

    def get_all_by_email(self, email: str) -> list[Lead]:
        text = email.strip().lower()
        same: dict[str, Any] = {"email": {"$regex": _exact(text), "$options": "i"}}
        with self._errors():
            if self._indexes_serve_regex_prefixes is None:
                self._indexes_serve_regex_prefixes = not self._is_ferretdb()
            if self._indexes_serve_regex_prefixes:  # a few index seeks, not a walk of the whole index
                same = {"$and": [{"email": {"$in": _case_prefixes(text)}}, same]}
            # FerretDB v1 reads every document for any of these (measured at 20,000 leads: the
            # prefixes cost it 2-3x the single regex, which costs ~2x an exact match).
            docs = list(self.leads.find(same).sort("_id", 1).limit(50))
        return [_from_document(doc) for doc in docs]

    def find_by_emails(self, emails: Sequence[str]) -> list[Lead]:
        wanted = list(dict.fromkeys(e.strip().lower() for e in emails))
        with self._errors(), pymongo.timeout(bulk_timeout(len(wanted))):
            docs = list(self.leads.find({"email": {"$in": wanted}})) if wanted else []
            missing = set(wanted) - {doc["email"] for doc in docs}
            if missing and self._has_capitalised_emails():
                docs += [doc for doc in map(self._find_email_ignoring_case, sorted(missing)) if doc]
        leads = [_from_document(doc) for doc in docs]
        self._read_docs = {lead["id"]: lead for lead in leads}  # what write_batch's updates compare with
        return leads

    def _find_email_ignoring_case(self, email: str) -> Any:
        return self.leads.find_one({"email": {"$regex": _exact(email), "$options": "i"}})

    def _has_capitalised_emails(self) -> bool:
        """Whether another app stored emails with capitals (leadcli stores them lowercased).
        Asked once per process, so a miss (an import checking each new row) costs one indexed
        lookup, not a scan, in a database where every email is lowercase.

        A capital is whatever `str.lower()` changes, as leadcli lowercases: ASCII, or accented
        (`Élodie@`, which the web app keeps). No server-side class portable to every server names
        the non-ASCII ones, so emails with an ASCII capital or any non-ASCII character are asked
        for (only their emails) and checked here, stopping at the first capitalised one."""
        if self._capitalised_emails is None:
            candidates = self.leads.find({"email": {"$regex": r"[^\x00-\x40\x5b-\x7f]"}}, {"_id": 0, "email": 1})
            with candidates:
                self._capitalised_emails = any(isinstance(doc.get("email"), str) and doc["email"] != doc["email"].lower() for doc in candidates)
        return self._capitalised_emails

    def find_by_reference(self, key: str, limit: int = 2) -> list[Lead]:
        """The leads whose handle starts with `key`, then those whose id does (each up to
        `limit`, each lead once), in one query of handles and ids: FerretDB v1 reads the whole
        collection for each range or null match, and resolving a handle read it three times
        (now once); on MongoDB the `$or`'s branches are the handle and `_id` indexes. The leads
        chosen are then read by `_id`.

        Handles come from the indexed `handle` field leadcli writes with every lead. Documents
        without one (created by the Leads Artisan backend, or by a leadcli before handles) are
        found by the same index as null, their handles computed from `_id` and, where updates
        are atomic, stored, so each such document is read here once rather than on every
        lookup."""
        key = key.lower()
        if not key or not is_hex(key):
            return []
        branches: list[dict[str, Any]] = []
        if len(key) <= HANDLE_LENGTH:
            branches += [{"handle": {"$gte": key, "$lt": key + "g"}}, {"handle": None}]
        prefix = key[:24]
        branches.append({"_id": {"$gte": ObjectId(prefix.ljust(24, "0")), "$lte": ObjectId(prefix.ljust(24, "f"))}})
        with self._errors():
            found = list(self.leads.find({"$or": branches}, {"handle": 1}))
            missing = [doc["_id"] for doc in found if doc.get("handle") is None]
            if missing and len(key) <= HANDLE_LENGTH:
                self._fill_handles(missing)
            ids = [str(doc["_id"]) for doc in found]
            by_handle = sorted((handle_of(i), i) for i in ids if len(key) <= HANDLE_LENGTH and handle_of(i).startswith(key))
            by_id = sorted(i for i in ids if i.startswith(prefix))
            chosen = list(dict.fromkeys([i for _handle, i in by_handle[:limit]] + by_id[:limit]))
            docs = [self.leads.find_one({"_id": ObjectId(i)}) for i in chosen]
        return [_from_document(doc) for doc in docs if doc is not None]

    def find_by_prefix(self, prefix: str, limit: int = 2) -> list[Lead]:
        prefix = prefix.lower()[:24]
        if not prefix or any(c not in "0123456789abcdef" for c in prefix):
            return []
        bounds = {"$gte": ObjectId(prefix.ljust(24, "0")), "$lte": ObjectId(prefix.ljust(24, "f"))}
        with self._errors():
            docs = list(self.leads.find({"_id": bounds}).sort("_id", 1).limit(limit))
        return [_from_document(d) for d in docs]

    def find_by_handle(self, prefix: str, limit: int = 2) -> list[Lead]:
        """The leads whose handle starts with `prefix`, at most `limit`: the handle part of
        `find_by_reference`."""
        prefix = prefix.lower()
        if len(prefix) > HANDLE_LENGTH:
            return []
        return [lead for lead in self.find_by_reference(prefix, limit) if handle_of(lead["id"]).startswith(prefix)][:limit]

    def _fill_handles(self, ids: list[ObjectId]) -> None:
        """Store the handle of documents that lack one. Only where an update is atomic: FerretDB
        v1 runs it as a read, then a write of the whole document, which could undo a
        concurrent write; there every lookup computes them again instead."""
        if self.write_lease is None:
            self.write_lease = self._is_ferretdb()
        if self.write_lease:
            return
        operations = [pymongo.UpdateOne({"_id": oid, "handle": None}, {"$set": {"handle": handle_of(str(oid))}}) for oid in ids]
        try:
            for start in range(0, len(operations), CHUNK_MAX):
                self.leads.bulk_write(operations[start : start + CHUNK_MAX], ordered=False)
        except mongo_errors.OperationFailure:
            pass  # a read-only user: the lookup still works, computing them each time

    def query(self, query: LeadQuery) -> Iterator[Lead]:
        if query.limit == 0:  # pymongo's limit(0) means "no limit"
            return
        filt = _filter(query)
        if query.sort == "current_stage" and query.stage_order:
            yield from self._query_by_stage(filt, query)
            return
        direction = pymongo.DESCENDING if query.descending else pymongo.ASCENDING
        with self._errors():
            cursor = self.leads.find(filt).sort([(_sort_field(query.sort), direction), ("_id", direction)])
            if query.offset:
                cursor = cursor.skip(query.offset)
            if query.limit is not None:
                cursor = cursor.limit(query.limit)
        yield from self._stream(cursor)

    def _query_by_stage(self, filt: dict[str, Any], query: LeadQuery) -> Iterator[Lead]:
        """Pipeline order without $indexOfArray/$switch (absent from FerretDB v1): walk the
        stages in order — every stage outside the pipeline, and no stage, ranking last as in
        SQLite — skipping whole stages by their counts to honour offset, each stage by id."""
        order = list(dict.fromkeys(query.stage_order))
        counts = self._stage_counts(filt)
        buckets: list[tuple[dict[str, Any], int]] = [({"current_stage": s}, counts.get(s, 0)) for s in order]
        others = sum(n for stage, n in counts.items() if stage not in order)
        buckets.append(({"current_stage": {"$nin": order}}, others))
        if query.descending:
            buckets.reverse()
        direction = pymongo.DESCENDING if query.descending else pymongo.ASCENDING
        skip, remaining = query.offset, query.limit
        for condition, size in buckets:
            if remaining is not None and remaining <= 0:
                return
            if size == 0 or skip >= size:
                skip -= min(skip, size)
                continue
            with self._errors():
                cursor = self.leads.find({"$and": [filt, condition]} if filt else condition).sort("_id", direction)
                if skip:
                    cursor = cursor.skip(skip)
                if remaining is not None:
                    cursor = cursor.limit(remaining)
            skip = 0
            for lead in self._stream(cursor):
                yield lead
                if remaining is not None:
                    remaining -= 1

    def _stream(self, cursor: Any) -> Iterator[Lead]:
        iterator = iter(cursor)
        while True:
            with self._errors():
                doc = next(iterator, None)
            if doc is None:
                cursor.close()
                return
            yield _from_document(doc)

    def stage_stats(
        self, query: LeadQuery, closed: Sequence[str], now: datetime
    ) -> tuple[dict[str | None, tuple[int, float]], int, dict[str, tuple[float, int]]]:
        """What `stats` is made of (see LeadStore). On MongoDB one aggregation sums it on the
        server (store/mongo_stats.py), and the few leads of a shape it does not read exactly
        (text times in another format…) are summed in Python beside it. FerretDB v1 has no date
        arithmetic in aggregation: there the matching leads are streamed with only what stats
        reads and summed in one pass (`domain.stays.stage_figures`). Decided once per store: by
        the server, or by the first pipeline it refuses for an operator it does not know."""
        match = _filter(query)
        if self._stats_pipeline is None:
            self._stats_pipeline = not self._is_ferretdb()
        if self._stats_pipeline:
            figures = self._aggregated_stats(match, closed, now)
            if figures is not None:
                return figures
        return stage_figures(self._stats_leads(match), closed, now)

    def _aggregated_stats(self, match: dict[str, Any], closed: Sequence[str], now: datetime) -> mongo_stats.Figures | None:
        """`stage_stats` by the server's aggregation, with its odd leads summed here; None when
        the server refuses an operator of it (from then on this store sums in Python)."""
        pipeline = mongo_stats.pipeline(match, closed, now, DEFAULTS["current_stage"])
        with self._errors():
            try:
                result = next(self.leads.aggregate(pipeline, allowDiskUse=True))
            except mongo_errors.OperationFailure as exc:
                if exc.code not in UNKNOWN_OPERATOR:
                    raise
                self._stats_pipeline = False
                return None
        figures, odd = mongo_stats.figures(result)
        if not odd:
            return figures
        odd_leads = self._stats_leads({"$and": [match, mongo_stats.odd_filter()]})
        return mongo_stats.merge(figures, stage_figures(odd_leads, closed, now))

    def _stats_leads(self, match: dict[str, Any]) -> Iterator[Lead]:
        with self._errors():
            cursor = self.leads.find(match, STATS_PROJECTION)
        yield from self._stream(cursor)

    def query_records(self, query: LeadQuery) -> Iterator[dict[str, Any]]:
        """`query`'s leads as JSON-ready records (see LeadStore)."""
        for lead in self.query(query):
            yield to_jsonable(lead)

    def count(self, query: LeadQuery) -> int:
        with self._errors():
            return int(self.leads.count_documents(_filter(query)))

    def stage_totals(self, query: LeadQuery, values: bool = True) -> dict[str | None, tuple[int, float]]:
        """Per stage (leads, value): one `$group` each, as FerretDB v1 computes only one
        accumulator per `$group` (and reads every document for each: `values=False`, all that
        `stages` shows, spares the second; grouping by stage and value in one pass measured
        slower there, its groups being many)."""
        filt = _filter(query)
        counts = self._stage_counts(filt)
        sums = self._group_by_stage(filt, {"$sum": "$value"}) if values else {}
        return {stage: (n, float(sums.get(stage) or 0)) for stage, n in counts.items()}

    def _stage_counts(self, filt: dict[str, Any]) -> dict[str | None, int]:
        return {stage: int(n) for stage, n in self._group_by_stage(filt, {"$sum": 1}).items()}

    def _group_by_stage(self, filt: dict[str, Any], accumulator: dict[str, Any]) -> dict[str | None, Any]:
        # One accumulator per $group: FerretDB v1.24 computes only the first of several.
        pipeline: list[dict[str, Any]] = [{"$match": filt}] if filt else []
        pipeline.append({"$group": {"_id": "$current_stage", "total": accumulator}})
        with self._errors():
            return {row["_id"]: row["total"] for row in self.leads.aggregate(pipeline)}

    # -- writes ---------------------------------------------------------------------------
    #
    # On a replica set a lead's write and its event share a transaction. Elsewhere (a standalone
    # server, FerretDB v1) a write goes through an *intent*: a small document in
    # `leadcli_intents` naming the write, inserted before it and deleted once its event is in.
    # A writer that fails between the two settles what it can at once; an intent whose writer
    # died (its process gone from this host, or INTENT_STALE_SECONDS old) is settled by the next
    # leadcli write to the database (`_recover`): a single lead's creation whose event never
    # landed is rolled back (so a failed `add`, retried, succeeds instead of "already exists"),
    # an update, a delete or a bulk batch is rolled forward (its missing events appended, so a
    # retried edit finds nothing left to do and `import --upsert` completes a killed import).

    def insert(self, lead: Lead, event: Event) -> Lead:
        lead = {**lead, "version": lead.get("version") or 1}
        doc = _to_document(lead)
        self._before_write()

        def write(session: Any) -> None:
            self.leads.insert_one(doc, session=session)
            self._append_event(session, lead, event)

        with self._errors():
            try:
                if self._transactions():
                    self._atomic(write)
                else:
                    self._insert_with_intent(doc, lead, event)
            except mongo_errors.OperationFailure as exc:
                if _is_duplicate(exc):
                    raise self._duplicate(lead) from None
                raise
        return lead

    def _insert_with_intent(self, doc: dict[str, Any], lead: Lead, event: Event) -> None:
        record = self._event_record(lead, event)
        op = self._open_intent({"kind": "insert", "lead": lead["id"], "version": lead["version"], "event": record})
        try:
            try:
                self.leads.insert_one(doc)
            except mongo_errors.OperationFailure:
                self._close_intent(op)  # refused (a taken email or id): nothing was written
                raise
            try:
                self._append_record(record, op)
            except BaseException:
                if self._settle_own(op, undo=lambda: self.leads.delete_one({"_id": doc["_id"], "version": doc["version"]})):
                    return  # the event did land: the write is whole after all
                raise
        finally:
            self._release_intent(op)  # on a failure the intent stays, for the next write to settle
        self._close_intent(op)

    def replace(self, lead: Lead, expected_version: int, event: Event, before: Lead | None = None) -> Lead:
        """Compare-and-set over `expected_version` — and, given `before` (the lead as read),
        over its `updated_at` too, which the Leads Artisan backend changes on every write while
        it never touches `version`; only the fields that differ from `before` are `$set` or
        `$unset`, so another writer's fields are never written back as they were."""
        lead = {**lead, "version": expected_version + 1}
        filt, update = self._cas_update(lead, expected_version, before)
        self._before_write()

        def write(session: Any) -> bool:
            lease.check()
            result = self.leads.update_one(filt, update, session=session)
            if result.matched_count == 0:
                return False
            self._append_event(session, lead, event)
            return True

        def write_alone() -> bool:
            lease.check()
            return self._update_leased(filt, update) if lease is not NO_LEASE else self.leads.update_one(filt, update).matched_count > 0

        with self._errors(), self._lease(lead["id"]) as lease:
            try:
                if self._transactions():
                    written = self._atomic(write)
                else:
                    written = self._change_with_intent("update", lead, event, write_alone)
            except mongo_errors.OperationFailure as exc:
                if _is_duplicate(exc):
                    raise self._duplicate(lead) from None
                raise
            if not written:
                raise self._lost_race(lead["id"])
        return lead

    def _cas_update(self, lead: Lead, expected_version: int, before: Mapping[str, Any] | None) -> tuple[dict[str, Any], dict[str, Any]]:
        """The filter and update of a compare-and-set write of `lead` (at its new version)."""
        doc = _to_document(lead)
        oid = doc.pop("_id")
        filt: dict[str, Any] = {"_id": oid, **_version_is(expected_version)}
        if before is None:
            return filt, {"$set": doc}  # $set, not replace_one: fields another app keeps stay
        old = _to_document(before)
        old.pop("_id")
        changed = {k: v for k, v in doc.items() if k not in old or not _same(old[k], v)}
        changed["version"] = doc["version"]
        changed["updated_at"] = doc.get("updated_at")
        gone = {k: "" for k in old if k not in doc}
        filt["updated_at"] = _ms(old.get("updated_at"))
        update: dict[str, Any] = {"$set": changed}
        if gone:
            update["$unset"] = gone
        return filt, update

    def _update_leased(self, filt: dict[str, Any], update: dict[str, Any]) -> bool:
        """A compare-and-set update under the lead's write lease (FerretDB v1): the lead read by
        `_id`, the conditions of `filt` checked here, then the update by `_id` alone. FerretDB v1
        serves only a bare `_id` filter from its index: with the conditions beside it every
        update read the whole collection (3-4 s an `edit` at 10,000 leads, ~30 s at 100,000).
        No atomicity is lost: FerretDB runs an update as a read, then a write by `_id`, either
        way, and the lease keeps other leadcli writers out meanwhile."""
        return self._holds_match(filt) and self.leads.update_one({"_id": filt["_id"]}, update).matched_count > 0

    def _holds_match(self, filt: dict[str, Any]) -> bool:
        """Whether the lead `filt["_id"]` matches the rest of `filt`: the equality and `$in`
        conditions `_cas_update`/`delete` build (version, updated_at), as the server matches
        them (a missing field is null)."""
        conditions = {k: v for k, v in filt.items() if k != "_id"}
        doc = self.leads.find_one({"_id": filt["_id"]}, {k: 1 for k in conditions} or {"_id": 1})
        if doc is None:
            return False
        for key, wanted in conditions.items():
            held = doc.get(key)
            if isinstance(wanted, Mapping):
                if set(wanted) != {"$in"}:
                    raise ValueError(f"unexpected condition on {key}: {wanted!r}")
                if not any(_equal(held, w) for w in wanted["$in"]):
                    return False
            elif not _equal(held, wanted):
                return False
        return True

    def _change_with_intent(self, kind: str, lead: Lead, event: Event, write: Callable[[], bool]) -> bool:
        """An update or delete of one lead, then its event, under an intent (see above)."""
        record = self._event_record(lead, event)
        op = self._open_intent({"kind": kind, "lead": lead["id"], "version": int(lead.get("version") or 0), "event": record})
        try:
            try:
                written = write()
            except mongo_errors.OperationFailure:
                self._close_intent(op)  # refused: nothing was written
                raise
            if not written:
                self._close_intent(op)
                return False
            try:
                self._append_record(record, op)
            except BaseException:
                if self._settle_own(op, undo=None):
                    return True
                raise
        finally:
            self._release_intent(op)  # on a failure the intent stays, for the next write to settle
        self._close_intent(op)
        return True

    def bulk_load(self, expected_inserts: Callable[[], int | None] | None = None) -> AbstractContextManager[None]:
        """Nothing to set aside: MongoDB keeps its indexes per write, and the batches are
        already bulk requests (see LeadStore.bulk_load)."""
        return nullcontext()

    def write_batch(
        self, inserts: Sequence[tuple[Lead, Event]], updates: Sequence[tuple[Lead, int, Event]]
    ) -> list[Exception | None]:
        """One insert_many (unordered) for the new leads and one bulk_write of compare-and-set
        updates, then the events of what was written, numbered in one insert_many; in chunks
        sized to the server (CHUNK_*). No transaction: each lead write is atomic, and the
        batch's intent has the next leadcli write append the events of a batch cut short."""
        results: list[Exception | None] = [None] * (len(inserts) + len(updates))
        written: list[tuple[Lead, Event]] = []
        self._before_write()
        # No deadline over the whole batch: each bulk request has its own (`_bulk`), so a batch
        # slowed at every step (an event append beside busy editors) is slower, not cut off.
        with self._errors():
            new_leads = [{**lead, "version": lead.get("version") or 1} for lead, _ in inserts]
            changed = [{**lead, "version": expected + 1} for lead, expected, _ in updates]
            op = None
            if not self._transactions() and (new_leads or changed):
                op = self._open_intent({
                    "kind": "batch",
                    "inserts": [lead["id"] for lead in new_leads],
                    # two lists, not pairs: FerretDB v1 stores no nested arrays
                    "updates": [lead["id"] for lead in changed],
                    "versions": [lead["version"] for lead in changed],
                })  # fmt: skip
            try:
                for i, error in self._insert_many(new_leads).items():
                    results[i] = error
                for j, error in self._update_many(changed, [expected for _, expected, _ in updates]).items():
                    results[len(inserts) + j] = error
                pairs = [(lead, event) for lead, (_, event) in zip(new_leads, inserts, strict=True)]
                pairs += [(lead, event) for lead, (_, _, event) in zip(changed, updates, strict=True)]
                written = [pair for pair, result in zip(pairs, results, strict=True) if result is None]
                self._append_records([self._event_record(lead, event) for lead, event in written], op)
            finally:
                self._release_intent(op)  # cut short: the intent stays, for the next write to settle
            if op is not None:
                self._close_intent(op)
        self._read_docs = {}
        return results

    def _chunks(self, items: list[Any]) -> Generator[tuple[int, list[Any]], None, None]:
        """`items` in chunks sized to the server: after each chunk the size doubles if it took
        under CHUNK_FAST seconds and halves past CHUNK_SLOW. The caller reports a timeout by
        `throw`ing it in: the size halves and the same position is offered again (so each
        chunk's write must be idempotent), until a chunk of CHUNK_MIN times out too."""
        pos = 0
        while pos < len(items):
            size = self._chunk
            started = time.monotonic()
            try:
                yield pos, items[pos : pos + size]
            except mongo_errors.NetworkTimeout:
                if size <= CHUNK_MIN:
                    raise
                self._chunk = max(CHUNK_MIN, size // 2)
                yield -1, []  # the `throw` returns this; the loop offers the same position again
                continue
            took = time.monotonic() - started
            if took < CHUNK_FAST:
                self._chunk = min(CHUNK_MAX, size * 2)
            elif took > CHUNK_SLOW:
                self._chunk = max(CHUNK_MIN, size // 2)
            pos += size

    def _insert_many(self, leads: list[Lead]) -> dict[int, Exception]:
        """Insert `leads`; the ones refused (taken email or id), by position. A chunk retried
        after a timeout finds the leads that did land as its own, not as taken."""
        errors: dict[int, Exception] = {}
        retried = False
        chunks = self._chunks(leads)
        for start, chunk in chunks:
            if start < 0:
                continue
            try:
                with _bulk(len(chunk)):
                    self.leads.insert_many([_to_document(lead) for lead in chunk], ordered=False)
            except mongo_errors.NetworkTimeout as exc:
                retried = True
                chunks.throw(exc)
                continue
            except mongo_errors.BulkWriteError as exc:
                for failure in exc.details.get("writeErrors", []):
                    if not _is_duplicate_write(failure):
                        raise mongo_errors.OperationFailure(failure.get("errmsg", ""), failure.get("code")) from None
                    lead = chunk[failure["index"]]
                    if not (retried and self._holds(lead)):
                        errors[start + failure["index"]] = self._duplicate(lead)
        return errors

    def _holds(self, lead: Lead) -> bool:
        """Whether the store holds `lead` as this process wrote it (a write retried after a
        timeout that had landed)."""
        doc = self.leads.find_one({"_id": ObjectId(lead["id"])}, {"email": 1, "version": 1})
        return doc is not None and doc.get("email") == lead["email"] and int(doc.get("version") or 0) == lead["version"]

    def _update_many(self, leads: list[Lead], expected: list[int]) -> dict[int, Exception]:
        """Compare-and-set each of `leads` (already at its new version) over `expected` (and
        over the `updated_at` `find_by_emails` read, see `replace`); the ones not written, by
        position: Conflict for a taken email, VersionConflict/NotFound when the stored lead
        changed or went. A bulk write reports how many matched, not which: when all did (the
        usual case) that settles it; otherwise each is read back."""
        errors: dict[int, Exception] = {}
        operations = []
        for lead, version in zip(leads, expected, strict=True):
            read = self._read_docs.get(lead["id"])
            before = read if read is not None and int(read.get("version") or 0) == version else None
            operations.append(self._cas_update(lead, version, before))
        if self.write_lease is None and operations:
            self.write_lease = self._is_ferretdb()
        if self.write_lease:  # updates are not atomic there: each under its lead's lease
            return self._update_one_by_one(leads, operations, leased=True)
        chunks = self._chunks(list(range(len(leads))))
        for start, positions in chunks:
            if start < 0 or not positions:
                continue
            chunk = [leads[i] for i in positions]
            ops = [operations[i] for i in positions]
            failed: dict[int, Exception] = {}
            try:
                with _bulk(len(ops)):
                    matched = self.leads.bulk_write([pymongo.UpdateOne(f, u) for f, u in ops], ordered=False).matched_count
            except mongo_errors.NetworkTimeout as exc:
                chunks.throw(exc)  # retried smaller: the ones that landed read back as written
                continue
            except mongo_errors.BulkWriteError as exc:
                matched = exc.details.get("nMatched", 0)
                for failure in exc.details.get("writeErrors", []):
                    if not _is_duplicate_write(failure):
                        raise mongo_errors.OperationFailure(failure.get("errmsg", ""), failure.get("code")) from None
                    failed[failure["index"]] = self._duplicate(chunk[failure["index"]])
            except mongo_errors.OperationFailure as exc:
                # FerretDB v1 fails the whole command on a taken email, having written some of it.
                if not _is_duplicate(exc):
                    raise
                failed = self._update_one_by_one(chunk, ops)
                matched = len(chunk) - len(failed)
            if matched + len(failed) < len(chunk):
                failed.update(self._not_written(chunk, failed))
            errors.update({start + i: error for i, error in failed.items()})
        return errors

    def _update_one_by_one(
        self, leads: list[Lead], operations: list[tuple[dict[str, Any], dict[str, Any]]], leased: bool = False
    ) -> dict[int, Exception]:
        """Updates one at a time: under each lead's lease (`leased`, where updates are not
        atomic), or to finish a bulk write that failed midway (those it wrote are left as they
        are, the rest are tried alone)."""
        failed: dict[int, Exception] = {}
        pending = set(range(len(leads))) if leased else set(self._not_written(leads, {}))
        for i, (lead, (filt, update)) in enumerate(zip(leads, operations, strict=True)):
            if i not in pending:
                continue
            try:
                with self._lease(lead["id"]) as lease:
                    lease.check()
                    matched = self._update_leased(filt, update) if lease is not NO_LEASE else self.leads.update_one(filt, update).matched_count > 0
            except mongo_errors.OperationFailure as exc:
                if not _is_duplicate(exc):
                    raise
                failed[i] = self._duplicate(lead)
                continue
            if not matched and not self._holds_version(lead):
                failed[i] = self._lost_race(lead["id"])
        return failed

    def _holds_version(self, lead: Lead) -> bool:
        doc = self.leads.find_one({"_id": ObjectId(lead["id"])}, {"version": 1, "updated_at": 1})
        return doc is not None and int(doc.get("version") or 0) == lead["version"] and _same(_utc(doc.get("updated_at")), lead.get("updated_at"))

    def _not_written(self, leads: list[Lead], known: dict[int, Exception]) -> dict[int, Exception]:
        """Which of `leads` the store does not hold as written: reads them back (the version and
        updated_at we wrote mark our write). One that another writer changed again after ours
        counts as not written: the importer retries it alone, which finds nothing left to do."""
        ids = [ObjectId(lead["id"]) for lead in leads]
        stored = {str(d["_id"]): _from_document(d) for d in self.leads.find({"_id": {"$in": ids}})}
        failed: dict[int, Exception] = {}
        for i, lead in enumerate(leads):
            if i in known:
                continue
            now = stored.get(lead["id"])
            if now is None:
                failed[i] = NotFound(f"lead {lead['id']} no longer exists")
            elif now["version"] != lead["version"] or not _same(now["updated_at"], lead["updated_at"]):
                failed[i] = VersionConflict(f"lead {lead['id']} changed under a concurrent write; run the command again")
        return failed

    def delete(self, lead: Lead, event: Event) -> None:
        oid = ObjectId(lead["id"])
        filt = {"_id": oid, **_version_is(int(lead.get("version") or 0))}
        if "updated_at" in lead:  # a web-app write since the read is a conflict here too
            filt["updated_at"] = _ms(lead["updated_at"])
        self._before_write()

        def write(session: Any) -> bool:
            lease.check()
            result = self.leads.delete_one(filt, session=session)
            if result.deleted_count == 0:
                return False
            self._append_event(session, lead, event)
            return True

        def write_alone() -> bool:
            lease.check()
            if lease is not NO_LEASE:
                return self._holds_match(filt) and bool(self.leads.delete_one({"_id": oid}).deleted_count)
            return bool(self.leads.delete_one(filt).deleted_count)

        with self._errors(), self._lease(lead["id"]) as lease:
            if self._transactions():
                written = self._atomic(write)
            else:
                written = self._change_with_intent("delete", lead, event, write_alone)
            if not written:
                raise self._lost_race(lead["id"])

    def _lost_race(self, lead_id: str) -> Exception:
        if self.leads.find_one({"_id": ObjectId(lead_id)}, {"_id": 1}):
            return VersionConflict(f"lead {lead_id} changed under a concurrent write; run the command again")
        return NotFound(f"lead {lead_id} no longer exists")

    def _duplicate(self, lead: Lead) -> Conflict:
        # FerretDB's duplicate-key errors do not name the key, so ask which one it was.
        other = self.leads.find_one({"email": lead["email"]}, {"_id": 1})
        if other and str(other["_id"]) != lead["id"]:
            return Conflict(f"a lead with email {lead['email']} already exists (id {other['_id']})")
        return Conflict(f"a lead with id {lead['id']} already exists")

    # -- intents: a write and its event, on a server without transactions -----------------

    def _open_intent(self, fields: dict[str, Any]) -> str:
        """Record a write about to be made; while it is open a heartbeat renews its `at`, so
        other processes see its writer alive however slow the server is (`_abandoned`)."""
        op = secrets.token_hex(12)
        self.intents.insert_one({"_id": op, "holder": f"{HOST}:{os.getpid()}", "at": now_utc(), **fields})
        self._beats[op] = _Heartbeat(self.intents, op)
        return op

    def _release_intent(self, op: str | None) -> None:
        """Stop renewing the intent (it is closed, or left to be settled as its writer's)."""
        beat = self._beats.pop(op, None) if op is not None else None
        if beat is not None:
            beat.stop()

    def _close_intent(self, op: str) -> None:
        """The write and its event are in (or nothing was written): forget the intent. A failure
        here is not the write's: the intent is then settled, as done, by a later write."""
        self._release_intent(op)
        try:
            self.intents.delete_one({"_id": op})
        except mongo_errors.PyMongoError:
            pass

    def _settle_own(self, op: str, undo: Callable[[], Any] | None) -> bool:
        """After appending this write's event failed (a timeout, a dropped connection, Ctrl-C):
        True if the event landed after all (the write is whole). Otherwise `undo` the write
        where it can be undone (a creation) and forget the intent, or, where it cannot (an
        update: rolled forward later) or the server does not answer, leave the intent for the
        next leadcli write to settle; the caller then reports the failure."""
        try:
            if self.events.find_one({"op": op}, {"_id": 1}) is not None:
                self._close_intent(op)
                return True
            if undo is not None:
                undo()
                self._close_intent(op)
        except mongo_errors.PyMongoError:
            pass
        return False

    def _recover(self) -> None:
        """Settle the intents of writers that died (`_abandoned`), each under a lease so two
        processes never settle one twice. Costs one read of a (nearly always empty) collection."""
        intents = [i for i in self.intents.find({}) if _abandoned(i)]
        if not intents:
            return
        leases = WriteLeases(self.db[LOCKS])
        for intent in intents:
            try:
                with leases.hold(f"intent:{intent['_id']}"):
                    current = self.intents.find_one({"_id": intent["_id"]})
                    if current is not None:
                        self._settle(current)
                        self.intents.delete_one({"_id": intent["_id"]})
            except Conflict:
                continue  # another process is settling it

    def _settle(self, intent: Mapping[str, Any]) -> None:
        op = intent["_id"]
        with pymongo.timeout(RECOVERY_TIMEOUT):
            landed = {e.get("lead_id") for e in self.events.find({"op": op}, {"lead_id": 1})}
        kind = intent.get("kind")
        if kind == "batch":
            self._settle_batch(intent, landed)
            return
        lead_id, version = str(intent["lead"]), int(intent.get("version") or 0)
        if lead_id in landed:
            return
        doc = self.leads.find_one({"_id": ObjectId(lead_id)}, {"version": 1})
        stored = int(doc.get("version") or 0) if doc else None
        if kind == "insert":
            if stored == version:  # never announced, never changed since: as if never written
                self.leads.delete_one({"_id": ObjectId(lead_id), "version": version})
                return
            if stored is None:
                return
        elif kind == "update" and (stored is None or stored < version):
            return  # the update never landed (or the lead went: its delete says so)
        elif kind == "delete" and stored is not None:
            return
        self._append_record(dict(intent["event"]), op)

    def _settle_batch(self, intent: Mapping[str, Any], landed: set[Any]) -> None:
        """Roll a bulk batch forward: each of its leads written as the batch wrote it (or
        since) gets the event it is missing, made from the lead as stored."""
        created = [i for i in intent.get("inserts") or [] if i not in landed]
        pairs = zip(intent.get("updates") or [], intent.get("versions") or [], strict=False)
        updated = {str(i): int(v) for i, v in pairs if i not in landed}
        ids = [ObjectId(i) for i in [*created, *updated]]
        if not ids:
            return
        stored = {str(d["_id"]): d for d in self.leads.find({"_id": {"$in": ids}})}
        records = []
        for lead_id in created:
            if lead_id in stored:
                lead = _from_document(stored[lead_id])
                records.append(self._event_record(lead, {"type": "lead_created", "at": lead["created_at"]}))
        for lead_id, version in updated.items():
            if lead_id in stored and int(stored[lead_id].get("version") or 0) >= version:
                lead = _from_document(stored[lead_id])
                records.append(self._event_record(lead, {"type": "lead_updated", "at": lead["updated_at"]}))
        self._append_records(records, intent["_id"])

    # -- event numbering -------------------------------------------------------------------

    def _append_event(self, session: Any, lead: Lead, event: Event) -> None:
        """Append the event inside a transaction (`_atomic`): a taken seq redoes the transaction."""
        self._append_record(self._event_record(lead, event), None, session=session)

    def _append_record(self, record: dict[str, Any], op: str | None, session: Any = None) -> int:
        """Append one event as the next seq, which the unique index on `seq` (and `_id`
        "seq:N") makes atomic; returns its seq. Not a `$inc` counter: FerretDB v1 runs
        findAndModify as a read then a write, so concurrent increments return the same number
        (measured: 200 increments from 4 threads gave 60 distinct values). A unique-index
        insert is atomic everywhere, and seq N+1 is only tried once N is taken, so seqs have no
        gaps and a tail by seq misses nothing. Where to start is the seq hint (`_seq_start`),
        never a scan of the events; a taken seq moves on to the next, which never gives up:
        each miss means another writer's event went in."""
        seq = self._seq_start(session)
        misses = 0
        while True:
            doc = {"_id": event_key(seq), "seq": seq, **record}
            if op is not None:
                doc["op"] = op
            try:
                self.events.insert_one(doc, session=session)
                break
            except mongo_errors.OperationFailure as exc:
                if not _is_duplicate(exc):
                    raise
                if session is not None:
                    self._seq_floor = seq + 1
                    raise _SeqTaken() from None
                misses += 1
                seq = self._after_miss(seq, misses)
        if session is None:
            self._last_seq = max(self._last_seq, seq)
            self._raise_hint(seq)
        else:
            self._txn_seq = seq  # counts once the transaction commits (`_atomic`)
        return seq

    def _append_records(self, records: list[dict[str, Any]], op: str | None) -> None:
        """A batch's events, in chunks sized to the server, each numbered from the seq hint on
        and inserted in one ordered insert_many; when a concurrent writer takes a seq first,
        the rest are renumbered after it. After a timeout, the events of this batch that did
        land are looked up (by `op`) and not written again."""
        records = list(records)
        while records:
            size = self._chunk
            chunk = records[:size]
            seq = self._seq_start(None)
            misses = 0
            started = time.monotonic()
            while chunk:
                docs = [{"_id": event_key(seq + n), "seq": seq + n, **r} for n, r in enumerate(chunk)]
                if op is not None:
                    for doc in docs:
                        doc["op"] = op
                try:
                    with _bulk(len(docs)):
                        self.events.insert_many(docs, ordered=True)
                    self._raise_hint(seq + len(chunk) - 1)
                    self._last_seq = max(self._last_seq, seq + len(chunk) - 1)
                    chunk = []
                except mongo_errors.BulkWriteError as exc:
                    failures = exc.details.get("writeErrors", [])
                    if not failures or not _is_duplicate_write(failures[0]):
                        raise
                    done = failures[0]["index"]  # the ones before it are in
                    if done:
                        self._raise_hint(seq + done - 1)  # single writers skip the run that is in
                    chunk, seq = chunk[done:], seq + done
                    misses += 1
                    seq = self._after_miss(seq, misses)
                except mongo_errors.NetworkTimeout:
                    if op is None or size <= CHUNK_MIN:
                        raise
                    self._chunk = max(CHUNK_MIN, size // 2)
                    with pymongo.timeout(RECOVERY_TIMEOUT):
                        landed = {e.get("lead_id"): e["seq"] for e in self.events.find({"op": op}, {"lead_id": 1, "seq": 1})}
                    records = [r for r in records if r["lead_id"] not in landed]
                    if landed:
                        self._raise_hint(max(landed.values()))
                    break
            else:
                records = records[size:]
                took = time.monotonic() - started
                self._chunk = min(CHUNK_MAX, size * 2) if took < CHUNK_FAST else max(CHUNK_MIN, size // 2) if took > CHUNK_SLOW else size

    def _seq_start(self, session: Any) -> int:
        """The first seq to try: after the hint, after what this process wrote, and (in a
        transaction being redone) after the seq it found taken."""
        return max(self._hint(), self._last_seq, self._seq_floor - 1) + 1

    def _after_miss(self, seq: int, misses: int) -> int:
        """The seq to try after `seq` was taken: the next one after a first miss (two single
        writers met); from the second miss on, the end of the run of taken seqs found by `_id`
        look-ups from `seq` on (`_last_from`: one look-up when the next seq is free). An import
        appends its events as an ordered run of hundreds: an editor that tried them one by one
        (the hint is raised only after a whole chunk) walked behind it for minutes, until
        its 30 s socket timeout (exit 5). A sort of the event log would read every event."""
        if misses == 1:
            return seq + 1
        return max(self._last_from(seq), self._hint()) + 1

    def _hint(self) -> int:
        """The seq hint: a lower bound of the last seq, in a small document read by `_id` (an
        event look-up costs what the event log's size does on FerretDB v1; this does not). A
        database whose events predate the hint is scanned once, then hinted."""
        doc = self.meta.find_one({"_id": SEQ_HINT})
        if doc is not None:
            return int(doc.get("last") or 0)
        last = self._scan_last_seq()
        self._raise_hint(last)
        return last

    def _raise_hint(self, seq: int) -> None:
        self._upsert_meta(SEQ_HINT, {"$max": {"last": seq}})

    def _upsert_meta(self, key: str, update: dict[str, Any]) -> None:
        try:
            self.meta.update_one({"_id": key}, update, upsert=True)
        except mongo_errors.OperationFailure as exc:
            if not _is_duplicate(exc):  # two first upserts at once: the other one inserted it
                raise
            self.meta.update_one({"_id": key}, update)

    def _scan_last_seq(self) -> int:
        """The last seq by sorting the event log: once per database (before the hint existed),
        and rarely after (`_after_miss`). FerretDB v1 reads every event for it: a long wait."""
        with pymongo.timeout(RECOVERY_TIMEOUT):
            latest = self.events.find_one({}, {"seq": 1}, sort=[("seq", -1)])
        return int(latest["seq"]) if latest else 0

    @staticmethod
    def _event_record(lead: Lead, event: Event) -> dict[str, Any]:
        return {
            "type": event["type"],
            "at": event.get("at") or now_utc(),
            "by": event.get("by"),
            "lead_id": lead["id"],
            "lead": _to_document(lead),
            # JSON text: a change is [old, new], and old/new may be lists (tags), but
            # FerretDB v1 stores no nested arrays; custom field names may hold `.` or `$`.
            "changes": json.dumps(event.get("changes") or {}, ensure_ascii=False, default=str),
        }

    # -- events ---------------------------------------------------------------------------

    def events_after(self, seq: int, limit: int = 500) -> list[Event]:
        if limit <= 0:
            return []
        with self._errors():
            docs = list(self.events.find({"seq": {"$gt": seq}}).sort("seq", 1).limit(limit))
        return [event_from_document(d) for d in docs]

    def event_at(self, seq: int) -> Event | None:
        """Event `seq` if it is visible: a look-up by `_id`, which FerretDB serves 10-20x cheaper
        than `seq > N` (it scans every event for that); what `watch` polls between range reads.
        None for events written by a leadcli that did not key them yet, which is why the tail
        still reads the range every few seconds."""
        with self._errors():
            doc = self.events.find_one({"_id": event_key(seq)})
        return event_from_document(doc) if doc else None

    def last_seq(self) -> int:
        """The last seq: the seq hint, then look-ups by `_id` forward from it (doubling, then
        halving back) in case it fell behind — not a sort of the event log, which FerretDB v1
        answers by reading every event. A database without the hint is scanned."""
        with self._errors():
            doc = self.meta.find_one({"_id": SEQ_HINT})
            if doc is None:
                return self._scan_last_seq()
            return self._last_from(int(doc.get("last") or 0))

    def _last_from(self, known: int) -> int:
        """The last seq, given that seq `known` exists (or is 0): look-ups by `_id` forward,
        doubling, then halving back — a few look-ups where a sort would read every event."""
        last, step = known, 1
        while self._has_event(last + step):
            last, step = last + step, step * 2
        high = last + step  # absent
        while high - last > 1:
            middle = (last + high) // 2
            last, high = (middle, high) if self._has_event(middle) else (last, middle)
        return last

    def _has_event(self, seq: int) -> bool:
        return self.events.find_one({"_id": event_key(seq)}, {"_id": 1}) is not None

    # -- live changes (watch, serve) ------------------------------------------------------

    def changes(self, after: int, others: bool = True) -> ChangeFeed:
        """leadcli's events after `after` and other apps' writes to `leads` (see mongo_changes)."""
        from leadcli.store.mongo_changes import foreign_source
        from leadcli.store.tail import ChangeStreamTail, ForeignMerge, SeqTail

        own: ChangeFeed
        if self.server_info()["change_streams"]:

            def open_stream(**resume: Any) -> Any:
                # Inserts only matter; other operations and `invalidate` are sorted out by the tail.
                return self.events.watch(max_await_time_ms=250, **resume)

            own = ChangeStreamTail(
                open_stream, event_from_document, self.events_after, after, errors=(mongo_errors.PyMongoError,), scrub=self._scrub
            )
        else:
            own = SeqTail(self.events_after, after, lookup=self.event_at)
        return ForeignMerge(own, foreign_source(self)) if others else own

    def change_source(self) -> str:
        from leadcli.store.mongo_changes import foreign_source_kind

        own = "change stream" if self.server_info()["change_streams"] else "poll by seq"
        return f"{own}; other apps' writes: {foreign_source_kind(self, create=False)}"


    def server_info(self) -> dict[str, Any]:
        with self._errors():
            build = self.client.admin.command("buildInfo")
            hello = self.client.admin.command("hello")
        replica_set = hello.get("setName")
        sharded = hello.get("msg") == "isdbgrid"
        info: dict[str, Any] = {
            "server_version": build.get("version"),
            "replica_set": replica_set or ("sharded cluster" if sharded else False),
        }
        if build.get("ferretdbVersion"):
            info["server_version"] = f"{build['version']} (FerretDB {build['ferretdbVersion']})"
        info["transactions"] = bool(replica_set or sharded)
        # Compare-and-set under a per-lead lease where updates are not atomic (FerretDB v1).
        info["write_lease"] = bool(build.get("ferretdbVersion")) if self.write_lease is None else self.write_lease
        info["change_streams"] = bool(replica_set or sharded)
        return info

    def describe(self, count_leads: bool = True) -> dict[str, Any]:
        info = self.server_info()
        with self._errors():
            existing = {doc["name"]: doc for doc in self.leads.list_indexes()}
            event_indexes = {doc["name"]: doc for doc in self.events.list_indexes()}
            # FerretDB v1 reads every document to count them: `doctor` counts on its own pass.
            leads = self.leads.count_documents({}) if count_leads else None
        wanted = [EMAIL_INDEX, *LEAD_INDEXES]
        missing = [m.document["name"] for m in wanted if m.document["name"] not in existing]
        missing += [f"{EVENTS}.{m.document['name']}" for m in EVENT_INDEXES if m.document["name"] not in event_indexes]
        email_unique = any(
            list(doc["key"]) == ["email"] and doc.get("unique") for doc in existing.values()
        )
        report: dict[str, Any] = {
            "backend": "mongodb",
            "location": mask_uri(self.uri),
            "database": self.database,
            **info,
            "indexes": [_index_label(doc) for doc in existing.values()]
            + [f"{EVENTS}.{_index_label(doc)}" for doc in event_indexes.values()],
            "missing_indexes": missing,
            "email_unique": email_unique,
            "leads": leads,
            "events": self.last_seq(),
            "live_updates": self.change_source(),
        }
        problems = list(self.index_problems)
        if not email_unique and not problems and (duplicates := self._duplicate_emails_problem()):
            problems.append(duplicates)
        report["problems"] = problems
        return report

    def close(self) -> None:
        self.client.close()


class _ErrorBoundary:
    """`with store._errors():` turns pymongo errors into leadcli's, with secrets scrubbed."""

    def __init__(self, store: MongoStore) -> None:
        self.store = store

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: Any, exc: BaseException | None, _tb: Any) -> None:
        if isinstance(exc, mongo_errors.PyMongoError):
            raise self.store._translate(exc) from None


# -- helpers --------------------------------------------------------------------------------


def _uri_secrets(uri: str) -> list[str]:
    """The password of a URI, raw and decoded, longest first, for scrubbing error texts. Read
    up to the last `@`, so a password with unescaped `@` or `/` is still found whole; and up to
    the last `@` before the options (`?appName=ops@team`), so an `@` there does not hide it.
    Both readings are scrubbed: hiding a little more is harmless."""
    rest = uri.partition("://")[2]
    secrets: set[str] = set()
    for part in (rest, rest.partition("?")[0]):
        if "@" in part:
            password = part.rsplit("@", 1)[0].partition(":")[2]
            if password:
                secrets |= {password, unquote(password)}
    return sorted(secrets, key=len, reverse=True)


def bulk_timeout(leads: int) -> float:
    return max(BULK_SECONDS_MIN, BULK_SECONDS_PER_LEAD * leads)


def _bulk(leads: int) -> AbstractContextManager[Any]:
    """The deadline of one bulk request of `leads` documents (not of a whole batch)."""
    return pymongo.timeout(bulk_timeout(leads))


def _ms(value: Any) -> Any:
    """A datetime as BSON stores it (milliseconds), for an equality filter."""
    return value.replace(microsecond=value.microsecond // 1000 * 1000) if isinstance(value, datetime) else value


def _equal(held: Any, wanted: Any) -> bool:
    """Whether a stored value equals a filter's, as the server compares: numbers by value, a
    bool only to a bool, null only to null (or a missing field)."""
    if held is None or wanted is None:
        return held is None and wanted is None
    if isinstance(held, bool) or isinstance(wanted, bool):
        return type(held) is type(wanted) and held == wanted
    return bool(held == wanted)


def _same(a: Any, b: Any) -> bool:
    """Equal and of one type (so `True` and `1`, or `0` and `0.0`, still count as a change)."""
    return type(a) is type(b) and a == b


class _Heartbeat:
    """Renews an open intent's `at` every quarter of INTENT_STALE_SECONDS from a daemon thread,
    so an intent is only ever found stale when its writer has stopped (killed, or cut off from
    the server longer than that) — never because the server is slow."""

    def __init__(self, intents: Any, op: str) -> None:
        self._stopped = threading.Event()
        self._intents, self._op = intents, op
        threading.Thread(target=self._run, name=f"intent-{op}", daemon=True).start()

    def _run(self) -> None:
        while not self._stopped.wait(INTENT_STALE_SECONDS / 4):
            try:
                self._intents.update_one({"_id": self._op}, {"$set": {"at": now_utc()}})
            except mongo_errors.PyMongoError:
                pass  # the next beat tries again; a writer cut off this long counts as gone

    def stop(self) -> None:
        self._stopped.set()


def _abandoned(intent: Mapping[str, Any]) -> bool:
    """Whether an intent's writer is gone: its process has ended (on this host), or it has not
    renewed the intent (`_Heartbeat`) for INTENT_STALE_SECONDS (another host's), or for ten
    times that (a reused pid)."""
    at = _utc(intent.get("at"))
    age = (now_utc() - at).total_seconds() if isinstance(at, datetime) else float("inf")
    host, _, pid = str(intent.get("holder") or "").rpartition(":")
    if host == HOST and pid.isdigit():
        if int(pid) == os.getpid():
            return False
        return not _alive(int(pid)) or age > 10 * INTENT_STALE_SECONDS
    return age > INTENT_STALE_SECONDS


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a killed process its parent has not reaped yet is a zombie: gone all the same
        with open(f"/proc/{pid}/stat", "rb") as stat:
            return stat.read().rsplit(b")", 1)[-1].split()[0] != b"Z"
    except OSError:
        return True


def _is_duplicate_write(failure: Mapping[str, Any]) -> bool:
    """`_is_duplicate` for one entry of a bulk write's writeErrors."""
    return failure.get("code") == 11000 or "UNIQUE constraint failed" in str(failure.get("errmsg", ""))


def _errmsg(exc: mongo_errors.OperationFailure) -> str:
    details = exc.details or {}
    return str(details.get("errmsg") or exc)


def _one_line(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= 300 else line[:297] + "..."


def _index_label(doc: Mapping[str, Any]) -> str:
    keys = ", ".join(f"{k}" if v == 1 else f"{k} {v}" for k, v in doc["key"].items())
    return f"{doc['name']} ({keys}{'; unique' if doc.get('unique') else ''})"
