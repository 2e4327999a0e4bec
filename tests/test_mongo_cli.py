"""Every foundation command on MongoDB, chosen by --db, LEADCLI_DB or the seed backend's
MONGODB_URI/MONGODB_DATABASE; and what a user sees when the server is not there."""

from __future__ import annotations

import subprocess
import sys

import pymongo
import pytest
from conftest import ROOT, invoke, run_process

from leadcli.store.mongo import _uri_secrets

pytestmark = pytest.mark.mongo

PASSWORD = "s3cr3t%40pw"  # percent-encoded in the URI; "s3cr3t@pw" once decoded
CLOSED = "mongodb://127.0.0.1:1/leads_db"  # nothing listens on port 1


def test_every_foundation_command_works_on_mongodb(mongo_uri: str) -> None:
    def run(*args: str, input: str | None = None):  # type: ignore[no-untyped-def]
        result = invoke("--db", mongo_uri, *args, input=input)
        assert result.code == 0, result.stderr
        return result

    ada = run("add", "--name", "Ada Lovelace", "--email", "Ada@Engines.io", "--company", "Analytical Engines",
              "--tag", "vip", "--value", "5000", "--field", "budget.q3=high", "-o", "json").json()  # fmt: skip
    grace = run("add", "--name", "Grace Hopper", "--email", "grace@navy.mil", "--stage", "negotiation", "-o", "json").json()
    assert len(ada["id"]) == 24 and ada["email"] == "ada@engines.io" and ada["fields"] == {"budget.q3": "high"}

    prefix = next(ada["id"][:n] for n in range(4, 25) if not grace["id"].startswith(ada["id"][:n]))
    shown = run("show", prefix, "-o", "json").json()
    assert shown["id"] == ada["id"] and shown["activities"] == []
    edited = run("edit", "ada@engines.io", "--stage", "proposal-sent", "--note", "sent v1", "--add-tag", "q3", "-o", "json").json()
    assert edited["current_stage"] == "Proposal Sent" and edited["version"] == 2 and edited["tags"] == ["vip", "q3"]
    assert edited["stage_history"][-1]["notes"] == "sent v1"

    assert [x["id"] for x in run("list", "-o", "json").json()] == [grace["id"], ada["id"]]
    assert [x["id"] for x in run("list", "--sort", "current_stage", "--asc", "-o", "json").json()] == [ada["id"], grace["id"]]
    assert run("search", "ENGINES", "-o", "ids").stdout == ada["id"] + "\n"
    assert run("search", ".*", "-o", "ids").stdout == ""
    assert run("count", "--tag", "vip").stdout == "1\n"
    stages = {row["stage"]: row["count"] for row in run("stages", "-o", "json").json()}
    assert stages["Proposal Sent"] == 1 and stages["Negotiation"] == 1 and stages["New Lead"] == 0

    doctor = run("doctor", "-o", "json").json()
    assert doctor["backend"] == "mongodb" and doctor["leads"] == 2 and doctor["email_unique"] is True
    assert doctor["server_version"] and doctor["events"] == 3

    duplicate = invoke("--db", mongo_uri, "add", "--name", "Ada Again", "--email", "ADA@engines.io")
    assert duplicate.code == 4 and duplicate.stderr.startswith("error:") and "ada@engines.io" in duplicate.stderr

    run("delete", grace["id"], "--yes")
    assert run("count").stdout == "1\n"
    missing = invoke("--db", mongo_uri, "show", grace["id"])
    assert missing.code == 3


def test_seed_backend_environment_picks_the_database(mongo_server: str, mongo_uri: str) -> None:
    database = mongo_uri.rsplit("/", 1)[1]
    env = {"MONGODB_URI": mongo_server, "MONGODB_DATABASE": database}
    added = invoke("add", "--name", "Ada", "--email", "ada@example.com", "-o", "json", env=env)
    assert added.code == 0, added.stderr
    client = pymongo.MongoClient(mongo_server)
    try:
        assert client[database].leads.count_documents({"email": "ada@example.com"}) == 1
    finally:
        client.close()
    assert invoke("count", env={"LEADCLI_DB": mongo_uri}).stdout == "1\n"
    # The flag beats the environment.
    assert invoke("--db", mongo_uri, "count", env={"MONGODB_URI": CLOSED}).stdout == "1\n"


def test_unreachable_server_is_exit_5_with_one_line() -> None:
    result = invoke("--db", CLOSED + "?serverSelectionTimeoutMS=300", "count")
    assert result.code == 5
    assert result.stdout == ""
    assert result.stderr.startswith("error: cannot reach MongoDB at mongodb://127.0.0.1:1/")
    assert result.stderr.count("\n") == 1


def test_unreachable_server_with_the_default_timeout_ends_by_itself() -> None:
    # The process boundary is the point: no test-side timeout option, the real default applies.
    result = run_process("--db", CLOSED, "list", timeout=30)
    assert result.code == 5
    assert "cannot reach MongoDB" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("command", [("count",), ("doctor",), ("list", "-o", "json"), ("add", "--name", "A", "--email", "a@b.io", "--company", "C")])
def test_a_password_in_the_uri_never_shows(command: tuple[str, ...]) -> None:
    uri = f"mongodb://ada:{PASSWORD}@127.0.0.1:1/leads_db?serverSelectionTimeoutMS=300"
    result = invoke("--db", uri, *command)
    assert result.code == 5
    for secret in (PASSWORD, "s3cr3t@pw", "s3cr3t"):
        assert secret not in result.stdout + result.stderr
    assert "ada:***@" in result.stderr


def test_rejected_credentials_are_exit_5_without_the_password(mongo_server: str) -> None:
    uri = mongo_server.replace("mongodb://", f"mongodb://ada:{PASSWORD}@") + "/leads_db"
    result = invoke("--db", uri, "count")  # no such user: refused even without access control
    assert result.code == 5
    assert "authentication failed" in result.stderr
    assert "s3cr3t" not in result.stderr + result.stdout


def test_config_show_and_doctor_mask_the_password(mongo_server: str, mongo_uri: str) -> None:
    uri = f"mongodb://ada:{PASSWORD}@db.example.com:27017/leads_db"
    for env in ({"MONGODB_URI": uri}, {"LEADCLI_DB": uri}):
        shown = invoke("config", "show", "-o", "json", env=env)
        assert shown.code == 0
        assert "s3cr3t" not in shown.stdout + shown.stderr
        assert shown.json()["db"] == "mongodb://ada:***@db.example.com:27017/leads_db"
    doctor = invoke("--db", mongo_uri, "doctor", "-o", "json")
    assert doctor.code == 0
    assert doctor.json()["store"].startswith(mongo_uri)


def test_malformed_uri_is_bad_input_without_the_password() -> None:
    for uri in ("mongodb://ada:s3cr3t@pw@127.0.0.1/x", "mongodb://ada:s3cr3t/pw@127.0.0.1/x"):
        result = invoke("--db", uri, "count")
        assert result.code == 2
        assert result.stderr.startswith("error: --db: not a valid MongoDB URI")
        assert "s3cr3t" not in result.stderr


def test_importing_the_cli_does_not_load_pymongo() -> None:
    code = "import sys, leadcli.cli; print('pymongo' in sys.modules, 'bson' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == "False False"


def test_sqlite_commands_do_not_load_pymongo(tmp_path) -> None:  # type: ignore[no-untyped-def]
    code = (
        "import sys; from leadcli.cli import run; "
        f"run(['--db', {str(tmp_path / 'x.db')!r}, 'count']); print('pymongo' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip().endswith("False")


@pytest.mark.parametrize(
    "uri",
    [
        f"mongodb://ada:{PASSWORD}@127.0.0.1:1/leads_db?appName=ops@team",  # an @ in the query
        f"mongodb://ada:{PASSWORD}@127.0.0.1:1/?authSource=admin",
        f"mongodb://ada:{PASSWORD}@db1:1,db2:1/?replicaSet=rs0&appName=a@b",
    ],
)
def test_the_password_is_scrubbed_from_error_texts_whatever_else_the_uri_holds(uri: str) -> None:
    """An error text that quotes the password, raw or decoded, is shown with neither."""
    text = "server said: bad credentials s3cr3t@pw (s3cr3t%40pw)"
    for secret in _uri_secrets(uri):
        text = text.replace(secret, "***")
    assert "s3cr3t" not in text
