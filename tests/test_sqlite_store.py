"""The embedded SQLite store itself: schema migrations, WAL, events written with each change,
compare-and-set on `version`, the unique email, and clear exit-5 errors for unusable paths."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import invoke

from leadcli.domain.errors import Conflict, NotFound, StoreUnavailable, VersionConflict
from leadcli.domain.lead import new_id
from leadcli.domain.query import LeadQuery
from leadcli.store import open_store
from leadcli.store.sqlite import MIGRATIONS, SqliteStore

T0 = datetime(2026, 11, 26, 13, 0, tzinfo=UTC)


def make_lead(email: str, *, at: datetime = T0, **changes: Any) -> dict[str, Any]:
    lead = {
        "id": new_id(), "name": email.split("@")[0].title(), "email": email, "company": None, "phone": None,
        "status": "Not Engaged", "engaged": False, "current_stage": "New Lead", "stage_updated_at": at,
        "owner": None, "source": None, "tags": [], "value": None, "notes": None, "follow_up_at": None,
        "last_contacted": None, "created_at": at, "updated_at": at,
        "stage_history": [{"from_stage": None, "to_stage": "New Lead", "changed_at": at, "by": "ops", "notes": None}],
        "fields": {}, "version": 1,
    }  # fmt: skip
    lead.update(changes)
    return lead


def event(kind: str = "lead_created", **changes: Any) -> dict[str, Any]:
    return {"type": kind, "by": "ops", "at": T0, "changes": changes}


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "leads.db"


@pytest.fixture
def sqlite_store(db_path: Path):  # type: ignore[no-untyped-def]
    opened = SqliteStore(db_path)
    yield opened
    opened.close()


def raw(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(path)


# -- schema -------------------------------------------------------------------------------------


def test_migrations_from_an_empty_file_reach_the_latest_version(db_path: Path) -> None:
    db_path.touch()  # an empty file is a valid, empty SQLite database
    SqliteStore(db_path).close()
    with raw(db_path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"leads", "events", "leads_search", "leads_search_terms"} <= tables
    assert "leads_fts" not in tables  # replaced by the folded index (migration 7)


def test_a_store_from_a_newer_leadcli_is_refused_untouched(db_path: Path) -> None:
    SqliteStore(db_path).close()
    with raw(db_path) as db:
        db.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    result = invoke("--db", str(db_path), "count")
    assert result.code == 5
    assert "newer than this leadcli knows" in result.stderr and "upgrade leadcli" in result.stderr
    with raw(db_path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS) + 1


def test_migrations_are_idempotent(db_path: Path) -> None:
    def schema() -> list[tuple[str, str]]:
        with raw(db_path) as db:
            return db.execute("SELECT type, name FROM sqlite_master ORDER BY type, name").fetchall()

    first = SqliteStore(db_path)
    first.insert(make_lead("ada@example.com"), event())
    first.close()
    before = schema()
    for _ in range(2):
        again = SqliteStore(db_path)
        assert again.schema_version() == len(MIGRATIONS)
        assert again.count(LeadQuery()) == 1
        again.close()
    assert schema() == before


def test_an_older_schema_is_migrated_with_its_data(db_path: Path) -> None:
    """A file written at schema 1 (before the search index) gains the index, covering the
    leads it already holds."""
    from leadcli.store.sqlite import _columns
    from leadcli.store.sqlite_schema import _COLUMNS

    lead = make_lead("grace@example.com", company="Navy")
    db = sqlite3.connect(db_path, isolation_level=None)
    MIGRATIONS[0](db)
    db.execute("PRAGMA user_version = 1")
    db.execute(f"INSERT INTO leads ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))})", _columns(lead))
    db.close()

    store = SqliteStore(db_path)
    try:
        assert store.schema_version() == len(MIGRATIONS)
        assert [found["id"] for found in store.query(LeadQuery(search="NAVY"))] == [lead["id"]]
    finally:
        store.close()


def test_wal_mode_and_a_busy_timeout(sqlite_store: SqliteStore, db_path: Path) -> None:
    with raw(db_path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert sqlite_store.db.execute("PRAGMA busy_timeout").fetchone()[0] >= 5000


def test_a_new_store_uses_8k_pages_and_an_existing_file_keeps_its_own(db_path: Path, tmp_path: Path) -> None:
    from leadcli.store.sqlite import PAGE_SIZE

    SqliteStore(db_path).close()
    old_path = tmp_path / "old.db"
    with raw(old_path) as db:  # a store created before PAGE_SIZE, with the 4 KiB default
        db.execute("PRAGMA page_size = 4096")
        db.execute("PRAGMA journal_mode = WAL")
    store = SqliteStore(old_path)
    try:
        store.insert(make_lead("ada@example.com"), event())
        assert store.get_by_email("ada@example.com") is not None
    finally:
        store.close()
    with raw(db_path) as new, raw(old_path) as old:
        assert new.execute("PRAGMA page_size").fetchone()[0] == PAGE_SIZE == 8192
        assert old.execute("PRAGMA page_size").fetchone()[0] == 4096


def test_a_file_in_a_missing_directory_is_created(tmp_path: Path) -> None:
    path = tmp_path / "new" / "deeper" / "leads.db"
    store = SqliteStore(path)
    store.close()
    assert path.is_file()


# -- events -------------------------------------------------------------------------------------


def test_every_write_appends_one_event_with_a_growing_seq(sqlite_store: SqliteStore) -> None:
    lead = sqlite_store.insert(make_lead("ada@example.com"), event())
    changed = sqlite_store.replace({**lead, "company": "Engines"}, 1, event("lead_updated", company=[None, "Engines"]))
    sqlite_store.delete(changed, event("lead_deleted"))
    events = sqlite_store.events_after(0)
    assert [(e["seq"], e["type"], e["lead_id"]) for e in events] == [
        (1, "lead_created", lead["id"]),
        (2, "lead_updated", lead["id"]),
        (3, "lead_deleted", lead["id"]),
    ]
    assert events[1]["changes"] == {"company": [None, "Engines"]}
    assert events[1]["lead"]["company"] == "Engines"
    assert events[1]["lead"]["version"] == 2
    assert sqlite_store.last_seq() == 3
    assert [e["seq"] for e in sqlite_store.events_after(1)] == [2, 3]


def test_a_failing_event_write_leaves_neither_lead_nor_event(sqlite_store: SqliteStore, monkeypatch: pytest.MonkeyPatch) -> None:
    kept = sqlite_store.insert(make_lead("kept@example.com"), event())

    def disk_full(*args: Any) -> None:
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(sqlite_store, "_append_event", disk_full)
    with pytest.raises(sqlite3.OperationalError):
        sqlite_store.insert(make_lead("lost@example.com"), event())
    with pytest.raises(sqlite3.OperationalError):
        sqlite_store.replace({**kept, "name": "Changed"}, 1, event("lead_updated"))
    with pytest.raises(sqlite3.OperationalError):
        sqlite_store.delete(kept, event("lead_deleted"))
    monkeypatch.undo()

    assert sqlite_store.get_by_email("lost@example.com") is None
    assert sqlite_store.get(kept["id"]) == kept
    assert sqlite_store.last_seq() == 1
    # The connection is usable afterwards: no transaction was left open.
    assert not sqlite_store.db.in_transaction
    sqlite_store.insert(make_lead("next@example.com"), event())
    assert sqlite_store.last_seq() == 2


# -- records, CAS and uniqueness ----------------------------------------------------------------


def test_a_lead_reads_back_as_written(sqlite_store: SqliteStore) -> None:
    lead = make_lead(
        "ada@example.com", tags=["vip", "ünïcode"], value=1250.5, fields={"size": 3, "ok": True, "note": "a,b"},
        follow_up_at=T0 + timedelta(days=2), notes='multi\nline "quoted"',
    )  # fmt: skip
    sqlite_store.insert(lead, event())
    assert sqlite_store.get(lead["id"]) == lead
    assert sqlite_store.get_by_email(" ADA@example.com ") == lead
    assert sqlite_store.get(lead["id"])["created_at"].tzinfo is not None  # type: ignore[index]


def test_a_document_written_with_nan_by_an_older_leadcli_still_reads(sqlite_store: SqliteStore, db_path: Path) -> None:
    lead = make_lead("ada@example.com", fields={"score": 1.5})
    sqlite_store.insert(lead, event())
    with raw(db_path) as db:  # as the json module wrote a NaN custom field before they were refused
        db.execute("UPDATE leads SET doc = replace(doc, '1.5', 'NaN')")
    stored = sqlite_store.get(lead["id"])
    assert stored is not None and stored["email"] == "ada@example.com"
    assert str(stored["fields"]["score"]) == "nan"


def test_an_update_of_some_columns_leaves_the_row_as_a_full_rewrite_would(sqlite_store: SqliteStore, db_path: Path) -> None:
    """Updates SET only the columns that changed (fewer index rewrites); the stored row, every
    column and the search index, must still be exactly what writing the whole lead gives."""
    from leadcli.store.sqlite import _columns
    from leadcli.store.sqlite_schema import _COLUMNS

    lead = make_lead("ada@example.com", tags=["vip"], value=10.0, owner="kim")
    sqlite_store.insert(lead, event())
    changes = [{"current_stage": "Negotiation", "owner": "lee"}, {"name": "Ada King", "email": "ada.king@example.com", "tags": ["vip", "emea"]}, {"value": 20.0}]
    batch = [make_lead("grace@example.com", company="Navy"), make_lead("alan@example.com", notes="enigma")]
    for other in batch:
        sqlite_store.insert(other, event())
    current = sqlite_store.get(lead["id"])
    for change in changes:
        assert current is not None
        current = sqlite_store.replace({**current, **change}, current["version"], event("lead_updated"))
    others = [({**o, "company": "Navy Yard"} if o["email"].startswith("grace") else {**o, "notes": "bombe"}) for o in batch]
    assert sqlite_store.write_batch([], [(o, o["version"], event("lead_updated")) for o in others]) == [None, None]

    with raw(db_path) as db:
        for expected in [current, *[{**o, "version": o["version"] + 1} for o in others]]:
            assert expected is not None
            row = db.execute(f"SELECT {', '.join(_COLUMNS)} FROM leads WHERE id = ?", (expected["id"],)).fetchone()
            assert row[:-1] == _columns(expected)[:-1]  # every column; the document compared as data below
            assert sqlite_store.get(expected["id"]) == expected
    assert [lead["email"] for lead in sqlite_store.query(LeadQuery(search="King"))] == ["ada.king@example.com"]
    assert [lead["email"] for lead in sqlite_store.query(LeadQuery(search="bombe"))] == ["alan@example.com"]
    assert list(sqlite_store.query(LeadQuery(search="enigma"))) == []
    assert [lead["email"] for lead in sqlite_store.query(LeadQuery(tags=("emea",)))] == ["ada.king@example.com"]


def test_a_replace_a_concurrent_writer_already_made_is_a_version_conflict(sqlite_store: SqliteStore) -> None:
    """Two writers computing the same new lead from the same version: the second must lose the
    compare-and-set (found by a review: the row matched, nothing was left to SET, and the
    UPDATE was a syntax error)."""
    lead = make_lead("ada@example.com")
    sqlite_store.insert(lead, event())
    moved = {**lead, "current_stage": "Negotiation"}
    sqlite_store.replace(moved, 1, event("lead_stage_changed"))
    with pytest.raises(VersionConflict):
        sqlite_store.replace(moved, 1, event("lead_stage_changed"))
    (result,) = sqlite_store.write_batch([], [(moved, 1, event("lead_stage_changed"))])
    assert isinstance(result, VersionConflict)


def test_replace_is_compare_and_set_on_version(sqlite_store: SqliteStore) -> None:
    lead = sqlite_store.insert(make_lead("ada@example.com"), event())
    first = sqlite_store.replace({**lead, "company": "A"}, 1, event("lead_updated"))
    assert first["version"] == 2
    with pytest.raises(VersionConflict) as caught:
        sqlite_store.replace({**lead, "company": "B"}, 1, event("lead_updated"))  # a stale read
    assert caught.value.exit_code == 4
    stored = sqlite_store.get(lead["id"])
    assert stored is not None and stored["company"] == "A" and stored["version"] == 2
    assert sqlite_store.last_seq() == 2  # the lost write recorded no event
    with pytest.raises(VersionConflict):
        sqlite_store.delete(lead, event("lead_deleted"))  # version 1 is stale too
    assert sqlite_store.get(lead["id"]) is not None


def test_replace_or_delete_of_a_deleted_lead_is_not_found(sqlite_store: SqliteStore) -> None:
    lead = sqlite_store.insert(make_lead("ada@example.com"), event())
    sqlite_store.delete(lead, event("lead_deleted"))
    with pytest.raises(NotFound):
        sqlite_store.replace({**lead, "company": "X"}, 1, event("lead_updated"))
    with pytest.raises(NotFound):
        sqlite_store.delete(lead, event("lead_deleted"))


def test_email_is_unique(sqlite_store: SqliteStore) -> None:
    ada = sqlite_store.insert(make_lead("ada@example.com"), event())
    grace = sqlite_store.insert(make_lead("grace@example.com"), event())
    with pytest.raises(Conflict) as caught:
        sqlite_store.insert(make_lead("ada@example.com"), event())
    assert caught.value.exit_code == 4
    assert "ada@example.com" in caught.value.message and ada["id"] in caught.value.message
    with pytest.raises(Conflict) as taken:
        sqlite_store.replace({**grace, "email": "ada@example.com"}, 1, event("lead_updated"))
    assert not isinstance(taken.value, VersionConflict)
    assert sqlite_store.count(LeadQuery()) == 2
    assert sqlite_store.last_seq() == 2


def test_find_by_prefix(sqlite_store: SqliteStore) -> None:
    a = sqlite_store.insert(make_lead("a@example.com", id="abcd" + "0" * 20), event())
    sqlite_store.insert(make_lead("b@example.com", id="abce" + "0" * 20), event())
    assert [lead["id"] for lead in sqlite_store.find_by_prefix("abcd")] == [a["id"]]
    assert len(sqlite_store.find_by_prefix("abc")) == 2
    assert sqlite_store.find_by_prefix("abcf") == []


def test_equal_timestamps_sort_by_id_so_pages_never_overlap(sqlite_store: SqliteStore) -> None:
    ids = [sqlite_store.insert(make_lead(f"l{i}@example.com"), event())["id"] for i in range(7)]
    pages = [[lead["id"] for lead in sqlite_store.query(LeadQuery().page(n, 3))] for n in (1, 2, 3)]
    assert pages[0] + pages[1] + pages[2] == sorted(ids, reverse=True)


# -- unusable locations -------------------------------------------------------------------------


def test_a_path_below_a_regular_file_is_store_unavailable(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    with pytest.raises(StoreUnavailable) as caught:
        SqliteStore(blocker / "leads.db")
    assert caught.value.exit_code == 5
    assert str(blocker) in caught.value.message


def test_a_directory_or_a_non_database_file_is_store_unavailable(tmp_path: Path) -> None:
    folder = tmp_path / "folder.db"
    folder.mkdir()
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not a database, it is a text file" * 100)
    for path in (folder, junk):
        with pytest.raises(StoreUnavailable) as caught:
            SqliteStore(path)
        assert caught.value.exit_code == 5


def test_cli_unwritable_db_is_exit_5_with_one_error_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The default store, whose directory leadcli makes, below a regular file: the store is
    unusable (5). A path the user names in a missing directory is a typo instead (issue 13:
    exit 2, tests/test_files.py)."""
    blocker = tmp_path / "file"
    blocker.write_text("x")
    monkeypatch.setenv("LEADCLI_HOME", str(blocker / "sub"))
    result = invoke("add", "--name", "Ada", "--email", "ada@example.com")
    assert result.code == 5
    assert result.stderr.startswith("error: cannot open the store ")
    assert result.stderr.count("\n") == 1
    assert result.stdout == ""


@pytest.mark.parametrize(
    ("form", "where"),
    [
        ("sqlite:///{rel}", "relative"),
        ("sqlite:///{abs}", "absolute"),
        ("{rel}", "relative"),
        ("{abs}", "absolute"),
    ],
)
def test_open_store_reads_every_sqlite_form(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, form: str, where: str) -> None:
    monkeypatch.chdir(tmp_path)
    target = tmp_path / "data" / "x.db"
    target.parent.mkdir()  # a named store's directory must exist (issue 13)
    uri = form.format(rel="data/x.db", abs=str(target))  # an absolute path gives sqlite:////…
    store = open_store(uri)
    store.close()
    assert target.is_file()


# -- search index and tag table kept in step with every write ---------------------------------


def found(store: SqliteStore, **query: Any) -> set[str]:
    return {lead["email"] for lead in store.query(LeadQuery(**query))}


def assert_indexes_match_leads(store: SqliteStore) -> None:
    """Every lead is in the search index and the tag table exactly as its columns say."""
    db = store.db
    indexed = db.execute("SELECT count(*) FROM leads_search_docsize").fetchone()[0]
    assert indexed == db.execute("SELECT count(*) FROM leads").fetchone()[0]
    tags = db.execute("SELECT tag, pk FROM lead_tags ORDER BY tag, pk").fetchall()
    assert tags == db.execute("SELECT DISTINCT j.value, pk FROM leads, json_each(leads.tags) AS j ORDER BY 1, 2").fetchall()
    for email, company in db.execute("SELECT email, company FROM leads"):
        assert email in found(store, search=email)
        if company:
            assert email in found(store, company=company)


def test_a_schema_3_store_gains_per_statement_indexing_and_keeps_its_index(db_path: Path) -> None:
    """Schema 3 indexed new leads with per-row triggers; at schema 4 the store indexes them.
    Leads written before and after the migration are all found, and stay so through updates."""
    db = sqlite3.connect(db_path, isolation_level=None)
    for migration in MIGRATIONS[:3]:
        migration(db)
    db.execute("PRAGMA user_version = 3")
    db.close()
    from leadcli.store.sqlite import _columns
    from leadcli.store.sqlite_schema import _COLUMNS

    before = {**make_lead("grace@example.com", company="Navy", tags=["vip"]), "version": 1}
    db = sqlite3.connect(db_path, isolation_level=None)  # the schema-3 store: indexed by its triggers
    db.execute(f"INSERT INTO leads ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))})", _columns(before))
    db.close()

    store = SqliteStore(db_path)
    try:
        assert store.schema_version() == len(MIGRATIONS) >= 8
        assert found(store, search="NAVY") == found(store, tags=("vip",)) == {"grace@example.com"}
        single = store.insert(make_lead("ada@example.com", company="Engines", tags=["vip", "emea"]), event())
        inserts = [(make_lead(f"lead{i}@example.com", company=f"Firm {i}", tags=["bulk"]), event()) for i in range(5)]
        assert store.write_batch(inserts, []) == [None] * 5
        assert found(store, company="firm") == {f"lead{i}@example.com" for i in range(5)}
        assert found(store, tags=("vip",)) == {"grace@example.com", "ada@example.com"}
        assert_indexes_match_leads(store)

        renamed = store.replace({**single, "company": "Analytical", "tags": ["emea"]}, 1, event("lead_updated"))
        store.replace({**renamed, "current_stage": "Negotiation"}, 2, event("lead_stage_changed"))  # index untouched
        store.write_batch([], [({**before, "email": "hopper@example.com", "notes": "COBOL"}, 1, event("lead_updated"))])
        assert found(store, search="engines") == set()
        assert found(store, search="analytic") == {"ada@example.com"}
        assert found(store, search="cobol") == found(store, search="hopper") == {"hopper@example.com"}
        assert found(store, tags=("vip",)) == {"hopper@example.com"}  # ada dropped the tag
        assert_indexes_match_leads(store)

        store.delete(store.get_by_email("lead0@example.com"), event("lead_deleted"))  # type: ignore[arg-type]
        assert found(store, company="firm 0") == set()
        assert_indexes_match_leads(store)
    finally:
        store.close()


def _schema_4_insert(db: sqlite3.Connection, lead: dict[str, Any]) -> dict[str, Any]:
    """A lead written as a schema-4 leadcli wrote it: the row, its trigram entry, its event."""
    from leadcli.store.sqlite import _columns, _event_row, _row
    from leadcli.store.sqlite_schema import _COLUMNS

    lead = {**lead, "version": 1}
    cursor = db.execute(f"INSERT INTO leads ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))})", _columns(lead))
    db.execute(
        "INSERT INTO leads_fts (rowid, name, email, company, notes) SELECT pk, name, email, company, notes FROM leads WHERE pk = ?",
        (cursor.lastrowid,),
    )
    db.execute("INSERT INTO events (type, at, by, lead_id, data) VALUES (?, ?, ?, ?, ?)", _event_row(lead["id"], _row(lead)[1], event()))
    return lead


def test_a_schema_4_store_migrates_and_keeps_its_leads_events_and_search(db_path: Path) -> None:
    """Schema 5 drops the per-lead event index no query used; schema 7 replaces the trigram
    index by the folded one (built from the leads already there) and brings back a partial
    follow-up index that `followups` walks. A store written at schema 4 keeps its leads and
    events, and finds them by search and follow-up."""
    db = sqlite3.connect(db_path, isolation_level=None)
    for migration in MIGRATIONS[:4]:
        migration(db)
    db.execute("PRAGMA user_version = 4")
    due = _schema_4_insert(db, make_lead("due@example.com", follow_up_at=T0, company="Müller AG"))
    _schema_4_insert(db, make_lead("later@example.com", follow_up_at=T0 + timedelta(days=9)))
    db.close()

    store = SqliteStore(db_path)
    try:
        assert store.schema_version() == len(MIGRATIONS) >= 8
        names = {r[0] for r in store.db.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
        assert "events_lead" not in names and "leads_follow_up" in names
        assert [x["id"] for x in store.query(LeadQuery(follow_up_before=T0 + timedelta(days=1)))] == [due["id"]]
        assert found(store, search="muller") == found(store, company="MÜL") == {"due@example.com"}
        assert [e["lead"]["email"] for e in store.events_after(0)] == ["due@example.com", "later@example.com"]
        store.insert(make_lead("new@example.com"), event())
        assert store.last_seq() == 3
        assert_indexes_match_leads(store)
        assert store.problems() == []
    finally:
        store.close()


def test_a_batch_that_meets_a_taken_email_indexes_exactly_the_leads_it_wrote(sqlite_store: SqliteStore) -> None:
    sqlite_store.insert(make_lead("taken@example.com", company="First"), event())
    inserts = [
        (make_lead("new1@example.com", company="Batch"), event()),
        (make_lead("taken@example.com", company="Batch"), event()),
        (make_lead("new2@example.com", company="Batch"), event()),
    ]
    results = sqlite_store.write_batch(inserts, [])
    assert results[0] is None and results[2] is None and isinstance(results[1], Conflict)
    assert found(sqlite_store, company="batch") == {"new1@example.com", "new2@example.com"}
    assert found(sqlite_store, company="first") == {"taken@example.com"}
    assert [e["lead"]["email"] for e in sqlite_store.events_after(1)] == ["new1@example.com", "new2@example.com"]
    assert_indexes_match_leads(sqlite_store)


def test_a_batch_of_updates_reindexes_exactly_what_it_wrote(sqlite_store: SqliteStore) -> None:
    ada = sqlite_store.insert(make_lead("ada@example.com", company="Engines", tags=["vip"]), event())
    grace = sqlite_store.insert(make_lead("grace@example.com", company="Navy", tags=["vip"]), event())
    twice = {**ada, "company": "Analytical", "tags": ["emea"]}
    results = sqlite_store.write_batch(
        [],
        [
            (twice, 1, event("lead_updated")),
            ({**twice, "company": "Babbage", "version": 2}, 2, event("lead_updated")),  # the same lead again
            ({**grace, "company": "Stale"}, 7, event("lead_updated")),  # a lost race: nothing written
        ],
    )
    assert results[:2] == [None, None] and isinstance(results[2], VersionConflict)
    assert found(sqlite_store, company="babbage") == {"ada@example.com"}
    assert found(sqlite_store, company="analytical") == found(sqlite_store, company="engines") == set()
    assert found(sqlite_store, company="stale") == set()
    assert found(sqlite_store, company="navy") == found(sqlite_store, tags=("vip",)) == {"grace@example.com"}
    assert found(sqlite_store, tags=("emea",)) == {"ada@example.com"}
    assert_indexes_match_leads(sqlite_store)


def test_a_schema_8_store_gathers_search_postings_in_32_mib_and_still_finds_its_leads(db_path: Path) -> None:
    """Schema 9 raises the search index's in-memory flush size (FTS5 `hashsize`) from 1 MiB to
    SEARCH_HASH_BYTES: a bulk load's search index is written as a few large segments instead of
    ~1,000 small ones merged again and again. Leads written before and after are found."""
    from leadcli.store.sqlite_schema import SEARCH_HASH_BYTES

    db = sqlite3.connect(db_path, isolation_level=None)
    db.create_function("leadcli_search_text", 1, lambda text: text, deterministic=True)
    for migration in MIGRATIONS[:8]:
        migration(db)
    db.execute("PRAGMA user_version = 8")
    db.close()

    store = SqliteStore(db_path)
    try:
        assert store.schema_version() == len(MIGRATIONS) >= 9
        config = dict(store.db.execute("SELECT k, v FROM leads_search_config"))
        assert config["hashsize"] == SEARCH_HASH_BYTES
        store.insert(make_lead("grace@example.com", company="Müller AG"), event())
        inserts = [(make_lead(f"lead{i}@example.com", company=f"Firm {i}"), event()) for i in range(200)]
        assert store.write_batch(inserts, []) == [None] * 200
        assert found(store, search="muller") == {"grace@example.com"}
        assert found(store, search="firm 19") == {f"lead{i}@example.com" for i in (19, *range(190, 200))}
        assert_indexes_match_leads(store)
    finally:
        store.close()
