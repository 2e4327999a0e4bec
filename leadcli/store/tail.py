"""Tailing a store's events: every event after a seq, oldest first, none skipped — the
mechanics behind `LeadStore.changes(after)`. Pure Python: the adapters hand these classes
their reads (no SQL or Mongo here), and `live/` only ever sees the `ChangeFeed` they return.

A tail is a small object with `poll(timeout) -> events` and `position` (the seq of the last
event it returned). Three kinds for leadcli's own events, plus `ForeignMerge` for changes that
other apps make to a shared MongoDB `leads` collection (see there):

- `SqliteTail`: `PRAGMA data_version` changes whenever another connection commits, so a poll
  every ~50 ms costs almost nothing and reads events only when something was written.
- `SeqTail`: reads `events_after(position)` at short intervals, for a MongoDB without change
  streams (standalone server, FerretDB). With concurrent writers seq N+1 can become visible
  before N, so events pass through a `GapBuffer` that holds back at a gap for a grace period.
  FerretDB serves neither `seq > N` nor a sort by seq from the index: every range read scans
  all events (measured: ~90-130 ms per 1,000 events). So between range reads, the tail looks
  up the next seq it waits for (`lookup`, by `_id`, 10-20x cheaper), a few in a row, and
  reads the range after a burst or every `full_every` seconds in any case (events written by
  an older leadcli, or a seq that never comes, cannot be looked up).
- `ChangeStreamTail`: a MongoDB replica set pushes inserts into the events collection; the
  resume token is kept so a dropped stream resumes where it stopped, and an `invalidate`
  restarts the stream with `start_after`. Events also go through a `GapBuffer`, since the order
  in which inserts commit need not be seq order.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, NamedTuple, Protocol

from leadcli.domain.dates import from_iso, to_utc
from leadcli.domain.errors import StoreUnavailable
from leadcli.domain.foreign import foreign_event
from leadcli.store.base import ChangeFeed, Event, Lead


class StoreReplaced(StoreUnavailable):
    """The store file was swapped for another whose events do not continue the ones shown."""


BATCH = 500
SQLITE_INTERVAL_S = 0.05
SEQ_INTERVAL_S = 0.1
GAP_GRACE_S = 2.0
FULL_READ_EVERY_S = 3.0
FILE_CHECK_S = 1.0
# How often other apps' writes are read, and how many leads/ids the merge remembers.
FOREIGN_INTERVAL_S = 1.0
REMEMBERED = 10_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
LOOKUPS_PER_READ = 8


Tail = ChangeFeed


class GapBuffer:
    """Releases events in seq order without skipping any. When seq N is missing but later ones
    are there, it waits `grace` seconds (from when the blocked event was first seen) for N to
    become visible, then gives up on it (a writer that took a seq and failed leaves a hole)."""

    def __init__(self, after: int, grace: float = GAP_GRACE_S, clock: Callable[[], float] = time.monotonic) -> None:
        self.position = after
        self.grace = grace
        self.clock = clock
        self._held: dict[int, Event] = {}
        self._seen: dict[int, float] = {}

    def add(self, events: Iterable[Event]) -> None:
        now = self.clock()
        for event in events:
            seq = int(event["seq"])
            if seq > self.position and seq not in self._held:
                self._held[seq] = event
                self._seen[seq] = now

    def release(self) -> list[Event]:
        out: list[Event] = []
        while self._held:
            following = self.position + 1
            if following not in self._held:
                blocked = min(self._held)
                if self.clock() - self._seen[blocked] < self.grace:
                    break
                following = blocked  # waited long enough: the missing seqs will not come
            out.append(self._held.pop(following))
            del self._seen[following]
            self.position = following
        return out


class SqliteTail:
    """`store` offers `data_version()`, `events_after()`, `last_seq()` and `replaced()`: when
    the file was replaced under the tail (a backup restored with `mv`), the tail follows the new
    file if its event log continues the one followed so far, and otherwise raises StoreReplaced
    (exit 5): its seqs would repeat or go back."""

    def __init__(self, store: Any, after: int, interval: float = SQLITE_INTERVAL_S, check_every: float = FILE_CHECK_S) -> None:
        self.store = store
        self.position = after
        self.interval = interval
        self.check_every = check_every
        self._version: int | None = None
        self._more = True
        self._next_check = time.monotonic() + check_every

    def _check_file(self) -> None:
        self._next_check = time.monotonic() + self.check_every
        if not self.store.replaced():
            return
        self.store.reopen()
        self._version = None
        newest = self.store.last_seq()
        if newest < self.position:
            raise StoreReplaced(
                f"the store file {self.store.path} was replaced (restored from a backup?) and its events end at "
                f"seq {newest}, before the {self.position} already shown: start watch again to follow it"
            )

    def poll(self, timeout: float) -> list[Event]:
        deadline = time.monotonic() + timeout
        while True:
            if time.monotonic() >= self._next_check:
                self._check_file()
            version = self.store.data_version()
            if self._more or version != self._version:
                self._version = version
                events = self.store.events_after(self.position, BATCH)
                self._more = len(events) == BATCH
                if events:
                    self.position = int(events[-1]["seq"])
                    return events
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return []
            time.sleep(min(self.interval, remaining))

    def close(self) -> None:
        pass


class SeqTail:
    def __init__(
        self,
        fetch: Callable[[int, int], list[Event]],
        after: int,
        *,
        lookup: Callable[[int], Event | None] | None = None,
        interval: float = SEQ_INTERVAL_S,
        grace: float = GAP_GRACE_S,
        full_every: float = FULL_READ_EVERY_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.fetch = fetch
        self.lookup = lookup
        self.buffer = GapBuffer(after, grace, clock)
        self.interval = interval
        self.full_every = full_every
        self.clock = clock
        self._next_full_read = clock()
        self._more = True

    @property
    def position(self) -> int:
        return self.buffer.position

    def poll(self, timeout: float) -> list[Event]:
        deadline = time.monotonic() + timeout
        while True:
            events = self._read()
            remaining = deadline - time.monotonic()
            if events or remaining <= 0:
                return events
            time.sleep(min(self.interval, remaining))

    def _read(self) -> list[Event]:
        if self.lookup is None or self._more or self.clock() >= self._next_full_read:
            fetched = self.fetch(self.buffer.position, BATCH)
            self._more = len(fetched) == BATCH
            self._next_full_read = self.clock() + self.full_every
            self.buffer.add(fetched)
            return self.buffer.release()
        out: list[Event] = []
        for _ in range(LOOKUPS_PER_READ):
            event = self.lookup(self.buffer.position + 1)
            if event is None:
                break
            self.buffer.add([event])
            out += self.buffer.release()
        else:
            self._more = True  # a burst (an import): one range read serves it better
        return out + self.buffer.release()

    def close(self) -> None:
        pass


class ChangeStream(Protocol):
    """What pymongo's ChangeStream offers and the tail uses."""

    @property
    def resume_token(self) -> Any: ...

    def try_next(self) -> dict[str, Any] | None: ...

    def close(self) -> None: ...


class ChangeStreamTail:
    """`open_stream(resume_after=…, start_after=…)` opens a change stream on the events
    collection; `decode` turns an inserted document into an event; `fetch` is `events_after`,
    used to catch up when the stream (re)starts. `errors` are the exceptions that mean the
    stream broke (pymongo's PyMongoError), after which the next poll reopens it with the token."""

    def __init__(
        self,
        open_stream: Callable[..., ChangeStream],
        decode: Callable[[dict[str, Any]], Event],
        fetch: Callable[[int, int], list[Event]],
        after: int,
        *,
        errors: tuple[type[BaseException], ...] = (),
        grace: float = GAP_GRACE_S,
        clock: Callable[[], float] = time.monotonic,
        scrub: Callable[[str], str] = str,
    ) -> None:
        self.open_stream = open_stream
        self.decode = decode
        self.fetch = fetch
        self.errors = errors
        self.scrub = scrub  # an error text as it may be shown (the store's: no URI password)
        self.buffer = GapBuffer(after, grace, clock)
        self.resume_token: Any = None
        self._start_after = False
        self._stream: ChangeStream | None = None

    @property
    def position(self) -> int:
        return self.buffer.position

    def _open(self) -> ChangeStream:
        if self.resume_token is None:
            stream = self.open_stream()
        elif self._start_after:
            stream = self.open_stream(start_after=self.resume_token)
        else:
            stream = self.open_stream(resume_after=self.resume_token)
        self._start_after = False
        # Opened before catching up, so nothing written in between is missed; the buffer drops repeats.
        position = self.buffer.position
        while True:
            events = self.fetch(position, BATCH)
            self.buffer.add(events)
            if len(events) < BATCH:
                break
            position = int(events[-1]["seq"])
        return stream

    def poll(self, timeout: float) -> list[Event]:
        deadline = time.monotonic() + timeout
        try:
            while True:
                if self._stream is None:
                    self._stream = self._open()
                change = self._stream.try_next()
                if self._stream.resume_token is not None:
                    self.resume_token = self._stream.resume_token
                if change is not None:
                    self._take(change)
                events = self.buffer.release()
                if events or time.monotonic() >= deadline:
                    return events
                if change is None:
                    time.sleep(min(0.05, max(0.0, deadline - time.monotonic())))
        except self.errors as exc:
            self._drop_stream()
            raise StoreUnavailable(f"the change stream broke: {self.scrub(str(exc))}") from None

    def _take(self, change: dict[str, Any]) -> None:
        kind = change.get("operationType")
        if kind == "insert" and change.get("fullDocument") is not None:
            self.buffer.add([self.decode(change["fullDocument"])])
        elif kind == "invalidate":
            # The collection was dropped or renamed: this stream is over; the next one starts
            # after the invalidate event (resume_after would be refused).
            self.resume_token = change.get("_id", self.resume_token)
            self._start_after = True
            self._drop_stream()

    def _drop_stream(self) -> None:
        if self._stream is not None:
            try:
                self._stream.close()
            except Exception:  # noqa: BLE001 - a broken stream may fail to close; it is dropped anyway
                pass
            self._stream = None

    def close(self) -> None:
        self._drop_stream()


# -- changes other apps make -----------------------------------------------------------------


class ForeignChange(NamedTuple):
    """One write to the `leads` collection as a MongoDB-side source saw it: `op` is "insert",
    "update" or "delete"; `lead` the lead after it (None for a delete); `at` when it happened."""

    op: str
    lead_id: str
    lead: Lead | None
    at: datetime


class ForeignSource(Protocol):
    """Reads the writes to `leads` since the last read, without blocking; `describe` says how."""

    describe: str

    def read(self) -> list[ForeignChange]: ...

    def close(self) -> None: ...


class ForeignMerge:
    """leadcli's own events (from `own`, a tail) plus the changes other writers of the shared
    `leads` collection make (from `source`), as events in the contract's shape with seq None
    and `by` FOREIGN_BY.

    A source sees every write, leadcli's own too; an own write is recognised by its event: the
    lead's `version` and `updated_at` equal those of an own event's lead (other apps never touch
    `version`, and the Leads Artisan backend sets `updated_at` on every write), an own delete by
    its `lead_deleted` event. A versioned write whose own event has not been seen yet is held up
    to `grace` seconds (outside a transaction the event follows the write), then counted as
    foreign. A document without `version` was never written by leadcli: foreign at once.
    `--since` replays only own events (other apps' changes are not logged anywhere)."""

    def __init__(
        self,
        own: Tail,
        source: ForeignSource,
        *,
        every: float = FOREIGN_INTERVAL_S,
        grace: float = GAP_GRACE_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.own = own
        self.source = source
        self.every = every
        self.grace = grace
        self.clock = clock
        self._own_writes: OrderedDict[str, set[tuple[int, Any]]] = OrderedDict()
        self._own_deletes: OrderedDict[str, None] = OrderedDict()
        self._known: OrderedDict[str, list[Lead]] = OrderedDict()  # last leads seen per id, for diffs
        self._pending: list[tuple[float, ForeignChange]] = []
        self._next_read = clock()

    @property
    def position(self) -> int:
        return self.own.position

    def poll(self, timeout: float) -> list[Event]:
        deadline = time.monotonic() + timeout
        while True:
            step = max(0.0, min(deadline - time.monotonic(), max(0.0, self._next_read - self.clock())))
            events = self.own.poll(step)
            for event in events:
                self._note_own(event)
            # leadcli's own events first: a slow read of other apps' writes never holds them back
            # (a replay with `--since` drains before the first such read).
            if not events and self.clock() >= self._next_read:
                began = self.clock()
                changes = self.source.read()
                # A read that got slow (FerretDB's OpLog swollen by a bulk import, until it trims
                # it) is spaced out so the tail never keeps the server more than ~20% busy.
                self._next_read = self.clock() + max(self.every, 4 * (self.clock() - began))
                for change in changes:
                    self._pending.append((self.clock() + self.grace, change))
            events = events + self._release()
            if events or time.monotonic() >= deadline:
                return events

    def _note_own(self, event: Event) -> None:
        lead = event.get("lead") or {}
        lead_id = str(event.get("lead_id") or lead.get("id"))
        if event.get("type") == "lead_deleted":
            _remember(self._own_deletes, lead_id, None)
            self._known.pop(lead_id, None)
            return
        writes = self._own_writes.get(lead_id) or set()
        writes.add(_stamp(lead))
        _remember(self._own_writes, lead_id, writes)
        self._learn(lead_id, lead)

    def _release(self) -> list[Event]:
        out: list[Event] = []
        held: list[tuple[float, ForeignChange]] = []
        now = self.clock()
        for until, change in self._pending:
            verdict = self._verdict(change)
            if verdict == "own":
                if change.lead is not None:
                    self._learn(change.lead_id, change.lead)
            elif verdict == "foreign" or now >= until:
                out.append(self._event(change))
            else:
                held.append((until, change))
        self._pending = held
        return out

    def _verdict(self, change: ForeignChange) -> str:
        if change.op == "delete":
            if change.lead_id in self._own_deletes:
                return "own"
            known = self._known.get(change.lead_id)
            return "foreign" if known and not _stamp(known[-1])[0] else "wait"
        assert change.lead is not None
        version, updated_at = _stamp(change.lead)
        if not version:
            return "foreign"  # leadcli writes a version on everything it writes
        writes = self._own_writes.get(change.lead_id, set())
        if (version, updated_at) in writes:
            return "own"
        if any(v == version for v, _at in writes):
            return "foreign"  # leadcli wrote this version with another updated_at: changed since
        return "wait"

    def _learn(self, lead_id: str, lead: Lead) -> None:
        seen = [*self._known.get(lead_id, []), lead]
        seen.sort(key=lambda one: _stamp(one)[1] or _EPOCH)
        _remember(self._known, lead_id, seen[-4:])

    def _before(self, lead_id: str, lead: Lead) -> Lead | None:
        """The newest version seen from before `lead` (a held change is released after later
        own events may have been seen): what its `changes` are measured against."""
        at = _stamp(lead)[1] or _EPOCH
        earlier = [one for one in self._known.get(lead_id, []) if (_stamp(one)[1] or _EPOCH) < at]
        return earlier[-1] if earlier else None

    def _event(self, change: ForeignChange) -> Event:
        known = self._known.get(change.lead_id)
        if change.op == "delete":
            self._known.pop(change.lead_id, None)
            return foreign_event("delete", known[-1] if known else {"id": change.lead_id}, None, change.at)
        assert change.lead is not None
        before = self._before(change.lead_id, change.lead)
        self._learn(change.lead_id, change.lead)
        return foreign_event(change.op, change.lead, before, change.at)

    def close(self) -> None:
        try:
            self.source.close()
        finally:
            self.own.close()


def _stamp(lead: Mapping[str, Any]) -> tuple[int, Any]:
    at = lead.get("updated_at")
    if isinstance(at, datetime):
        at = to_utc(at)
    elif isinstance(at, str):
        at = from_iso(at)
    return int(lead.get("version") or 0), at


def _remember(cache: OrderedDict[str, Any], key: str, value: Any) -> None:
    cache[key] = value
    cache.move_to_end(key)
    while len(cache) > REMEMBERED:
        cache.popitem(last=False)
