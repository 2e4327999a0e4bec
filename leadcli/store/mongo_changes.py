"""Where a MongoDB store learns of writes, for `MongoStore.changes` (`watch`, `serve`).

leadcli's own events: a change stream on the events collection (replica set) or a tail by seq
(`store.tail.SeqTail`). Writes by other apps to the shared `leads` collection, one source each
by what the server offers, cheapest first:

- `LeadsChangeStream`: a replica set or sharded cluster pushes every insert, update (with the
  document as it now is) and delete.
- `FerretOplog`: FerretDB v1 keeps an OpLog when the capped collection `local.oplog.rs` exists
  (leadcli creates it, capped at OPLOG_BYTES, if it is missing; FerretDB then logs every write
  there). One read is a scan of that
  capped collection: its cost is bounded by the cap, not by the number of leads; an update is
  then read by `_id` (FerretDB's one cheap look-up). Deletes are in it too.
- `UpdatedAtPoll`, for a standalone MongoDB: leads with `updated_at` at or after the newest seen
  (less OVERLAP_S, for writers whose clocks or commits lag), by the `updated_at_1` index; the
  leads of that overlap are recognised by their (id, updated_at) and not shown twice. Deletes:
  the collection's count is metadata (`estimated_document_count`, O(1)); only when it falls
  below the number of ids known is the set of `_id`s read again (covered by the `_id` index)
  and compared.
"""

from __future__ import annotations

from collections import OrderedDict
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from pymongo import errors as mongo_errors

from leadcli.domain.errors import StoreUnavailable
from leadcli.store.tail import ForeignChange

if TYPE_CHECKING:
    from leadcli.store.mongo import MongoStore

OPLOG = "oplog.rs"
OPLOG_BYTES = 1024 * 1024  # ~1,000 entries: each read scans them all (FerretDB), see bench_foreign_tail
OVERLAP_S = 5.0
BATCH = 500
SEEN = 20_000


def _decode(store: MongoStore, doc: Any) -> Any:
    from leadcli.store.mongo_docs import from_document

    return from_document(doc)


class LeadsChangeStream:
    describe = "change stream on leads"

    def __init__(self, store: MongoStore) -> None:
        self.store = store
        self.token: Any = None
        # The token of an `invalidate` (the collection was dropped or renamed): a stream cannot
        # resume after it, only start after it, which picks up the writes to the new collection.
        self.invalidated: Any = None
        self.stream: Any = None
        with store._errors():
            self._open()

    def _open(self) -> None:
        resume: dict[str, Any] = {}
        if self.token is not None:
            resume = {"start_after" if self.token == self.invalidated else "resume_after": self.token}
        self.stream = self.store.leads.watch(full_document="updateLookup", max_await_time_ms=50, **resume)

    def read(self) -> list[ForeignChange]:
        out: list[ForeignChange] = []
        try:
            if self.stream is None:
                self._open()
            while len(out) < BATCH:
                change = self.stream.try_next()
                if self.stream.resume_token is not None:
                    self.token = self.stream.resume_token
                if change is None:
                    break
                kind = change.get("operationType")
                key = (change.get("documentKey") or {}).get("_id")
                at = change.get("wallTime") or datetime.now(UTC)
                described = change.get("updateDescription") or {}
                if kind == "update" and set(described.get("updatedFields") or {}) <= {"handle"} and not described.get("removedFields"):
                    continue  # leadcli filling in a handle (find_by_reference): no change to show
                if kind in ("insert", "update", "replace") and change.get("fullDocument"):
                    op = "insert" if kind == "insert" else "update"
                    out.append(ForeignChange(op, str(key), _decode(self.store, change["fullDocument"]), at))
                elif kind == "delete" and key is not None:
                    out.append(ForeignChange("delete", str(key), None, at))
                elif kind == "invalidate":
                    self.token = self.invalidated = change.get("_id", self.token)
                    self.close()
                    break
        except mongo_errors.PyMongoError as exc:
            self.close()
            if out:
                # The token is past these changes already: return them now, or they are lost. The
                # next read reopens the stream, and reports the error if it persists.
                return out
            raise StoreUnavailable(f"the change stream on leads broke: {self.store._scrub(str(exc))}") from None
        return out

    def close(self) -> None:
        if self.stream is not None:
            try:
                self.stream.close()
            except mongo_errors.PyMongoError:
                pass
            self.stream = None


class FerretOplog:
    describe = "FerretDB OpLog (local.oplog.rs)"

    def __init__(self, store: MongoStore) -> None:
        self.store = store
        self.oplog = store.client["local"][OPLOG]
        self.ns = f"{store.database}.{store.leads.name}"
        self.last: Any = None
        self._baseline = True
        self.began = datetime.now(UTC) - timedelta(seconds=1)  # FerretDB stamps `wall` on its clock

    @staticmethod
    def available(store: MongoStore, create: bool = True) -> bool:
        """Whether the OpLog exists (created, capped, when missing and `create`)."""
        local = store.client["local"]
        try:
            if OPLOG in local.list_collection_names():
                return True
            if not create:
                return False
            local.create_collection(OPLOG, capped=True, size=OPLOG_BYTES)
            return True
        except mongo_errors.OperationFailure:
            return False  # not allowed to: the slower poll by updated_at still works

    def read(self) -> list[ForeignChange]:
        out: list[ForeignChange] = []
        query: dict[str, Any] = {"ns": self.ns}
        if self.last is not None:
            query["ts"] = {"$gt": self.last}
        with self.store._errors():
            entries = sorted(self.oplog.find(query), key=lambda e: e["ts"])
            if self._baseline:
                # The first read (made once leadcli's own backlog is out): what the log held
                # before this tail began is history; what came since it began is news.
                self._baseline = False
                if entries:
                    self.last = entries[-1]["ts"]
                entries = [e for e in entries if _utc(e.get("wall")) is not None and _utc(e.get("wall")) >= self.began]
            for entry in entries:
                self.last = entry["ts"]
                op, doc = entry.get("op"), entry.get("o") or {}
                at = entry.get("wall") or datetime.now(UTC)
                if op == "i" and "_id" in doc:
                    out.append(ForeignChange("insert", str(doc["_id"]), _decode(self.store, doc), _utc(at)))
                elif op == "u":
                    key = (entry.get("o2") or {}).get("_id")
                    # FerretDB logs the whole document as `$set`; anything else: read it now.
                    whole = doc.get("$set") if isinstance(doc.get("$set"), dict) and "_id" in doc["$set"] else None
                    now = whole or (self.store.leads.find_one({"_id": key}) if key is not None else None)
                    if now is not None:
                        out.append(ForeignChange("update", str(key), _decode(self.store, now), _utc(at)))
                elif op == "d" and "_id" in doc:
                    out.append(ForeignChange("delete", str(doc["_id"]), None, _utc(at)))
        return out

    def close(self) -> None:
        pass


class UpdatedAtPoll:
    describe = "poll by updated_at"

    def __init__(self, store: MongoStore) -> None:
        self.store = store
        self.since: datetime | None = None
        self.seen: OrderedDict[tuple[str, Any], None] = OrderedDict()
        self.ids: set[Any] | None = None
        self.full = False
        self.last_id: Any = None
        self._baseline = True

    def read(self) -> list[ForeignChange]:
        leads = self.store.leads
        out: list[ForeignChange] = []
        with self.store._errors():
            if self.ids is None:
                self.ids = {d["_id"] for d in leads.find({}, {"_id": 1})}
            if self.full and self.since is not None:
                # The last read filled a batch (an import stamps thousands of leads alike): go on
                # after the last one by (updated_at, _id) instead of re-reading the overlap.
                query: dict[str, Any] = {"$or": [{"updated_at": {"$gt": self.since}}, {"updated_at": self.since, "_id": {"$gt": self.last_id}}]}
            else:
                if self.since is None:  # nothing written lately: start from this clock's now
                    self.since = datetime.now(UTC)
                start = self.since - timedelta(seconds=OVERLAP_S)
                query = {"updated_at": {"$gte": start}}
            docs = list(leads.find(query).sort([("updated_at", 1), ("_id", 1)]).limit(BATCH))
            self.full = len(docs) == BATCH
            for doc in docs:
                self.last_id = doc["_id"]
                at = _utc(doc.get("updated_at"))
                if isinstance(at, datetime) and (self.since is None or at >= self.since):
                    self.since = at
                key = (str(doc["_id"]), at)
                if key in self.seen:
                    continue
                self.seen[key] = None
                while len(self.seen) > SEEN:
                    self.seen.popitem(last=False)
                new = doc["_id"] not in self.ids
                self.ids.add(doc["_id"])
                if not self._baseline:
                    out.append(ForeignChange("insert" if new else "update", key[0], _decode(self.store, doc), at or datetime.now(UTC)))
            if leads.estimated_document_count() < len(self.ids):
                now = {d["_id"] for d in leads.find({}, {"_id": 1})}
                for gone in self.ids - now:
                    out.append(ForeignChange("delete", str(gone), None, datetime.now(UTC)))
                self.ids = now
        self._baseline = False
        return out

    def close(self) -> None:
        pass


def _utc(value: Any) -> Any:
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def foreign_source_kind(store: MongoStore, create: bool) -> str:
    if store.server_info()["change_streams"]:
        return LeadsChangeStream.describe
    if store._is_ferretdb() and FerretOplog.available(store, create=create):
        return FerretOplog.describe
    if store._is_ferretdb() and not create:
        return f"{FerretOplog.describe}, created by the first watch"
    return UpdatedAtPoll.describe


def foreign_source(store: MongoStore) -> LeadsChangeStream | FerretOplog | UpdatedAtPoll:
    kind = foreign_source_kind(store, create=True)
    if kind == LeadsChangeStream.describe:
        return LeadsChangeStream(store)
    if kind == FerretOplog.describe:
        return FerretOplog(store)
    return UpdatedAtPoll(store)
