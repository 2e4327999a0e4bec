"""Tailing a store's events: every event after a seq, oldest first, none skipped.

A tail is a small object with `poll(timeout) -> events` and `position` (the seq of the last
event it returned). Three kinds:

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
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from leadcli.domain.errors import StoreUnavailable
from leadcli.store.base import Event

BATCH = 500
SQLITE_INTERVAL_S = 0.05
SEQ_INTERVAL_S = 0.1
GAP_GRACE_S = 2.0
FULL_READ_EVERY_S = 3.0
LOOKUPS_PER_READ = 8


class Tail(Protocol):
    @property
    def position(self) -> int: ...

    def poll(self, timeout: float) -> list[Event]:
        """The events after `position` that are ready, waiting up to `timeout` s for some; [] if none."""
        ...

    def close(self) -> None: ...


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
    def __init__(self, store: Any, after: int, interval: float = SQLITE_INTERVAL_S) -> None:
        self.store = store
        self.position = after
        self.interval = interval
        self._version: int | None = None
        self._more = True

    def poll(self, timeout: float) -> list[Event]:
        deadline = time.monotonic() + timeout
        while True:
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
    ) -> None:
        self.open_stream = open_stream
        self.decode = decode
        self.fetch = fetch
        self.errors = errors
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
            raise StoreUnavailable(f"the change stream broke: {exc}") from None

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


def open_tail(store: Any, after: int) -> Tail:
    """The best tail the store offers: data_version polling on SQLite, a change stream on a
    MongoDB replica set, else a tail by seq (standalone MongoDB, FerretDB)."""
    if hasattr(store, "data_version"):
        return SqliteTail(store, after)
    server_info = getattr(store, "server_info", None)
    if server_info is not None and server_info().get("change_streams"):
        return mongo_change_stream_tail(store, after)
    return SeqTail(store.events_after, after, lookup=getattr(store, "event_at", None))


def mongo_change_stream_tail(store: Any, after: int) -> ChangeStreamTail:
    from pymongo.errors import PyMongoError

    from leadcli.store.mongo import event_from_document

    def open_stream(**resume: Any) -> ChangeStream:
        # Inserts only matter; other operations and `invalidate` are sorted out by the tail.
        return store.events.watch(max_await_time_ms=250, **resume)

    return ChangeStreamTail(open_stream, event_from_document, store.events_after, after, errors=(PyMongoError,))
