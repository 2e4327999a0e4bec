"""The team store: MongoDB through pymongo, in the Leads Artisan backend's document shape.

Collection `leads` holds one document per lead (`_id` an ObjectId; the backend's fields plus
leadcli's optional ones), `leadcli_events` the event log, numbered by a unique `seq`, and on
FerretDB `leadcli_locks` the per-lead write leases (see mongo_lease). Only portable operators are used (they work on MongoDB and on FerretDB v1, which has
no $indexOfArray, $switch, $facet, collation or transactions). User text reaches the server
only as values: `re.escape`d inside anchored or substring regexes, never as operators.
"""

from __future__ import annotations

import json
import re
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from datetime import UTC, datetime
from typing import Any, TypeVar
from urllib.parse import unquote

import pymongo
from bson import ObjectId
from bson.regex import Regex
from pymongo import errors as mongo_errors

from leadcli.config import mask_uri
from leadcli.domain.artisan import WEB_STAGES, stage_since, web_time
from leadcli.domain.dates import iso, now_utc, to_utc
from leadcli.domain.errors import Conflict, Failed, InvalidInput, NotFound, StoreUnavailable, VersionConflict
from leadcli.domain.folding import folding_regex
from leadcli.domain.handle import HANDLE_LENGTH, handle_of, is_hex
from leadcli.domain.lead import LEAD_FIELDS, TIMESTAMP_FIELDS, from_jsonable
from leadcli.domain.query import STORE_SORT_FIELDS, LeadQuery
from leadcli.store.base import Event, Lead
from leadcli.store.mongo_lease import NO_LEASE, Lease, WriteLeases
from leadcli.store.mongo_lease import is_duplicate as _is_duplicate

# pymongo's background threads sleep in steps of this many seconds, and at interpreter exit
# it joins them, so every `leadcli` run on MongoDB ended with up to 0.5 s of idle waiting
# (measured: `count` 650 ms against 150 ms of work). Shorter steps cost a few wake-ups a second.
pymongo.common.MIN_HEARTBEAT_INTERVAL = 0.05

DEFAULT_DATABASE = "leads_db"
LEADS = "leads"
EVENTS = "leadcli_events"
LOCKS = "leadcli_locks"
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
    # Not sparse: a document without `handle` (another app's) is indexed as null, so the ones
    # still to fill in are found by the index too (see find_by_handle).
    pymongo.IndexModel([("handle", 1)], name="handle_1"),
]
# What `stats` reads of a lead (see stats_leads).
STATS_PROJECTION = {"current_stage": 1, "value": 1, "engaged": 1, "stage_history": 1, "stage_updated_at": 1, "created_at": 1}
EVENT_INDEXES = [pymongo.IndexModel([("seq", 1)], unique=True, name="seq_1")]
# Defaults for fields a Leads Artisan document (or an older leadcli one) may lack: the
# backend's own defaults for status and stage, so leadcli shows what the web app shows.
DEFAULTS: dict[str, Any] = {
    "phone": None, "status": "Not Engaged", "engaged": False, "current_stage": WEB_STAGES[0], "owner": None,
    "source": None, "value": None, "notes": None, "follow_up_at": None, "last_contacted": None,
}  # fmt: skip
T = TypeVar("T")
# Tries at numbering an event when concurrent writers take the same seq.
SEQ_ATTEMPTS = 100
# Leads per insert_many/bulk_write: one import batch, well under the 100,000-operation limit
# (pymongo splits by size itself).
BULK_CHUNK = 5000


class _SeqTaken(Exception):
    """Inside a transaction, another writer took the seq: the whole transaction is redone."""


class MongoStore:
    def __init__(self, uri: str, database: str | None = None) -> None:
        self.uri = uri
        self.uri_description = mask_uri(uri)
        self._secrets = _uri_secrets(uri)
        self._indexes_ensured = False
        self._capitalised_emails: bool | None = None
        self._indexes_serve_regex_prefixes: bool | None = None  # see get_all_by_email
        self._last_seq = 0
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
        Runs before the first write of a process, and from `doctor --fix`."""
        problems: list[str] = []
        with self._errors():
            # Only the missing ones: FerretDB v1.24 drops the connection (a server-side panic)
            # when one createIndexes names several indexes that all exist already.
            lead_names = {doc["name"] for doc in self.leads.list_indexes()}
            missing = [m for m in LEAD_INDEXES if m.document["name"] not in lead_names]
            try:
                if missing:
                    self.leads.create_indexes(missing)
            except mongo_errors.OperationFailure as exc:
                if exc.code in (13, 18):
                    raise
                problems.append(f"could not create the leads indexes: {self._scrub(_one_line(_errmsg(exc)))}")
            try:
                if EMAIL_INDEX.document["name"] not in lead_names:
                    self.leads.create_indexes([EMAIL_INDEX])
            except mongo_errors.OperationFailure as exc:
                if exc.code in (13, 18):
                    raise
                problems.append(self._email_index_problem(exc))
            event_names = {doc["name"] for doc in self.events.list_indexes()}
            missing = [m for m in EVENT_INDEXES if m.document["name"] not in event_names]
            if missing:
                self.events.create_indexes(missing)
        self._indexes_ensured = True
        self.index_problems = problems
        return problems

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
        if not self._indexes_ensured:
            self.ensure_indexes()

    def _transactions(self) -> bool:
        """Whether writes and their events can share a transaction: only replica sets and
        sharded clusters have them (a standalone server or FerretDB v1 does not)."""
        kind = self.client.topology_description.topology_type_name
        return kind in ("ReplicaSetWithPrimary", "Sharded", "LoadBalanced")

    def _atomic(self, write: Callable[[Any], T]) -> T:
        """Run `write(session)` — the lead's write then its event — in one transaction where the
        server has them. Elsewhere the event is appended right after the write: a process
        killed between the two loses that one event (never the write), and a server without
        transactions offers nothing stronger."""
        if not self._transactions():
            return write(None)
        for _attempt in range(SEQ_ATTEMPTS):
            try:
                with self.client.start_session() as session:
                    return session.with_transaction(write)
            except _SeqTaken:
                continue  # a concurrent transaction committed that seq first: redo ours
        raise StoreUnavailable("too many concurrent writers to number this event; run the command again")

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
        return "ferretdbVersion" in self.client.admin.command("buildInfo")

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
        with self._errors():
            docs = list(self.leads.find({"email": {"$in": wanted}})) if wanted else []
            missing = set(wanted) - {doc["email"] for doc in docs}
            if missing and self._has_capitalised_emails():
                docs += [doc for doc in map(self._find_email_ignoring_case, sorted(missing)) if doc]
        return [_from_document(doc) for doc in docs]

    def _find_email_ignoring_case(self, email: str) -> Any:
        return self.leads.find_one({"email": {"$regex": _exact(email), "$options": "i"}})

    def _has_capitalised_emails(self) -> bool:
        """Whether another app stored emails with capitals (leadcli stores them lowercased).
        Asked once per process, so a miss (an import checking each new row) costs one indexed
        lookup, not a scan, in a database where every email is lowercase."""
        if self._capitalised_emails is None:
            self._capitalised_emails = self.leads.find_one({"email": {"$regex": "[A-Z]"}}, {"_id": 1}) is not None
        return self._capitalised_emails

    def find_by_prefix(self, prefix: str, limit: int = 2) -> list[Lead]:
        prefix = prefix.lower()[:24]
        if not prefix or any(c not in "0123456789abcdef" for c in prefix):
            return []
        bounds = {"$gte": ObjectId(prefix.ljust(24, "0")), "$lte": ObjectId(prefix.ljust(24, "f"))}
        with self._errors():
            docs = list(self.leads.find({"_id": bounds}).sort("_id", 1).limit(limit))
        return [_from_document(d) for d in docs]

    def find_by_handle(self, prefix: str, limit: int = 2) -> list[Lead]:
        """By the indexed `handle` field leadcli writes with every lead. Documents without one
        (created by the Leads Artisan backend, or by a leadcli before handles) are found by the
        same index as null, their handles computed from `_id` and, where updates are atomic,
        stored, so each such document is read here once rather than on every lookup."""
        prefix = prefix.lower()
        if not prefix or len(prefix) > HANDLE_LENGTH or not is_hex(prefix):
            return []
        with self._errors():
            docs = list(self.leads.find({"handle": {"$gte": prefix, "$lt": prefix + "g"}}).sort("handle", 1).limit(limit))
            missing = [doc["_id"] for doc in self.leads.find({"handle": None}, {"_id": 1})]
            if missing:
                self._fill_handles(missing)
                wanted = [oid for oid in missing if handle_of(str(oid)).startswith(prefix)]
                docs += list(self.leads.find({"_id": {"$in": wanted}})) if wanted else []
        return [_from_document(d) for d in sorted(docs, key=lambda d: handle_of(str(d["_id"])))[:limit]]

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
            for start in range(0, len(operations), BULK_CHUNK):
                self.leads.bulk_write(operations[start : start + BULK_CHUNK], ordered=False)
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

    def stats_leads(self, query: LeadQuery) -> Iterator[Lead]:
        """The matching leads with only what `stats` reads (stage, value, engagement, stage
        history and the times a current stay may start at), streamed: FerretDB v1 has no date
        arithmetic in its aggregation to compute days per stage server-side, so the report is
        summed by the caller in one pass, without the rest of each document crossing the wire."""
        with self._errors():
            cursor = self.leads.find(_filter(query), STATS_PROJECTION)
        yield from self._stream(cursor)

    def count(self, query: LeadQuery) -> int:
        with self._errors():
            return int(self.leads.count_documents(_filter(query)))

    def stage_totals(self, query: LeadQuery) -> dict[str | None, tuple[int, float]]:
        filt = _filter(query)
        counts = self._stage_counts(filt)
        values = self._group_by_stage(filt, {"$sum": "$value"})
        return {stage: (n, float(values.get(stage) or 0)) for stage, n in counts.items()}

    def _stage_counts(self, filt: dict[str, Any]) -> dict[str | None, int]:
        return {stage: int(n) for stage, n in self._group_by_stage(filt, {"$sum": 1}).items()}

    def _group_by_stage(self, filt: dict[str, Any], accumulator: dict[str, Any]) -> dict[str | None, Any]:
        # One accumulator per $group: FerretDB v1.24 computes only the first of several.
        pipeline: list[dict[str, Any]] = [{"$match": filt}] if filt else []
        pipeline.append({"$group": {"_id": "$current_stage", "total": accumulator}})
        with self._errors():
            return {row["_id"]: row["total"] for row in self.leads.aggregate(pipeline)}

    # -- writes ---------------------------------------------------------------------------

    def insert(self, lead: Lead, event: Event) -> Lead:
        lead = {**lead, "version": lead.get("version") or 1}
        doc = _to_document(lead)
        self._before_write()

        def write(session: Any) -> None:
            self.leads.insert_one(doc, session=session)
            self._append_event(session, lead, event)

        with self._errors():
            try:
                self._atomic(write)
            except mongo_errors.OperationFailure as exc:
                if _is_duplicate(exc):
                    raise self._duplicate(lead) from None
                raise
        return lead

    def replace(self, lead: Lead, expected_version: int, event: Event) -> Lead:
        lead = {**lead, "version": expected_version + 1}
        doc = _to_document(lead)
        oid = doc.pop("_id")
        self._before_write()

        def write(session: Any) -> bool:
            lease.check()
            # $set, not replace_one: fields another app keeps in the document stay untouched.
            result = self.leads.update_one({"_id": oid, **_version_is(expected_version)}, {"$set": doc}, session=session)
            if result.matched_count == 0:
                return False
            self._append_event(session, lead, event)
            return True

        with self._errors(), self._lease(lead["id"]) as lease:
            try:
                written = self._atomic(write)
            except mongo_errors.OperationFailure as exc:
                if _is_duplicate(exc):
                    raise self._duplicate(lead) from None
                raise
            if not written:
                raise self._lost_race(lead["id"])
        return lead

    def write_batch(
        self, inserts: Sequence[tuple[Lead, Event]], updates: Sequence[tuple[Lead, int, Event]]
    ) -> list[Exception | None]:
        """One insert_many (unordered) for the new leads and one bulk_write of compare-and-set
        updates, then the events of what was written, numbered in one insert_many. No
        transaction: each lead write is atomic, and a batch cut short leaves whole leads."""
        results: list[Exception | None] = [None] * (len(inserts) + len(updates))
        written: list[tuple[Lead, Event]] = []
        self._before_write()
        with self._errors():
            new_leads = [{**lead, "version": lead.get("version") or 1} for lead, _ in inserts]
            for i, error in self._insert_many(new_leads).items():
                results[i] = error
            changed = [{**lead, "version": expected + 1} for lead, expected, _ in updates]
            for j, error in self._update_many(changed, [expected for _, expected, _ in updates]).items():
                results[len(inserts) + j] = error
            pairs = [(lead, event) for lead, (_, event) in zip(new_leads, inserts, strict=True)]
            pairs += [(lead, event) for lead, (_, _, event) in zip(changed, updates, strict=True)]
            written = [pair for pair, result in zip(pairs, results, strict=True) if result is None]
            self._append_events(written)
        return results

    def _insert_many(self, leads: list[Lead]) -> dict[int, Exception]:
        """Insert `leads`; the ones refused (taken email or id), by position."""
        errors: dict[int, Exception] = {}
        for start in range(0, len(leads), BULK_CHUNK):
            chunk = leads[start : start + BULK_CHUNK]
            try:
                self.leads.insert_many([_to_document(lead) for lead in chunk], ordered=False)
            except mongo_errors.BulkWriteError as exc:
                for failure in exc.details.get("writeErrors", []):
                    if not _is_duplicate_write(failure):
                        raise mongo_errors.OperationFailure(failure.get("errmsg", ""), failure.get("code")) from None
                    errors[start + failure["index"]] = self._duplicate(chunk[failure["index"]])
        return errors

    def _update_many(self, leads: list[Lead], expected: list[int]) -> dict[int, Exception]:
        """Compare-and-set each of `leads` (already at its new version) over `expected`; the ones
        not written, by position: Conflict for a taken email, VersionConflict/NotFound when the
        stored lead changed or went. A bulk write reports how many matched, not which: when all
        did (the usual case) that settles it; otherwise each is read back."""
        errors: dict[int, Exception] = {}
        for start in range(0, len(leads), BULK_CHUNK):
            chunk = leads[start : start + BULK_CHUNK]
            operations = []
            for lead, version in zip(chunk, expected[start : start + BULK_CHUNK], strict=True):
                doc = _to_document(lead)
                oid = doc.pop("_id")  # $set, not a replace: another app's fields stay
                operations.append(({"_id": oid, **_version_is(version)}, {"$set": doc}))
            if not operations:
                continue
            if self.write_lease is None:
                self.write_lease = self._is_ferretdb()
            if self.write_lease:  # updates are not atomic there: each under its lead's lease
                errors.update({start + i: e for i, e in self._update_one_by_one(chunk, operations, leased=True).items()})
                continue
            failed: dict[int, Exception] = {}
            try:
                matched = self.leads.bulk_write([pymongo.UpdateOne(f, u) for f, u in operations], ordered=False).matched_count
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
                failed = self._update_one_by_one(chunk, operations)
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
                    result = self.leads.update_one(filt, update)
            except mongo_errors.OperationFailure as exc:
                if not _is_duplicate(exc):
                    raise
                failed[i] = self._duplicate(lead)
                continue
            if result.matched_count == 0:
                failed[i] = self._lost_race(lead["id"])
        return failed

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
            elif (now["version"], now["updated_at"]) != (lead["version"], lead["updated_at"]):
                failed[i] = VersionConflict(f"lead {lead['id']} changed under a concurrent write; run the command again")
        return failed

    def _append_events(self, written: list[tuple[Lead, Event]]) -> None:
        """The events of a batch, numbered from the last seq on, in one insert_many (pymongo
        splits it to the server's limits); when a concurrent writer takes a seq first, the rest
        are renumbered after it. The last seq is asked once, not per event: on FerretDB v1 that
        query reads every event."""
        records = [self._event_record(lead, event) for lead, event in written]
        guess = self._last_seq + 1 if self._last_seq else None  # as in _append_event
        for _attempt in range(SEQ_ATTEMPTS):
            if not records:
                return
            if guess is None:
                latest = self.events.find_one({}, {"seq": 1}, sort=[("seq", -1)])
                first = int(latest["seq"]) + 1 if latest else 1
            else:
                first, guess = guess, None
            try:
                self.events.insert_many([{"_id": event_key(first + n), "seq": first + n, **r} for n, r in enumerate(records)], ordered=True)
                self._last_seq = first + len(records) - 1
                return
            except mongo_errors.BulkWriteError as exc:
                failures = exc.details.get("writeErrors", [])
                if not failures or not _is_duplicate_write(failures[0]):
                    raise
                records = records[failures[0]["index"] :]  # the ones before it are in
        raise StoreUnavailable("too many concurrent writers to number these events; run the command again")

    def delete(self, lead: Lead, event: Event) -> None:
        oid = ObjectId(lead["id"])
        self._before_write()

        def write(session: Any) -> bool:
            lease.check()
            result = self.leads.delete_one({"_id": oid, **_version_is(int(lead.get("version") or 0))}, session=session)
            if result.deleted_count == 0:
                return False
            self._append_event(session, lead, event)
            return True

        with self._errors(), self._lease(lead["id"]) as lease:
            if not self._atomic(write):
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

    def _append_event(self, session: Any, lead: Lead, event: Event) -> None:
        """Append the event as seq = last + 1, which the unique index on `seq` makes atomic.
        Not a `$inc` counter: FerretDB v1 runs findAndModify as a read then a write, so
        concurrent increments return the same number (measured: 200 increments from 4 threads
        gave 60 distinct values). A unique-index insert is atomic everywhere, and as a bonus
        seq N+1 can only be written after seq N is visible, so a tail by seq sees no gaps."""
        record = self._event_record(lead, event)
        # Outside a transaction, first try the number after the one this process wrote last:
        # a server that cannot sort by the index (FerretDB v1 scans every event) then pays
        # the lookup once per process, not once per lead of an import.
        guess = self._last_seq + 1 if session is None and self._last_seq else None
        for _attempt in range(SEQ_ATTEMPTS):
            if guess is None:
                latest = self.events.find_one({}, {"seq": 1}, sort=[("seq", -1)], session=session)
                seq = int(latest["seq"]) + 1 if latest else 1
            else:
                seq, guess = guess, None
            try:
                self.events.insert_one({"_id": event_key(seq), "seq": seq, **record}, session=session)
                self._last_seq = seq
                return
            except mongo_errors.OperationFailure as exc:
                if not _is_duplicate(exc):
                    raise
                if session is not None:
                    raise _SeqTaken() from None
        raise StoreUnavailable("too many concurrent writers to number this event; run the command again")

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
        with self._errors():
            doc = self.events.find_one({}, {"seq": 1}, sort=[("seq", -1)])
        return int(doc["seq"]) if doc else 0

    # -- doctor ---------------------------------------------------------------------------

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

    def describe(self) -> dict[str, Any]:
        info = self.server_info()
        with self._errors():
            existing = {doc["name"]: doc for doc in self.leads.list_indexes()}
            event_indexes = {doc["name"]: doc for doc in self.events.list_indexes()}
            leads = self.leads.count_documents({})
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
            "live_updates": "change stream" if info["change_streams"] else "poll by seq (no change streams)",
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


# -- documents ------------------------------------------------------------------------------


def _to_document(lead: Mapping[str, Any]) -> dict[str, Any]:
    """A lead as a Leads Artisan-shaped document: `_id` ObjectId, datetimes as BSON dates,
    custom field names made storable (no `.` or leading `$`, which FerretDB refuses)."""
    lead = from_jsonable(lead)
    doc: dict[str, Any] = {"_id": ObjectId(lead["id"]), "handle": handle_of(lead["id"])}
    for key, value in lead.items():
        if key == "id":
            continue
        if key == "fields":
            value = _encode_keys(value)
        elif key == "stage_history" and value:
            # An entry the backend wrote (no `by`) is written back exactly as it was.
            value = [{k: v for k, v in e.items() if not (k == "by" and v is None)} for e in value]
        doc[key] = value
    return doc


def _from_document(doc: Mapping[str, Any]) -> Lead:
    """A stored document as a lead: defaults for fields another app did not write, aware UTC
    datetimes (naive ones are UTC), documents without `version` at version 0."""
    lead: Lead = {"id": str(doc["_id"])}
    for key in LEAD_FIELDS[1:]:
        value = doc.get(key, DEFAULTS.get(key))
        lead[key] = _utc(value) if key in TIMESTAMP_FIELDS else value
    lead["engaged"] = bool(lead["engaged"])
    lead["tags"] = list(doc.get("tags") or [])
    lead["fields"] = _decode_keys(doc.get("fields") or {})
    lead["version"] = int(doc.get("version") or 0)
    lead["stage_history"] = [_history_entry(entry) for entry in doc.get("stage_history") or [] if isinstance(entry, Mapping)]
    lead["stage_updated_at"] = stage_since(lead)
    if "activities" in doc:
        lead["activities"] = [
            {**entry, "at": _utc(entry.get("at"))} for entry in doc.get("activities") or [] if isinstance(entry, Mapping)
        ]
    for key, value in doc.items():
        # Other plain fields (another app's, or a newer leadcli's) pass through unchanged;
        # ones only BSON can hold (ObjectIds, binary…) stay in the database untouched.
        if key not in lead and key not in ("_id", "handle") and _is_plain(value):
            lead[key] = _utc_all(value)
    return lead


def _history_entry(entry: Mapping[str, Any]) -> dict[str, Any]:
    out = {
        "from_stage": entry.get("from_stage"),
        "to_stage": entry.get("to_stage"),
        # The backend writes naive ISO text (UTC, microseconds); leadcli a BSON date.
        "changed_at": web_time(entry.get("changed_at")),
        "by": entry.get("by"),
        "notes": entry.get("notes"),
    }
    for key, value in entry.items():
        if key not in out:
            out[key] = value
    return out


def event_key(seq: int) -> str:
    """An event's `_id`, derived from its seq so the next event can be looked up by `_id` alone."""
    return f"seq:{seq}"


def event_from_document(doc: Mapping[str, Any]) -> Event:
    """A stored event in the shape `events_after` returns (also for change-stream readers)."""
    at, changes = doc.get("at"), doc.get("changes")
    return {
        "seq": int(doc["seq"]),
        "type": doc.get("type"),
        "at": iso(at) if isinstance(at, datetime) else at,
        "by": doc.get("by"),
        "lead_id": doc.get("lead_id"),
        "lead": _from_document(doc["lead"]) if doc.get("lead") else None,
        "changes": json.loads(changes) if isinstance(changes, str) else (changes or {}),
    }


def _utc(value: Any) -> Any:
    return to_utc(value) if isinstance(value, datetime) else value


def _utc_all(value: Any) -> Any:
    if isinstance(value, datetime):
        return to_utc(value)
    if isinstance(value, list):
        return [_utc_all(v) for v in value]
    if isinstance(value, dict):
        return {k: _utc_all(v) for k, v in value.items()}
    return value


def _is_plain(value: Any) -> bool:
    if value is None or isinstance(value, (str, bool, int, float, datetime)):
        return True
    if isinstance(value, list):
        return all(_is_plain(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _is_plain(v) for k, v in value.items())
    return False


_KEY_ESCAPES = {"%": "%25", ".": "%2E", "$": "%24", "\x00": "%00"}
_KEY_UNESCAPE = re.compile(r"%(25|2E|24|00)")


def _encode_key(key: str) -> str:
    if not any(c in key for c in _KEY_ESCAPES):
        return key
    return "".join(_KEY_ESCAPES.get(c, c) for c in key)


def _decode_key(key: str) -> str:
    return _KEY_UNESCAPE.sub(lambda m: unquote(m.group(0)), key) if "%" in key else key


def _encode_keys(value: Any) -> Any:
    if isinstance(value, dict):
        return {_encode_key(k): _encode_keys(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_encode_keys(v) for v in value]
    return value


def _decode_keys(value: Any) -> Any:
    if isinstance(value, dict):
        return {_decode_key(k): _decode_keys(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decode_keys(v) for v in value]
    return value


# -- queries --------------------------------------------------------------------------------


def _object_id(text: str) -> ObjectId | None:
    return ObjectId(text) if ObjectId.is_valid(text) and len(text) == 24 else None


def _version_is(version: int) -> dict[str, Any]:
    # Documents the Leads Artisan backend wrote have no `version`: they count as version 0.
    if version == 0:
        return {"version": {"$in": [None, 0]}}
    return {"version": version}


def _exact(text: str) -> str:
    r"""A regex matching exactly `text` (\A…\z: `$` would also match before a final newline)."""
    return r"\A" + re.escape(text) + r"\z"


def _case_prefixes(text: str, letters: int = 4) -> list[Regex[Any]]:
    """Anchored, case-sensitive regexes for every capitalisation of `text`'s first `letters`
    ASCII letters (at most 2**letters). MongoDB serves each as an index range, so finding an
    email's case variants is a few index seeks; a case-insensitive regex alone walks the whole
    index. (Built as bson Regex: pymongo sends a compiled pattern with a `u` flag FerretDB refuses.)"""
    prefixes = [""]
    for char in text:
        if letters == 0 or not char.isascii():
            break
        variants = {char.lower(), char.upper()}
        letters -= len(variants) - 1
        prefixes = [p + v for p in prefixes for v in sorted(variants)]
    return [Regex("^" + re.escape(p)) for p in prefixes]


def _contains(text: str) -> dict[str, Any]:
    """Contains `text`, ignoring case and accents (`domain.folding`), every character literal:
    an escaped regex where each character is the class of the characters folding to it. It
    works on any document (the web app's too: no folded copy of the text is needed), at the
    price of a regex per document (no index serves an unanchored regex)."""
    pattern = folding_regex(text)
    if pattern is None:  # combining marks alone fold to nothing: they match nothing
        return {"$in": []}
    return {"$regex": pattern, "$options": "i"}


def _sort_field(name: str) -> str:
    """The document field to sort by: only LeadQuery's sort fields, each stored under its name."""
    if name not in STORE_SORT_FIELDS:
        raise ValueError(f"unknown sort field {name!r}")
    return name


def _filter(q: LeadQuery) -> dict[str, Any]:
    """The LeadQuery as a Mongo filter, with the same meaning as SqliteStore's WHERE clause."""
    clauses: list[dict[str, Any]] = []
    if q.ids is not None:
        clauses.append({"_id": {"$in": [oid for oid in map(_object_id, q.ids) if oid is not None]}})
    if q.stages:
        clauses.append({"current_stage": {"$in": list(q.stages)}})
    if q.exclude_stages:
        clauses.append({"current_stage": {"$nin": list(q.exclude_stages)}})  # also matches no stage
    for field, value in (("status", q.status), ("owner", q.owner), ("source", q.source)):
        if value is not None:
            # Case-insensitive equality without collation (FerretDB v1 has none).
            clauses.append({field: {"$regex": _exact(value), "$options": "i"}})
    if q.engaged is not None:
        clauses.append({"engaged": True} if q.engaged else {"engaged": {"$ne": True}})
    for tag in q.tags:
        clauses.append({"tags": tag})
    if q.company:
        clauses.append({"company": _contains(q.company)})
    if q.search:
        clauses.append({"$or": [{field: _contains(q.search)} for field in ("name", "email", "company", "notes")]})
    if q.created_after is not None:
        clauses.append({"created_at": {"$gte": q.created_after}})
    if q.created_before is not None:
        clauses.append({"created_at": {"$lt": q.created_before}})
    if q.contacted_before is not None:
        clauses.append({"$or": [{"last_contacted": None}, {"last_contacted": {"$lt": q.contacted_before}}]})
    if q.follow_up_before is not None:
        clauses.append({"follow_up_at": {"$lte": q.follow_up_before}})
    if q.idle_since is not None:
        clauses.append(
            {
                "$or": [
                    {"last_contacted": {"$lt": q.idle_since}},
                    {"last_contacted": None, "created_at": {"$lt": q.idle_since}},
                ]
            }
        )
    if not clauses:
        return {}
    return clauses[0] if len(clauses) == 1 else {"$and": clauses}


# -- helpers --------------------------------------------------------------------------------


def _uri_secrets(uri: str) -> list[str]:
    """The password of a URI, raw and decoded, longest first, for scrubbing error texts. Taken
    up to the last `@`, so a password with unescaped `@` or `/` is still found whole."""
    rest = uri.partition("://")[2]
    if "@" not in rest:
        return []
    userinfo = rest.rsplit("@", 1)[0]
    password = userinfo.partition(":")[2]
    if not password:
        return []
    return sorted({password, unquote(password)}, key=len, reverse=True)


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
