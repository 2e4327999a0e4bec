"""`--owner`, `--status`, `--source` match ignoring ASCII case (domain/schema.py `equals`), the
same on both stores and in `watch`'s own matching (domain/matching.py): SQLite's NOCASE folds
ASCII letters only, so MongoDB's translation must not fold accented capitals either."""

from __future__ import annotations

from conftest import invoke

from leadcli.domain.matching import matches
from leadcli.domain.query import LeadQuery


def test_an_owner_filter_gives_the_same_leads_on_both_stores_and_in_watch(store_uri: str) -> None:
    for n, owner in enumerate(["José", "JOSÉ", "Jose"]):
        result = invoke("--db", store_uri, "add", "--name", f"Lead {n}", "--email", f"l{n}@example.com", "--owner", owner)
        assert result.code == 0, result.stderr
    listed = invoke("--db", store_uri, "list", "--owner", "josé", "-o", "json")
    assert listed.code == 0, listed.stderr
    owners = sorted(lead["owner"] for lead in listed.json())
    # What `watch --owner josé` shows of these leads' events is decided in Python: the same leads.
    assert owners == sorted(o for o in ["José", "JOSÉ", "Jose"] if matches({"owner": o}, LeadQuery(owner="josé")))
    assert owners == ["José"]
    assert invoke("--db", store_uri, "count", "--owner", "JOSÉ").stdout.strip() == "1"
