"""MongoDB queries: a LeadQuery as a filter (one translation per schema op,
domain/schema.py), and the escaped regexes and id look-ups behind it. User text is only ever a
value: escaped inside regexes, never an operator. Used by store/mongo.py."""

from __future__ import annotations

import re
from typing import Any

from bson import ObjectId
from bson.regex import Regex

from leadcli.domain.folding import folding_regex
from leadcli.domain.query import STORE_SORT_FIELDS, LeadQuery


def object_id(text: str) -> ObjectId | None:
    return ObjectId(text) if ObjectId.is_valid(text) and len(text) == 24 else None


def version_is(version: int) -> dict[str, Any]:
    # Documents the Leads Artisan backend wrote have no `version`: they count as version 0.
    if version == 0:
        return {"version": {"$in": [None, 0]}}
    return {"version": version}


def exact(text: str) -> str:
    r"""A regex matching exactly `text` (\A…\z: `$` would also match before a final newline)."""
    return r"\A" + re.escape(text) + r"\z"


def exact_ascii_nocase(text: str) -> str:
    r"""A regex matching exactly `text`, ASCII letters in either case (`[aA]`), every other
    character as itself (escaped): the `equals` op's meaning, SQLite's NOCASE."""
    parts = (f"[{c.lower()}{c.upper()}]" if c.isascii() and c.isalpha() else re.escape(c) for c in text)
    return r"\A" + "".join(parts) + r"\z"


def case_prefixes(text: str, letters: int = 4) -> list[Regex[Any]]:
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


def contains(text: str) -> dict[str, Any]:
    """Contains `text`, ignoring case and accents (`domain.folding`), every character literal:
    an escaped regex where each character is the class of the characters folding to it. It
    works on any document (the web app's too: no folded copy of the text is needed), at the
    price of a regex per document (no index serves an unanchored regex)."""
    pattern = folding_regex(text)
    if pattern is None:  # combining marks alone fold to nothing: they match nothing
        return {"$in": []}
    return {"$regex": pattern, "$options": "i"}


def sort_field(name: str) -> str:
    """The document field to sort by: only LeadQuery's sort fields, each stored under its name."""
    if name not in STORE_SORT_FIELDS:
        raise ValueError(f"unknown sort field {name!r}")
    return name


def lead_filter(q: LeadQuery) -> dict[str, Any]:
    """The LeadQuery as a Mongo filter, with the same meaning as SqliteStore's WHERE clause:
    each schema op (domain/schema.py) translated once."""
    clauses = [condition(spec.op, spec.fields, value) for spec, value in q.conditions()]
    if not clauses:
        return {}
    return clauses[0] if len(clauses) == 1 else {"$and": clauses}


def condition(op: str, fields: tuple[str, ...], value: Any) -> dict[str, Any]:
    field = fields[0]
    if op == "in":
        # One value as plain equality: FerretDB v1 serves that from an index, `$in` never.
        return {field: value[0]} if len(value) == 1 else {field: {"$in": list(value)}}
    if op == "not_in":
        return {field: {"$nin": list(value)}}  # also matches no value
    if op == "equals":
        # Equality ignoring ASCII case, without collation (FerretDB v1 has none). Not the `i`
        # option: it folds accented capitals too (José ~ JOSÉ), which SQLite's NOCASE and
        # `watch`'s matching (domain/matching.py) do not, so the stores would disagree.
        return {field: {"$regex": exact_ascii_nocase(value)}}
    if op == "is":
        return {field: True} if value else {field: {"$ne": True}}
    if op == "has_all":
        return {"$and": [{field: item} for item in value]} if len(value) > 1 else {field: value[0]}
    if op == "contains":
        if len(fields) == 1:
            return {field: contains(value)}
        return {"$or": [{name: contains(value)} for name in fields]}
    if op == "at_or_after":
        return {field: {"$gte": value}}
    if op == "before":
        return {field: {"$lt": value}}
    if op == "at_or_before":
        return {field: {"$lte": value}}
    if op == "before_or_never":
        return {"$or": [{field: None}, {field: {"$lt": value}}]}
    if op == "idle_before":
        return {"$or": [{field: {"$lt": value}}, {field: None, fields[1]: {"$lt": value}}]}
    if op == "id_in":
        return {"_id": {"$in": [oid for oid in map(object_id, value) if oid is not None]}}
    raise ValueError(f"no MongoDB translation of the filter op {op!r}")
