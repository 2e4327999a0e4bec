"""--search and `search TEXT`: a case- and accent-insensitive substring of name, email, company or
notes in which every character is literal, on both stores, through the trigram index (3+
characters), its vocabulary (1-2 characters) and the ordered scan (a very common letter)."""

from __future__ import annotations

import unicodedata

import pytest
from conftest import invoke
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from leadmaker import lead, seed

TRICKY = [
    lead("Percent Man", company="100% Growth_Co", notes="margin 5%"),
    lead("Regex Fan", notes="uses .* and (a|b)+ and [x] and ^$ daily"),
    lead("Back Slash", company="C:\\temp\\new", notes="escape \\% me"),
    lead("Conan O'Brien", company='"Quoted" Ltd', notes="it's \"fine\""),
    lead("Json Person", notes='{"$where": "1", "a": [1]}'),
    lead("Émile Zoë", company="Société Générale", notes="naïve café 東京 😀"),
    lead("Tab Person", notes="two  spaces\tand a tab"),
    lead("Under Score", email="under_score@example.com"),
    lead("Plain Jane", company="Acme", notes="nothing special"),
]
NAMES = [record["name"] for record in TRICKY]


@pytest.fixture
def tricky(store_uri: str) -> str:
    seed(store_uri, [dict(record) for record in TRICKY])
    return store_uri


def found(store_uri: str, *args: str) -> list[str]:
    result = invoke("--db", store_uri, *args, "--all", "--sort", "name", "--asc", "-o", "json")
    assert result.code == 0, result.stderr
    assert result.stderr == ""
    return [item["name"] for item in result.json()]


def plain(text: str) -> str:
    """Text as a person compares it: accents (combining marks) dropped, case folded."""
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c)).casefold()


def reference(text: str) -> list[str]:
    """What a user means: the text, ignoring case and accents, in one of the four fields."""
    needle = plain(text)
    return sorted(
        r["name"]
        for r in TRICKY
        if any(needle in plain(r.get(f) or "") for f in ("name", "email", "company", "notes"))
    )


LITERALS = [
    "%", "_", "%%", "5%", "100%", "_co", "under_", "\\", "\\%", "c:\\temp", ".*", "(a|b)+", "[x]", "^$", "(",
    "'", "o'b", "o'brien", '"', '"quoted"', 'it\'s "fine"', '{"$where"', '": "1"', "[1]}", "$where",
    "émile", "ÉMILE", "zoë", "ZOË", "é", "É", "東京", "東", "😀", "café 東", "  ", "two  spaces", "\t", "spaces\tand",
    "ACME", "acm", "a", "zz", "*", "-", "OR", "NEAR", "plain jane", "PLAIN JANE", "lain ja",
]  # fmt: skip


@pytest.mark.parametrize("text", LITERALS)
def test_every_character_of_the_search_text_is_literal(tricky: str, text: str) -> None:
    expected = reference(text)
    assert found(tricky, "list", "--search", text) == expected
    assert found(tricky, "search", text) == expected


def test_the_cases_above_really_discriminate() -> None:
    # Guard against a reference that matches everything or nothing.
    assert reference("%") == ["Back Slash", "Percent Man"]
    assert reference("_") == ["Percent Man", "Under Score"]
    assert reference(".*") == ["Regex Fan"]
    assert reference("émile") == reference("EMILE") == ["Émile Zoë"]
    assert reference("zoë") == reference("zoe") == ["Émile Zoë"]
    assert reference("\\") == ["Back Slash"]


def test_search_is_combined_with_the_other_filters(tricky: str) -> None:
    assert found(tricky, "search", "an", "--company", "%") == ["Percent Man"]
    assert found(tricky, "list", "-q", "an", "--company", "acme") == ["Plain Jane"]


@pytest.mark.parametrize("text", ["Générale", "generale", "soc", "gro", "%", "_c", "né", "ne", "ÉT"])
def test_company_filter_is_a_literal_case_and_accent_insensitive_substring(tricky: str, text: str) -> None:
    expected = sorted(r["name"] for r in TRICKY if plain(text) in plain(r["company"] or ""))
    assert found(tricky, "list", "--company", text) == expected


def test_search_finds_leads_after_they_are_edited(store_uri: str) -> None:
    added = invoke("--db", store_uri, "add", "--name", "Old Name", "--email", "old@example.com", "-o", "json")
    assert added.code == 0, added.stderr
    assert invoke("--db", store_uri, "edit", "old@example.com", "--name", "Fresh Name", "--notes", "50% off").code == 0
    assert found(store_uri, "search", "fresh") == ["Fresh Name"]
    assert found(store_uri, "search", "old name") == []
    assert found(store_uri, "search", "0% o") == ["Fresh Name"]
    assert invoke("--db", store_uri, "delete", "old@example.com", "--yes").code == 0
    assert found(store_uri, "search", "fresh") == []


ALPHABET = "aAbBzZ  \t'\"%_\\.*()[]{}:-^$éÉßẞ東😀Ku\u0308üÜøØ"


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    texts=st.lists(st.text(ALPHABET, min_size=0, max_size=10), min_size=1, max_size=6),
    needle=st.text(ALPHABET, min_size=1, max_size=5),
    scan=st.booleans(),
)
def test_sqlite_search_is_exactly_a_folded_substring_match(tmp_path_factory, monkeypatch, texts: list[str], needle: str, scan: bool) -> None:
    """The trigram index (3+ characters), its vocabulary (1-2 characters) and the ordered scan
    (a 1-2 character search too common for the vocabulary) all agree with a plain substring
    test of the folded texts."""
    from leadcli.domain.folding import fold
    from leadcli.domain.query import LeadQuery
    from leadcli.store import sqlite_query
    from leadcli.store.sqlite import SqliteStore

    monkeypatch.setattr(sqlite_query, "MAX_SHORT_TERMS", 0 if scan else 200)
    store = SqliteStore(tmp_path_factory.mktemp("hyp") / "leads.db")
    try:
        records = [lead(f"n{i}", company=text or None, notes=text[::-1] or None) for i, text in enumerate(texts)]
        for record in records:
            store.insert(record, {"type": "lead_created", "by": "t", "changes": {}})

        def matching(fields: tuple[str, ...]) -> set[str]:
            if not fold(needle):
                return set()
            return {r["id"] for r in records if any(fold(needle) in fold(r[f] or "") for f in fields)}

        assert {r["id"] for r in store.query(LeadQuery(search=needle))} == matching(("name", "email", "company", "notes"))
        assert {r["id"] for r in store.query(LeadQuery(company=needle))} == matching(("company",))
    finally:
        store.close()


# Fixed emails: a random one (hex) would sometimes hold a searched text such as "ee" itself.
ACCENTED = [
    lead(name, email=f"accented{n}@example.com", **fields)
    for n, (name, fields) in enumerate(
        [
            ("Anna Müller", {"company": "Müller GmbH"}),
            ("Hans Muller", {"company": "Muller Brothers"}),
            ("Zoë Saldana", {"notes": "prefers email"}),
            ("Zoe Ball", {"notes": "call after 5"}),
            ("Søren Kierkegaard", {"company": "Ørsted"}),
            ("Łukasz Nowak", {"company": "Łódź Logistics"}),
            ("Chloé Dubois", {"company": "Crème Brûlée SA"}),
            ("Renée Combining", {"notes": "Rene\u0301e with a combining accent"}),
        ]
    )
]


@pytest.fixture
def accented(store_uri: str) -> str:
    seed(store_uri, [dict(record) for record in ACCENTED])
    return store_uri


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("muller", ["Anna Müller", "Hans Muller"]),
        ("müller", ["Anna Müller", "Hans Muller"]),
        ("MÜLLER", ["Anna Müller", "Hans Muller"]),
        ("zoe", ["Zoe Ball", "Zoë Saldana"]),
        ("zoë", ["Zoe Ball", "Zoë Saldana"]),
        ("soren", ["Søren Kierkegaard"]),
        ("orsted", ["Søren Kierkegaard"]),
        ("lodz", ["Łukasz Nowak"]),
        ("creme brulee", ["Chloé Dubois"]),
        ("renee", ["Renée Combining"]),
        ("zö", ["Zoe Ball", "Zoë Saldana"]),
        ("mü", ["Anna Müller", "Hans Muller"]),
        ("ée", ["Chloé Dubois", "Renée Combining"]),
    ],
)
def test_search_ignores_accents_both_ways(accented: str, text: str, names: list[str]) -> None:
    assert found(accented, "search", text) == names
    assert found(accented, "list", "--search", text) == names


def test_company_filter_ignores_accents(accented: str) -> None:
    assert found(accented, "list", "--company", "LODZ") == ["Łukasz Nowak"]
    assert found(accented, "list", "--company", "muller") == ["Anna Müller", "Hans Muller"]


def test_a_very_common_letter_pages_in_order(store_uri: str) -> None:
    """A one-letter search matching most leads: the page is the first matches in the sort order
    (the ordered scan on SQLite), and `count` counts them all."""
    records = [lead(f"Lead {i:03d} {'é' if i % 3 else 'x'}") for i in range(30)]
    seed(store_uri, records)
    expected = sorted(r["name"] for r in records if "é" in r["name"])
    result = invoke("--db", store_uri, "search", "e", "--sort", "name", "--asc", "--page-size", "5", "-o", "json")
    assert result.code == 0, result.stderr
    assert [item["name"] for item in result.json()] == sorted(r["name"] for r in records)[:5]
    assert invoke("--db", store_uri, "count", "--search", "E").stdout.strip() == str(len(records))
    assert invoke("--db", store_uri, "count", "--search", "é").stdout.strip() == str(len(records))
    assert found(store_uri, "search", " é") == expected


@pytest.mark.parametrize("text", ["\U0010ffff", "a\U0010ffff", "\ud7ff", "a\ud7ff"])
def test_a_short_search_ending_before_a_code_point_gap_is_a_search_not_a_crash(store_uri: str, text: str) -> None:
    """One or two characters ending in U+10FFFF or U+D7FF: on SQLite the vocabulary range's upper
    bound was that character plus one, past the last code point or a surrogate (exit 1,
    "unexpected ValueError" / "UnicodeEncodeError")."""
    seed(store_uri, [lead("Edge a\U0010ffff a\ud7ff Case"), lead("Plain Jane")])
    assert found(store_uri, "search", text) == ["Edge a\U0010ffff a\ud7ff Case"]
    assert invoke("--db", store_uri, "count", "--search", text).stdout == "1\n"
