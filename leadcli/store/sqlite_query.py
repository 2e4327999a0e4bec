"""A LeadQuery as SQL for the SQLite store: the WHERE clause (one translation per schema op,
domain/schema.py), the search through the folded trigram index, the ORDER BY. User text is only
ever a parameter. Used by store/sqlite.py."""

from __future__ import annotations

import sqlite3
import sys
from typing import Any

from leadcli.domain.dates import iso
from leadcli.domain.folding import fold
from leadcli.domain.query import STORE_SORT_FIELDS, LeadQuery
from leadcli.store.sqlite_schema import _COLUMNS

# A 1-2 character search expanding to more trigrams than this (a common letter) reads the
# leads in the requested order instead, checking each one, and stops at the end of the page.
MAX_SHORT_TERMS = 200


def _contains(
    db: sqlite3.Connection, columns: tuple[str, ...], text: str, clauses: list[str], params: list[Any]
) -> None:
    """`columns` contain `text`, ignoring case and accents (`domain.folding`), every character literal.

    Always through the folded trigram index `leads_search` (see _m7). Three characters or more: a
    quoted FTS5 phrase is an exact substring match, and the text is a bound parameter inside an
    FTS string, so no character of it is syntax. One or two: the trigrams that start with the
    text, looked up in the index's vocabulary (a B-tree range), then matched as `"t1" OR "t2"…`
    (the padding makes a value's last characters start trigrams too). When a very common letter
    expands to hundreds of trigrams, each lead, read in the query's order, is checked against its
    folded text instead: the page fills within a few rows, since such a letter is in most leads.
    """
    needle = fold(text)
    if not needle:  # combining marks alone: folded away, they match nothing
        clauses.append("0")
        return
    colset = "{" + " ".join(columns) + "} : "
    if len(needle) >= 3:
        clauses.append("pk IN (SELECT rowid FROM leads_search WHERE leads_search MATCH ?)")
        params.append(colset + _phrase(needle))
        return
    end = _prefix_end(needle)
    rows = db.execute(
        f"SELECT DISTINCT term FROM leads_search_terms WHERE term >= ?{' AND term < ?' if end else ''}"
        f" AND col IN ({', '.join('?' * len(columns))}) LIMIT {MAX_SHORT_TERMS + 1}",
        (needle, *([end] if end else []), *columns),
    ).fetchall()
    terms = [row[0] for row in rows if row[0].startswith(needle)]
    if not terms:
        clauses.append("0")
    elif len(terms) <= MAX_SHORT_TERMS:
        clauses.append("pk IN (SELECT rowid FROM leads_search WHERE leads_search MATCH ?)")
        params.append(colset + "(" + " OR ".join(map(_phrase, terms)) + ")")
    else:
        found = " OR ".join(f"instr(s.{c}, ?) > 0" for c in columns)
        clauses.append(f"EXISTS (SELECT 1 FROM leads_search AS s WHERE s.rowid = leads.pk AND ({found}))")
        params += [needle] * len(columns)


def _prefix_end(prefix: str) -> str | None:
    """A text above every text starting with `prefix` and below every other one above it (None:
    none is above them all): its last character's successor, skipping the surrogates (no text
    holds one; SQLite cannot take one) and, past the last code point (U+10FFFF), the successor
    of the prefix without that character."""
    stripped = prefix.rstrip(chr(sys.maxunicode))
    if not stripped:
        return None
    after = ord(stripped[-1]) + 1
    return stripped[:-1] + chr(0xE000 if 0xD800 <= after <= 0xDFFF else after)


def _phrase(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


def _where(db: sqlite3.Connection, q: LeadQuery) -> tuple[str, list[Any]]:
    """The query's filters as a WHERE clause: each schema op (domain/schema.py) translated once."""
    clauses: list[str] = []
    params: list[Any] = []
    for spec, value in q.conditions():
        op, fields = spec.op, spec.fields
        column = _column(fields[0])
        if op in ("in", "not_in", "id_in"):
            marks = ", ".join("?" * len(value))
            if op == "in":
                clauses.append(f"{column} IN ({marks})")
            elif op == "not_in":
                clauses.append(f"({column} IS NULL OR {column} NOT IN ({marks}))")
            else:
                clauses.append(f"id IN ({marks})" if value else "0")
            params += value
        elif op == "equals":
            clauses.append(f"{column} = ? COLLATE NOCASE")
            params.append(value)
        elif op == "is":
            clauses.append(f"{column} = ?" if column == fields[0] else f"coalesce({column}, 0) = ?")  # columns are NOT NULL
            params.append(1 if value else 0)
        elif op == "has_all":
            for item in value:
                if fields == ("tags",):
                    # Correlated lookups keep the sort index usable: a common tag stops after one
                    # page, a rare one costs a B-tree probe per lead, never a JSON parse.
                    clauses.append("EXISTS (SELECT 1 FROM lead_tags WHERE tag = ? AND pk = leads.pk)")
                else:
                    clauses.append(f"EXISTS (SELECT 1 FROM json_each({column}) WHERE value = ?)")
                params.append(item)
        elif op == "contains":
            _contains(db, fields, value, clauses, params)
        elif op in _BOUNDS:
            clauses.append(_BOUNDS[op].format(column=column))
            params.append(iso(value))
        elif op == "idle_before":
            clauses.append(f"coalesce({column}, {_column(fields[1])}) < ?")
            params.append(iso(value))
        else:
            raise ValueError(f"no SQLite translation of the filter op {op!r}")
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), params


_BOUNDS = {
    "at_or_after": "{column} >= ?",
    "before": "{column} < ?",
    "at_or_before": "{column} <= ?",
    "before_or_never": "({column} IS NULL OR {column} < ?)",
}


def _column(field: str) -> str:
    """The SQL for a schema field: its column, or its value in the stored document (a field the
    leads table has no column for; the name is the schema's, never user text)."""
    if field in _COLUMNS:
        return field
    if not field.isidentifier():
        raise ValueError(f"not a field name: {field!r}")
    return f"json_extract(doc, '$.{field}')"


def _order(q: LeadQuery, params: list[Any]) -> str:
    direction = "DESC" if q.descending else "ASC"
    if q.sort == "current_stage":
        cases = " ".join("WHEN ? THEN ?" for _ in q.stage_order)
        for rank, stage in enumerate(q.stage_order):
            params += [stage, rank]
        key = f"CASE current_stage {cases} ELSE {len(q.stage_order)} END" if q.stage_order else "current_stage"
    elif q.sort in STORE_SORT_FIELDS:  # a column name spliced into SQL: only the known ones
        key = q.sort
    else:
        raise ValueError(f"unknown sort field {q.sort!r}")
    return f"{key} {direction}, id {direction}"
