"""The first thing a new user does: add a lead and find it again."""

from conftest import invoke


def test_add_then_list_finds_the_lead() -> None:
    added = invoke("add", "--name", "Ada Lovelace", "--email", "Ada@Example.com", "-o", "json")
    assert added.code == 0, added.stderr
    lead = added.json()
    assert lead["email"] == "ada@example.com"
    assert lead["current_stage"] == "New Lead"

    listed = invoke("list", "-o", "json")
    assert [item["id"] for item in listed.json()] == [lead["id"]]
