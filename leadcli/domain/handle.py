"""A lead's handle: the last HANDLE_LENGTH characters of its id, what a person types.

Ids are ObjectId-shaped: 4 bytes of creation time, then 8 bytes leadcli draws at random (the
Leads Artisan backend's ObjectIds: 5 bytes random per process, then a 3-byte counter). Leads
created together share the time part, so an id *prefix* cannot name one of them in a few
characters; the tail can. The last 10 hex characters are 40 bits: random for leadcli's ids,
(2 bytes of the process's random value + the counter) for the backend's, so distinct within
one backend process for 16.7 million ids.

Collision math for random tails (birthday bound): among n leads, the expected number of pairs
sharing a handle is n(n-1)/2 / 2^40; at a million leads that is ~0.45 pairs, and the chance
that a given lead's handle is shared is n / 2^40 ~ 1 in 1.1 million. When it happens, the
handle is ambiguous and leadcli lists the candidates (exit 2); the full id always works.
Derived from the id, the handle needs no stored state and is the same in every store and for
leads another app created; the stores index it (SQLite: an expression index on the id's tail;
MongoDB: a `handle` field leadcli writes, filled in for other apps' documents when looked up).
"""

from __future__ import annotations

HANDLE_LENGTH = 10
HEX = frozenset("0123456789abcdef")


def handle_of(lead_id: str) -> str:
    return lead_id[-HANDLE_LENGTH:]


def is_hex(text: str) -> bool:
    return bool(text) and all(c in HEX for c in text)
