"""--search and `search TEXT`: a case-insensitive substring of name, email, company or notes in
which every character is literal, on both stores, through the trigram index and without it."""

from __future__ import annotations

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


def reference(text: str) -> list[str]:
    """What a user means: the text, case-insensitively, in one of the four fields."""
    needle = text.lower()
    return sorted(
        r["name"]
        for r in TRICKY
        if any(needle in (r.get(f) or "").lower() for f in ("name", "email", "company", "notes"))
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
    assert reference("É") == ["Émile Zoë"]
    assert reference("\\") == ["Back Slash"]


def test_search_is_combined_with_the_other_filters(tricky: str) -> None:
    assert found(tricky, "search", "an", "--company", "%") == ["Percent Man"]
    assert found(tricky, "list", "-q", "an", "--company", "acme") == ["Plain Jane"]


@pytest.mark.parametrize("text", ["Générale", "soc", "gro", "%", "_c", "né"])
def test_company_filter_is_a_literal_case_insensitive_substring(tricky: str, text: str) -> None:
    expected = sorted(r["name"] for r in TRICKY if text.lower() in (r["company"] or "").lower())
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


ALPHABET = "aAbBzZ  \t'\"%_\\.*()[]{}:-^$éÉßẞ東😀K"


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    texts=st.lists(st.text(ALPHABET, min_size=0, max_size=10), min_size=1, max_size=6),
    needle=st.text(ALPHABET, min_size=1, max_size=5),
)
def test_sqlite_search_is_exactly_a_folded_substring_match(tmp_path_factory, texts: list[str], needle: str) -> None:
    """The trigram index (3+ characters), LIKE (shorter ASCII) and the folding scan (shorter
    non-ASCII) all agree with a plain substring test, case folded per character."""
    from leadcli.domain.query import LeadQuery
    from leadcli.store.sqlite import SqliteStore

    def fold(text: str) -> str:
        return "".join(c if len(c.lower()) != 1 else c.lower() for c in text)

    store = SqliteStore(tmp_path_factory.mktemp("hyp") / "leads.db")
    try:
        records = [lead(f"n{i}", company=text or None, notes=text[::-1] or None) for i, text in enumerate(texts)]
        for record in records:
            store.insert(record, {"type": "lead_created", "by": "t", "changes": {}})

        def matching(fields: tuple[str, ...]) -> set[str]:
            return {r["id"] for r in records if any(fold(needle) in fold(r[f] or "") for f in fields)}

        assert {r["id"] for r in store.query(LeadQuery(search=needle))} == matching(("name", "email", "company", "notes"))
        assert {r["id"] for r in store.query(LeadQuery(company=needle))} == matching(("company",))
    finally:
        store.close()
