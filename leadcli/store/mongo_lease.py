"""Per-lead write leases, so compare-and-set holds on servers whose updates are not atomic.

FerretDB v1 runs `update_one({"_id": id, "version": v}, …)` as a read, then a write keyed by
`_id` alone: two writers can both match version v and one update is lost (measured: 40
concurrent increments kept 10–32). Its deletes do the same. What it does enforce atomically is
a unique index on insert, so a writer first inserts `{_id: token, lead: id, expires}` into a
collection with a unique index on `lead`: exactly one writer per lead holds it, does its usual
compare-and-set write, then deletes its own lease.

- Each acquisition has its own `_id` (a random token), and a lease is only ever deleted by
  that `_id`: a late delete can never remove a newer holder's lease, even on FerretDB, whose
  delete re-selects by `_id` after evaluating the filter.
- A writer killed while holding a lease blocks that lead until `expires` (LEASE_SECONDS), or,
  for a waiter whose clock is behind the dead holder's, until it has watched the same lease
  for LEASE_SECONDS. Then it deletes that stale lease (by its token) and races to insert its
  own: the unique index picks one winner, so a takeover is as race-free as an acquisition.
- A holder starts its write only while its lease is less than half its length old (a process
  paused in between gives up with a retryable conflict), so a takeover never overlaps a live
  write unless clocks differ by more than half a lease.

Real MongoDB updates one document atomically, so MongoStore uses leases only on FerretDB.
"""

from __future__ import annotations

import os
import random
import secrets
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pymongo
from pymongo import errors as mongo_errors

from leadcli.domain.dates import now_utc
from leadcli.domain.errors import Conflict, VersionConflict

# A lead's writes take milliseconds; a lease this long only matters when its holder died.
LEASE_SECONDS = 10.0
# A waiter gives up (exit 4) after this long: enough to outlast a dead holder's lease.
WAIT_SECONDS = LEASE_SECONDS + 5.0
# Jittered backoff between attempts, so waiters do not retry in lockstep.
FIRST_PAUSE, MAX_PAUSE = 0.002, 0.05
LEASE_INDEX = pymongo.IndexModel([("lead", 1)], unique=True, name="lead_1")


@dataclass
class Lease:
    """A held lease: `check()` before writing refuses a write that would start too late."""

    lead: str
    token: str | None
    acquired: float  # time.monotonic() when inserted
    seconds: float

    def check(self) -> None:
        if self.token is not None and time.monotonic() - self.acquired > self.seconds / 2:
            raise VersionConflict(
                f"lead {self.lead}: the write paused too long while holding its lease; run the command again"
            )


# What a store without leases hands its writes: checking it never refuses.
NO_LEASE = Lease(lead="", token=None, acquired=0.0, seconds=0.0)


class WriteLeases:
    """Leases on leads, held in `collection` (one document per held lead)."""

    def __init__(self, collection: Any, *, seconds: float = LEASE_SECONDS, wait: float = WAIT_SECONDS) -> None:
        self.collection = collection
        self.seconds = seconds
        self.wait = wait
        self.holder = f"{socket.gethostname()}:{os.getpid()}"
        self._index_ensured = False

    def ensure_index(self) -> None:
        """The unique index is the whole guarantee: without it two inserts would both win."""
        if self._index_ensured:
            return
        names = {doc["name"] for doc in self.collection.list_indexes()}
        if LEASE_INDEX.document["name"] not in names:
            self.collection.create_indexes([LEASE_INDEX])
        self._index_ensured = True

    @contextmanager
    def hold(self, lead_id: str) -> Iterator[Lease]:
        lease = self.acquire(lead_id)
        try:
            yield lease
        finally:
            self.release(lease)

    def acquire(self, lead_id: str) -> Lease:
        self.ensure_index()
        deadline = time.monotonic() + self.wait
        watched: tuple[Any, float] | None = None  # (holder's token, when first seen)
        pause = FIRST_PAUSE
        while True:
            token = secrets.token_hex(12)
            started = time.monotonic()
            doc = {"_id": token, "lead": lead_id, "expires": now_utc() + timedelta(seconds=self.seconds), "holder": self.holder}
            try:
                self.collection.insert_one(doc)
                return Lease(lead=lead_id, token=token, acquired=started, seconds=self.seconds)
            except mongo_errors.OperationFailure as exc:
                if not is_duplicate(exc):
                    raise
            current = self.collection.find_one({"lead": lead_id})
            if current is None:
                continue  # released meanwhile: try again at once
            if watched is None or watched[0] != current["_id"]:
                watched = (current["_id"], time.monotonic())
            if current["expires"] <= now_utc() or time.monotonic() - watched[1] >= self.seconds:
                # Stale: its holder died. Delete that acquisition only, then race to insert.
                self.collection.delete_one({"_id": current["_id"]})
                continue
            if time.monotonic() >= deadline:
                raise Conflict(
                    f"lead {lead_id} is being written by another leadcli (its write lease is held); run the command again"
                )
            time.sleep(random.uniform(0.5, 1.0) * pause)
            pause = min(MAX_PAUSE, pause * 2)

    def release(self, lease: Lease) -> None:
        """Delete this acquisition's lease, never another's. A failure is not the write's: the
        lease then just expires."""
        if lease.token is None:
            return
        try:
            self.collection.delete_one({"_id": lease.token})
        except mongo_errors.PyMongoError:
            pass


def is_duplicate(exc: mongo_errors.OperationFailure) -> bool:
    """A unique index refused the write. FerretDB v1 reports that on updates as a generic
    error naming SQLite's UNIQUE constraint rather than as code 11000."""
    return exc.code == 11000 or "UNIQUE constraint failed" in str((exc.details or {}).get("errmsg") or exc)
