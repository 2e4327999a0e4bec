"""Following a feed of events until a count, a deadline or Ctrl-C, riding out short outages.

Pure loop logic, shared by `watch` (local store or server) and `serve`; the sources are tails
(see `tail`) or the WebSocket client. A source that stays unreachable longer than the
reconnect budget raises StoreUnavailable (exit 5): a watcher never ends with 0 because its
stream died.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

from leadcli.domain.errors import StoreUnavailable
from leadcli.store.base import ChangeFeed, Event
from leadcli.store.tail import StoreReplaced

# How long a watcher keeps retrying an unreachable store or server before exit 5.
RECONNECT_BUDGET_S = 30.0
BACKOFF_FIRST_S = 0.1
BACKOFF_MAX_S = 2.0


class Backoff:
    """Exponential delays between retries, and the time since the outage began."""

    def __init__(self, budget: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.budget = budget
        self.clock = clock
        self.failing_since: float | None = None
        self.delay = BACKOFF_FIRST_S

    def failed(self, exc: Exception, what: str, started: float | None = None) -> float:
        """Record a failure of a try that began at `started` (default: now); the delay before the
        next try, or StoreUnavailable past the budget. The outage is counted from the start of
        its first failed try: a try can itself take seconds (pymongo's server selection)."""
        now = self.clock()
        if self.failing_since is None:
            self.failing_since = now if started is None else min(started, now)
        if now - self.failing_since >= self.budget:
            raise StoreUnavailable(f"{what} stayed unreachable for {self.budget:g} s: {exc}") from None
        delay = self.delay
        self.delay = min(self.delay * 2, BACKOFF_MAX_S)
        return delay

    def succeeded(self) -> None:
        self.failing_since = None
        self.delay = BACKOFF_FIRST_S


def follow_tail(
    tail: ChangeFeed,
    *,
    until: float | None = None,
    budget: float = RECONNECT_BUDGET_S,
    what: str = "the store",
    tick: float = 0.25,
    stop: Callable[[], bool] = lambda: False,
) -> Iterator[Event]:
    """Events from `tail` in seq order until the monotonic deadline `until` (forever if None)
    or until `stop()` is true."""
    backoff = Backoff(budget, time.monotonic)
    while (until is None or time.monotonic() < until) and not stop():
        wait = tick if until is None else max(0.0, min(tick, until - time.monotonic()))
        started = time.monotonic()
        try:
            events = tail.poll(wait)
        except StoreReplaced:
            raise  # not an outage: the file it followed is gone for good
        except StoreUnavailable as exc:
            delay = backoff.failed(exc, what, started)
            if until is not None and time.monotonic() + delay >= until:
                raise StoreUnavailable(f"{what} was unreachable when the watch ended: {exc.message}") from None
            time.sleep(delay)
            continue
        backoff.succeeded()
        yield from events
