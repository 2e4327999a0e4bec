"""The tail of a store's events, as `watch` and `serve` use it: whatever `LeadStore.changes`
gives. The mechanics live in `store/tail.py` (re-exported here for older imports); which one a
store uses is the adapter's business, not this package's."""

from __future__ import annotations

from leadcli.store.base import ChangeFeed, LeadStore
from leadcli.store.tail import (
    BATCH,
    GAP_GRACE_S,
    SEQ_INTERVAL_S,
    ChangeStreamTail,
    ForeignMerge,
    GapBuffer,
    SeqTail,
    SqliteTail,
    StoreReplaced,
    Tail,
)

__all__ = [
    "BATCH", "GAP_GRACE_S", "SEQ_INTERVAL_S", "ChangeFeed", "ChangeStreamTail", "ForeignMerge",
    "GapBuffer", "SeqTail", "SqliteTail", "StoreReplaced", "Tail", "open_tail",
]  # fmt: skip


def open_tail(store: LeadStore, after: int) -> ChangeFeed:
    """Every event after seq `after`, then each new one: the store's own `changes`."""
    return store.changes(after)
