"""The SQLite store's tables: the `leads` columns, the migrations that made them (each run
once, in order, recorded in `PRAGMA user_version`), and the tables kept beside `leads` for
search (`leads_search`), tags (`lead_tags`) and stats (`lead_stays`). Used by store/sqlite.py."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import datetime
from typing import Any

from leadcli.domain.dates import iso, to_utc
from leadcli.domain.folding import PAD, fold
from leadcli.domain.stays import split_stays
from leadcli.store.base import Lead

_COLUMNS = (
    "id", "email", "name", "company", "notes", "current_stage", "status", "engaged", "owner",
    "source", "value", "tags", "follow_up_at", "last_contacted", "created_at", "updated_at",
    "version", "doc",
)  # fmt: skip


def _run_script(db: sqlite3.Connection, script: str) -> None:
    """Execute statements one by one inside the caller's transaction (`executescript` would
    commit it first, and another process could then migrate in between)."""
    statement = ""
    for line in script.splitlines(keepends=True):
        statement += line
        if sqlite3.complete_statement(statement):
            db.execute(statement)
            statement = ""
    if statement.strip():
        raise ValueError(f"incomplete SQL statement in migration: {statement!r}")


def _m1_leads_and_events(db: sqlite3.Connection) -> None:
    _run_script(
        db,
        """
        CREATE TABLE leads (
            pk INTEGER PRIMARY KEY,
            id TEXT NOT NULL UNIQUE,
            email TEXT NOT NULL UNIQUE,
            name TEXT NOT NULL,
            company TEXT,
            notes TEXT,
            current_stage TEXT,
            status TEXT,
            engaged INTEGER NOT NULL DEFAULT 0,
            owner TEXT,
            source TEXT,
            value REAL,
            tags TEXT NOT NULL DEFAULT '[]',
            follow_up_at TEXT,
            last_contacted TEXT,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            version INTEGER NOT NULL,
            doc TEXT NOT NULL
        );
        CREATE INDEX leads_created ON leads (created_at, id);
        CREATE INDEX leads_updated ON leads (updated_at, id);
        CREATE INDEX leads_stage ON leads (current_stage, created_at);
        CREATE INDEX leads_name ON leads (name, id);
        CREATE INDEX leads_company ON leads (company, id);
        CREATE INDEX leads_value ON leads (value, id);
        CREATE INDEX leads_owner ON leads (owner COLLATE NOCASE);
        CREATE INDEX leads_follow_up ON leads (follow_up_at);
        CREATE INDEX leads_last_contacted ON leads (last_contacted, id);
        CREATE TABLE events (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            type TEXT NOT NULL,
            at TEXT NOT NULL,
            by TEXT,
            lead_id TEXT NOT NULL,
            data TEXT NOT NULL
        );
        CREATE INDEX events_lead ON events (lead_id, seq);
        """
    )


def _m2_substring_search(db: sqlite3.Connection) -> None:
    """A trigram index makes `--search` a substring lookup instead of a scan of every lead."""
    _run_script(
        db,
        """
        CREATE VIRTUAL TABLE leads_fts USING fts5(
            name, email, company, notes, content='leads', content_rowid='pk', tokenize='trigram'
        );
        INSERT INTO leads_fts (rowid, name, email, company, notes)
            SELECT pk, name, email, company, notes FROM leads;
        CREATE TRIGGER leads_fts_insert AFTER INSERT ON leads BEGIN
            INSERT INTO leads_fts (rowid, name, email, company, notes)
            VALUES (new.pk, new.name, new.email, new.company, new.notes);
        END;
        CREATE TRIGGER leads_fts_delete AFTER DELETE ON leads BEGIN
            INSERT INTO leads_fts (leads_fts, rowid, name, email, company, notes)
            VALUES ('delete', old.pk, old.name, old.email, old.company, old.notes);
        END;
        CREATE TRIGGER leads_fts_update AFTER UPDATE OF name, email, company, notes ON leads BEGIN
            INSERT INTO leads_fts (leads_fts, rowid, name, email, company, notes)
            VALUES ('delete', old.pk, old.name, old.email, old.company, old.notes);
            INSERT INTO leads_fts (rowid, name, email, company, notes)
            VALUES (new.pk, new.name, new.email, new.company, new.notes);
        END;
        """
    )


def _m3_filter_indexes(db: sqlite3.Connection) -> None:
    """Indexes for the filters people combine most: "my leads" (owner) newest first or by stage
    and value, and a tag table so `--tag` is a B-tree lookup instead of parsing every lead's JSON."""
    _run_script(
        db,
        """
        DROP INDEX leads_owner;
        CREATE INDEX leads_owner_created ON leads (owner COLLATE NOCASE, created_at, id);
        CREATE INDEX leads_owner_stage_value ON leads (owner COLLATE NOCASE, current_stage, value, id);
        CREATE INDEX leads_stage_value ON leads (current_stage, value, id);
        CREATE TABLE lead_tags (tag TEXT NOT NULL, pk INTEGER NOT NULL, PRIMARY KEY (tag, pk)) WITHOUT ROWID;
        INSERT OR IGNORE INTO lead_tags (tag, pk) SELECT j.value, leads.pk FROM leads, json_each(leads.tags) AS j;
        CREATE TRIGGER lead_tags_insert AFTER INSERT ON leads BEGIN
            INSERT OR IGNORE INTO lead_tags (tag, pk) SELECT value, new.pk FROM json_each(new.tags);
        END;
        CREATE TRIGGER lead_tags_delete AFTER DELETE ON leads BEGIN
            DELETE FROM lead_tags WHERE pk = old.pk;
        END;
        CREATE TRIGGER lead_tags_update AFTER UPDATE OF tags ON leads BEGIN
            DELETE FROM lead_tags WHERE pk = old.pk;
            INSERT OR IGNORE INTO lead_tags (tag, pk) SELECT value, new.pk FROM json_each(new.tags);
        END;
        """
    )


def _m4_index_in_the_store(db: sqlite3.Connection) -> None:
    """The store, not per-row triggers, keeps the search index and the tag table in step with
    inserts and updates, one statement per write (a whole import batch at once): a trigger made
    every INSERT or UPDATE keep a statement journal (the ~14 pages it touches, copied, spilled
    to a temp file) and flushed FTS5 once per row, which made an import 3x and an --upsert
    import 10x slower. Deletes, one lead at a time, keep their triggers."""
    _run_script(
        db,
        """
        DROP TRIGGER leads_fts_insert;
        DROP TRIGGER leads_fts_update;
        DROP TRIGGER lead_tags_insert;
        DROP TRIGGER lead_tags_update;
        """
    )


def _m5_drop_unused_indexes(db: sqlite3.Connection) -> None:
    """Indexes no query uses, each one more B-tree every write updates (an import pays for
    every row): nothing reads events by lead (`history` reads the lead's stage_history, the
    feed reads by seq), and the planner never picks `follow_up_at` alone: `followups` and
    `--follow-up-before` sort by another column, so they walk that column's index instead
    (EXPLAIN QUERY PLAN, with and without LIMIT)."""
    _run_script(
        db,
        """
        DROP INDEX events_lead;
        DROP INDEX leads_follow_up;
        """
    )


def _m6_lead_handles(db: sqlite3.Connection) -> None:
    """An index on each lead's handle, the last 10 characters of its id (domain/handle.py), so
    `leadcli show 3c4d5e6f70` is an index lookup. An expression index: nothing to keep in step."""
    _run_script(
        db,
        """
        CREATE INDEX leads_handle ON leads (substr(id, 15));
        """
    )


def _m7_folded_search(db: sqlite3.Connection) -> None:
    """Search that ignores accents as well as case, and short searches through an index.

    `leads_search` replaces `leads_fts`: a trigram index over the *folded* text of name, email,
    company and notes (`domain.folding.fold`: `Müller` is indexed as `muller`, so `muller`,
    `Muller` and `müller` all find it), each value followed by two `PAD` characters so that the
    last one or two characters of a value also start a trigram: a 1-2 character search expands,
    through the `leads_search_terms` vocabulary, to the trigrams that start with it. The table
    keeps its own (folded) copy of the text: deleting by rowid needs no function, so another
    tool deleting a lead keeps it in step (the delete trigger).

    `leads_follow_up`: `followups` reads the due leads in follow-up order from this index
    (partial: leads without a follow-up cost an import nothing)."""
    _run_script(
        db,
        f"""
        DROP TRIGGER leads_fts_delete;
        DROP TABLE leads_fts;
        CREATE VIRTUAL TABLE leads_search USING fts5(name, email, company, notes, tokenize='trigram');
        CREATE VIRTUAL TABLE leads_search_terms USING fts5vocab(leads_search, col);
        INSERT INTO leads_search (rowid, name, email, company, notes) {_SEARCH_ROWS};
        CREATE TRIGGER leads_search_delete AFTER DELETE ON leads BEGIN
            DELETE FROM leads_search WHERE rowid = old.pk;
        END;
        CREATE INDEX leads_follow_up ON leads (follow_up_at, id) WHERE follow_up_at IS NOT NULL;
        """,
    )


# The search index's row of each lead (see _m7); `leadcli_search_text` is registered on every
# connection the store opens.
_SEARCH_ROWS = (
    "SELECT pk, leadcli_search_text(name), leadcli_search_text(email), leadcli_search_text(company),"
    " leadcli_search_text(notes) FROM leads"
)


def _m8_stage_stays(db: sqlite3.Connection) -> None:
    """`stats` from aggregates kept as leads move: `lead_stays` holds, per lead and stage it
    spent time in, the seconds of its finished stays there and the start of its running stay
    (`domain.stays`). The store writes a lead's rows with the lead; `stats` sums them per
    stage, ending running stays at "now" in open stages (closed ones are the pipeline's, known
    only when the report runs). Reading every lead's history for each report cost 20x
    sqlite-utils at 1M leads. Existing leads are filled here, from their documents, in SQL.
    Two covering indexes make the report index scans, never reads of the lead rows (each holds
    a whole document): `lead_stays_stage` for days per stage, `leads_engaged` (partial: the
    engaged leads) for the engaged count — the per-stage counts and values already have
    `leads_stage_value`. At 100k leads that took the report from 0.47 s of SQL to ~0.15 s."""
    _run_script(
        db,
        f"""
        CREATE TABLE lead_stays (
            pk INTEGER NOT NULL, stage TEXT NOT NULL, finished REAL, running_since TEXT, PRIMARY KEY (pk, stage)
        ) WITHOUT ROWID;
        INSERT INTO lead_stays (pk, stage, finished, running_since) {_STAYS_FROM_DOCUMENTS};
        CREATE INDEX lead_stays_stage ON lead_stays (stage, finished, running_since);
        CREATE INDEX leads_engaged ON leads (current_stage) WHERE engaged = 1;
        CREATE TRIGGER lead_stays_delete AFTER DELETE ON leads BEGIN
            DELETE FROM lead_stays WHERE pk = old.pk;
        END;
        """,
    )


# Every lead's `lead_stays` rows from its document (see _m8): its history entries with a stage
# and a time in order, then its current stage from stage_updated_at (else created_at) unless
# the history ends there; each stay ends at the next one's start; the last one is running.
_STAYS_FROM_DOCUMENTS = """
WITH entries AS (
    SELECT leads.pk, entry.key AS k, entry.value ->> 'to_stage' AS stage, entry.value ->> 'changed_at' AS since,
           entry.value ->> 'leadcli_current' AS current
    FROM leads, json_each(json_insert(
        coalesce(leads.doc -> 'stage_history', '[]'), '$[#]',
        json_object('to_stage', leads.current_stage, 'changed_at', coalesce(leads.doc ->> 'stage_updated_at', leads.created_at),
                    'leadcli_current', 1))) AS entry
    WHERE entry.type = 'object'),
kept AS (
    SELECT pk, k, stage, since, current, lag(stage) OVER (PARTITION BY pk ORDER BY k) AS previous FROM entries
    WHERE stage IS NOT NULL AND since IS NOT NULL),
stays AS (
    SELECT pk, stage, since, lead(since) OVER (PARTITION BY pk ORDER BY k) AS until FROM kept
    WHERE current IS NULL OR previous IS NOT stage)
SELECT pk, stage,
       sum(CASE WHEN until IS NOT NULL THEN max(0.0, round((julianday(until) - julianday(since)) * 86400.0, 3)) END),
       max(CASE WHEN until IS NULL THEN since END)
FROM stays GROUP BY pk, stage
"""

# Per stage: seconds spent (finished stays, plus running ones up to ? in open stages) summed
# over the leads that spent time there, and those leads. {leads} narrows to the matching leads.
_STAGE_SECONDS_SQL = """
SELECT stage, total(coalesce(finished, 0.0) + CASE WHEN running_since IS NOT NULL AND {open}
                    THEN max(0.0, round((julianday(?) - julianday(running_since)) * 86400.0, 3)) ELSE 0.0 END),
       count(*)
FROM lead_stays WHERE {leads}(finished IS NOT NULL OR (running_since IS NOT NULL AND {open})) GROUP BY stage
"""


def _stay_rows(pk: int, lead: Lead) -> list[tuple[Any, ...]]:
    """The lead's `lead_stays` rows (see _m8)."""
    history = lead.get("stage_history")
    if history and len(history) == 1:  # a new lead (every imported one): one running stay
        stage, at = history[0].get("to_stage"), history[0].get("changed_at")
        if stage is not None and stage == lead.get("current_stage") and isinstance(at, datetime):
            return [(pk, stage, None, _iso_cached(to_utc(at)))]
    finished, running = split_stays(lead)
    stages = dict.fromkeys([*finished, *([running[0]] if running else [])])
    return [
        (pk, stage, finished.get(stage), iso(running[1]) if running and running[0] == stage else None)
        for stage in stages
    ]


def _write_stays(db: sqlite3.Connection, leads: list[tuple[int, Lead]], *, replace: bool = False) -> None:
    """Store these leads' stays; `replace`: they had rows, rewritten only where they differ."""
    rows: list[tuple[Any, ...]] = []
    changed: list[tuple[int]] = []
    for pk, lead in leads:
        new = _stay_rows(pk, lead)
        if replace:
            old = db.execute("SELECT pk, stage, finished, running_since FROM lead_stays WHERE pk = ?", (pk,)).fetchall()
            if sorted(old, key=lambda r: r[1]) == sorted(new, key=lambda r: r[1]):
                continue
            changed.append((pk,))
        rows += new
    db.executemany("DELETE FROM lead_stays WHERE pk = ?", changed)
    db.executemany("INSERT INTO lead_stays (pk, stage, finished, running_since) VALUES (?, ?, ?, ?)", rows)


# FTS5 gathers a transaction's new postings in memory and writes them out as a segment whenever
# they pass its `hashsize` (1 MiB by default); the segments are merged as they pile up. Building
# the search index of a million leads in one statement (a bulk load's end) wrote ~1,000 small
# segments and merged them again and again: 25.9 s of CPU, against 17.7 s with 16 MiB and 16.0 s
# with 64 MiB (the same rows of a 1M-lead store); a one-lead write still holds only its own few
# postings.
SEARCH_HASH_BYTES = 32 * 1024 * 1024


def _m9_search_flush_size(db: sqlite3.Connection) -> None:
    """The search index flushes its postings every SEARCH_HASH_BYTES, not every 1 MiB (FTS5's
    `hashsize`, kept in `leads_search_config`)."""
    db.execute("INSERT INTO leads_search (leads_search, rank) VALUES ('hashsize', ?)", (SEARCH_HASH_BYTES,))


# Ordered, append-only: the schema version is the number of migrations applied.
MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [
    _m1_leads_and_events,
    _m2_substring_search,
    _m3_filter_indexes,
    _m4_index_in_the_store,
    _m5_drop_unused_indexes,
    _m6_lead_handles,
    _m7_folded_search,
    _m8_stage_stays,
    _m9_search_flush_size,
]


def _index_new_leads(db: sqlite3.Connection, since_pk: int, *, search: bool = True) -> None:
    """Add the leads inserted in this transaction (pk > since_pk: a new row gets a pk above the
    largest, and the writer holds the lock) to the search index and the tag table (see _m4);
    `search` False: the tag table only (a deferred bulk load indexes them at its end)."""
    if search:
        _search_new_leads(db, since_pk)
    db.execute(
        "INSERT OR IGNORE INTO lead_tags (tag, pk)"
        " SELECT j.value, leads.pk FROM leads, json_each(leads.tags) AS j WHERE leads.pk > ?",
        (since_pk,),
    )


def _search_new_leads(db: sqlite3.Connection, since_pk: int) -> None:
    """Put the leads above `since_pk` into the search index (see _m7)."""
    db.execute(f"INSERT INTO leads_search (rowid, name, email, company, notes) {_SEARCH_ROWS} WHERE pk > ?", (since_pk,))


# What the search index and the tag table hold of a lead: (pk, name, email, company, notes, tags).
Indexed = tuple[Any, ...]


def _indexed(pk: int, columns: tuple[Any, ...]) -> Indexed:
    """`Indexed` of a row stored or about to be written as `columns` (in _COLUMNS order)."""
    return (pk, columns[2], columns[1], columns[3], columns[4], columns[11])


def _reindex_updated(db: sqlite3.Connection, updated: dict[int, tuple[Indexed, Indexed]]) -> None:
    """Bring the search index and the tag table from each updated lead's old values to its new
    ones (by pk), touching only the leads whose searched columns or tags changed."""
    changed = [new for old, new in updated.values() if old[1:5] != new[1:5]]
    tags = [(new[0], new[5]) for old, new in updated.values() if old[5] != new[5]]
    db.executemany("DELETE FROM leads_search WHERE rowid = ?", [(new[0],) for new in changed])
    db.executemany(
        "INSERT INTO leads_search (rowid, name, email, company, notes) VALUES (?, ?, ?, ?, ?)",
        [(new[0], *map(_search_text, new[1:5])) for new in changed],
    )
    db.executemany("DELETE FROM lead_tags WHERE pk = ?", [(pk,) for pk, _ in tags])
    db.executemany("INSERT OR IGNORE INTO lead_tags (tag, pk) SELECT value, ? FROM json_each(?)", tags)


SEARCH_COLUMNS = ("name", "email", "company", "notes")


def _search_text(text: str | None) -> str | None:
    """A column's value as the search index holds it: folded, then padded (see _m7)."""
    return None if text is None else fold(text) + PAD + PAD


def _register_functions(db: sqlite3.Connection) -> None:
    db.create_function("leadcli_search_text", 1, _search_text, deterministic=True)


_last_iso: tuple[Any, str] = (None, "")


def _iso_cached(at: Any) -> str:
    """`iso(at)`, remembering the last one: a batch's events share one `at`."""
    global _last_iso
    if _last_iso[0] is not at:
        _last_iso = (at, iso(at))
    return _last_iso[1]
