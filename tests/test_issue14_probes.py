"""Adversarial probes around issue 14's fixes (items 2, 4, 5, 6, 7, 9, 10): the neighbours of each
finding that the first fix did not cover. Each test does what a user (or an attacker) would."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import invoke, run_process


def one_error(stderr: str) -> str:
    lines = stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), stderr
    return lines[0]


# -- item 2: an output file never replaces the config file (it holds the store's URI and secrets) --


@pytest.mark.parametrize("how", ["default", "--config", "env", "relative"])
def test_export_and_rejects_naming_the_config_file_are_refused(leadcli_home: Path, tmp_path: Path, how: str, monkeypatch: pytest.MonkeyPatch) -> None:
    config = leadcli_home / "config.toml" if how in ("default", "relative") else tmp_path / "team.toml"
    config.write_text('user = "ops"\n[serve]\ntoken = "s3cret-token"\n', encoding="utf-8")
    before = config.read_bytes()
    pre: list[str] = []
    env: dict[str, str] | None = None
    if how == "--config":
        pre = ["--config", str(config)]
    elif how == "env":
        env = {"LEADCLI_CONFIG": str(config)}
    target = str(config)
    if how == "relative":
        monkeypatch.chdir(leadcli_home)
        target = "config.toml"
    assert invoke(*pre, "add", "--name", "Ada", "--email", "ada@example.com", env=env).code == 0
    bad = tmp_path / "bad.csv"
    bad.write_text("Name,Email\nNo Email,\n", encoding="utf-8")

    for args in (["export", "--file", target], ["import", str(bad), "--rejects", target]):
        result = invoke(*pre, *args, env=env)
        assert result.code == 2, (args, result)
        assert "config file" in one_error(result.stderr)
        assert config.read_bytes() == before


# -- items 6/9: --json reads a hostile object as exit 2, like import does ------------------------


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ('{"name": "Ada", "email": "ada@example.com", "value": 1' + "0" * 5000 + "}", "digits"),
        ("[" * 100_000, "nested too deeply"),
        ('{"name": "Ada", "email": "ada@example.com", "fields": ' + '{"a": ' * 5000 + "1" + "}" * 5001, "nested too deeply"),
    ],
)
def test_add_and_edit_json_refuse_huge_numbers_and_deep_nesting(store_uri: str, text: str, words: str) -> None:
    db = ("--db", store_uri)
    result = run_process(*db, "add", "--json", "-", input=text)
    assert result.code == 2, result
    assert words in one_error(result.stderr)
    assert invoke(*db, "add", "--name", "Bo", "--email", "bo@example.com").code == 0
    result = invoke(*db, "edit", "bo@example.com", "--json", "-", input=text)
    assert result.code == 2, result
    assert words in one_error(result.stderr)
    assert invoke(*db, "show", "bo@example.com", "-o", "json").json()["version"] == 1


def test_add_json_reads_a_file_saved_with_a_byte_order_mark_as_import_does(tmp_path: Path) -> None:
    saved = tmp_path / "lead.json"
    saved.write_bytes(b'\xef\xbb\xbf{"name": "Ada", "email": "ada@example.com"}\n')  # Notepad, PowerShell
    assert invoke("add", "--json", str(saved)).code == 0
    assert invoke("add", "--json", "-", input='\ufeff{"name": "Bo", "email": "bo@example.com"}').code == 0
    assert invoke("count").stdout == "2\n"


# -- item 2: `config init --force` never writes its template over a store -----------------------


def test_config_init_force_naming_a_store_is_refused_and_the_store_kept(leadcli_home: Path, tmp_path: Path) -> None:
    assert invoke("add", "--name", "Ada", "--email", "ada@example.com").code == 0
    other = tmp_path / "team.db"
    assert invoke("--db", str(other), "add", "--name", "Bo", "--email", "bo@example.com").code == 0

    for pre, env in (
        (["--config", str(leadcli_home / "leads.db")], None),
        ([], {"LEADCLI_CONFIG": str(leadcli_home / "leads.db")}),
        (["--config", str(other)], None),  # a store other than the one in use: still a store
        (["--db", str(other), "--config", str(other) + "-wal"], None),
    ):
        (Path(str(other) + "-wal")).touch()
        result = run_process(*pre, "config", "init", "--force", env=env)
        assert result.code == 2, (pre, result)
        assert "store" in one_error(result.stderr)

    assert invoke("count").stdout == "1\n"
    assert invoke("--db", str(other), "count").stdout == "1\n"
    # a broken config is still what --force is for
    broken = tmp_path / "broken.toml"
    broken.write_text("db = [unclosed\n", encoding="utf-8")
    assert invoke("--config", str(broken), "config", "init", "--force").code == 0
    assert "db" in broken.read_text(encoding="utf-8")


# -- item 4: a store created in an existing, world-readable directory is still private ---------


def test_a_store_named_by_path_or_uri_in_an_existing_0755_directory_is_0600(tmp_path: Path) -> None:
    import os
    import stat

    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    shared.chmod(0o755)
    old = os.umask(0o022)
    try:
        for db in (str(shared / "a.db"), f"sqlite:///{shared / 'b.db'}"):
            assert run_process("--db", db, "add", "--name", "Ada", "--email", "ada@example.com").code == 0
    finally:
        os.umask(old)
    made = sorted(p.name for p in shared.iterdir())
    assert {"a.db", "b.db"} <= set(made)
    for path in shared.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, (path.name, oct(path.stat().st_mode))


# -- item 5: every csv/tsv output, not only export and list --------------------------------------


def test_stage_names_and_users_from_config_are_neutralised_in_stats_stages_and_history(leadcli_home: Path) -> None:
    (leadcli_home / "config.toml").write_text(
        '[pipeline]\nstages = ["=New", "+Mid", "@Won", "-Lost"]\nclosed = ["@Won", "-Lost"]\nwon = "@Won"\nlost = "-Lost"\n',
        encoding="utf-8",
    )
    assert invoke("--user", "=cmd|' /C calc'!A0", "add", "--name", "Ada", "--email", "ada@example.com").code == 0
    assert invoke("move", "ada@example.com", "--to", "@Won").code == 0
    for args in (("stats", "-o", "csv"), ("stages", "-o", "tsv"), ("history", "ada@example.com", "-o", "csv")):
        result = invoke(*args)
        assert result.code == 0, result
        cells = [c for line in result.stdout.splitlines() for c in line.replace("\t", ",").split(",")]
        assert not [c for c in cells if c[:1] in ("=", "+", "@") or (c[:1] == "-" and c[1:2].isalpha())], (args, result.stdout)
    assert "'=New" in invoke("stats", "-o", "csv").stdout
    assert "'=cmd|" in invoke("history", "ada@example.com", "-o", "csv").stdout


# -- item 9: a duplicate email on a brand-new store is exit 4, whoever wins ----------------------


def test_parallel_adds_of_one_email_on_a_brand_new_store_are_one_0_and_the_rest_4(store_uri: str) -> None:
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(6) as pool:
        results = list(pool.map(lambda _: run_process("--db", store_uri, "add", "--name", "Ada", "--email", "dup@example.com"), range(6)))

    assert sorted(r.code for r in results) == [0, 4, 4, 4, 4, 4], [(r.code, r.stderr) for r in results]
    for r in results:
        if r.code == 4:
            assert "already exists" in one_error(r.stderr)
    assert invoke("--db", store_uri, "count").stdout == "1\n"


# -- item 2's atomic writes: /dev/stdout and /dev/stderr are still written in place -------------


@pytest.mark.skipif(not Path("/dev/stdout").exists(), reason="needs /dev/stdout")
def test_export_file_and_rejects_to_dev_stdout_and_stderr_in_a_pipe(tmp_path: Path) -> None:
    assert invoke("add", "--name", "Ada", "--email", "ada@example.com").code == 0
    exported = run_process("export", "--file", "/dev/stdout", "-o", "jsonl")  # stdout is a pipe here
    assert exported.code == 0, exported.stderr
    assert '"ada@example.com"' in exported.stdout
    bad = tmp_path / "bad.csv"
    bad.write_text("Name,Email\nNo Email,\n", encoding="utf-8")
    rejected = run_process("import", str(bad), "--rejects", "/dev/stderr")
    assert rejected.code == 1, rejected.stderr
    assert "No Email,," in rejected.stderr


# -- item 10: mask_uri misses secrets MongoDB takes as URI options --------------------------------


def test_secret_uri_options_are_masked_in_config_show_and_in_errors() -> None:
    uri = (
        "mongodb://127.0.0.1:1/db?serverSelectionTimeoutMS=200&tlsCertificateKeyFilePassword=s3cretA"
        "&authMechanismProperties=AWS_SESSION_TOKEN:s3cretB,SERVICE_NAME:svc"
    )
    shown = run_process("config", "show", "-o", "json", env={"LEADCLI_DB": uri})
    assert shown.code == 0, shown.stderr
    assert "s3cret" not in shown.stdout and "tlsCertificateKeyFilePassword=***" in shown.stdout
    assert "SERVICE_NAME:svc" in shown.stdout  # not a secret: still shown
    unreachable = run_process("count", env={"LEADCLI_DB": uri.split("&auth")[0]})
    assert unreachable.code == 5
    assert "s3cret" not in unreachable.stderr and "tlsCertificateKeyFilePassword=***" in one_error(unreachable.stderr)


# -- item 10: what the user typed, echoed in an error, is shown escaped like in views -----------


@pytest.mark.parametrize("typed", ["a\x1b[31m@example.com", "b\u202e@example.com", "c\x1b]0;pwned\x07@example.com"])
def test_an_error_echoing_the_lead_typed_escapes_control_and_direction_characters(store_uri: str, typed: str) -> None:
    result = run_process("--db", store_uri, "show", typed)
    assert result.code == 3
    line = one_error(result.stderr)
    assert "\x1b" not in line and "\u202e" not in line and "\x07" not in line
    assert "@example.com" in line


# -- item 6: a date at the calendar's edge, set in one zone, is shown in any other --------------


@pytest.mark.parametrize("command", [("show", "ada@example.com"), ("list",), ("followups",), ("history", "ada@example.com")])
def test_dates_at_the_calendars_edges_are_shown_on_a_terminal_in_any_zone(store_uri: str, command: tuple[str, ...]) -> None:
    db = ("--db", store_uri)
    west, east = {"LEADCLI_TIMEZONE": "America/Los_Angeles"}, {"LEADCLI_TIMEZONE": "Asia/Tokyo"}
    assert invoke(*db, "add", "--name", "Ada", "--email", "ada@example.com").code == 0
    assert invoke(*db, "edit", "ada@example.com", "--follow-up", "9999-12-31 15:30", env=west).code == 0  # 10000-01-01 in Tokyo
    assert invoke(*db, "log", "ada@example.com", "-t", "call", "--at", "0001-01-01 10:00", env=east).code == 0  # 0000-12-31 in LA
    for zone in (east, west, {"LEADCLI_TIMEZONE": "Pacific/Kiritimati"}, {"LEADCLI_TIMEZONE": "Etc/GMT+12"}):
        result = invoke(*db, *command, env={"LEADCLI_FORCE_TERMINAL": "1", "COLUMNS": "120", **zone})
        assert result.code == 0, (zone, result.stderr)
        assert "error" not in result.stderr


# -- items 9/10: a pipeline the config cannot mean is exit 2, naming it --------------------------


@pytest.mark.parametrize(
    ("pipeline", "words"),
    [
        ('stages = ["New\\u0000", "Done"]', "control characters"),
        ('stages = ["New", "Done\\u001b[31m"]', "control characters"),
        ('stages = ["New", "   "]', "list of stage names"),
        ('stages = ["New", "Won", "Lost"]\nwon = "Won"\nlost = "Won"', "won and lost"),
    ],
)
def test_a_pipeline_with_unusable_stages_is_exit_2(leadcli_home: Path, pipeline: str, words: str) -> None:
    (leadcli_home / "config.toml").write_text(f"[pipeline]\n{pipeline}\n", encoding="utf-8")
    for command in (("add", "--name", "Ada", "--email", "ada@example.com"), ("stats",)):
        result = run_process(*command)
        assert result.code == 2, (command, result)
        assert words in one_error(result.stderr)
    (leadcli_home / "config.toml").unlink()
    assert invoke("count").stdout == "0\n"


def test_export_and_rejects_never_overwrite_another_leadcli_store(tmp_path: Path) -> None:
    """Working on one store (here another SQLite file; a MongoDB profile alike), the default
    leads.db is still a store: an output file pointed at it by mistake must not replace it."""
    other = tmp_path / "other.db"
    assert invoke("--db", str(other), "add", "--name", "Bo", "--email", "bo@example.com").code == 0
    assert invoke("add", "--name", "Ada", "--email", "ada@example.com").code == 0
    bad = tmp_path / "bad.csv"
    bad.write_text("Name,Email\nNo Email,\n", encoding="utf-8")
    for args in (["export", "--file", str(other)], ["import", str(bad), "--rejects", str(other)]):
        result = invoke(*args)
        assert result.code == 2, (args, result)
        assert "store" in one_error(result.stderr)
    assert invoke("--db", str(other), "count").stdout == "1\n"


# -- item 7: --user has its limit whichever way it comes, the config file too -------------------


@pytest.mark.parametrize(("user", "words"), [('"' + "u" * 101 + '"', "100"), ('"ops\\u001b[31m"', "control"), ('""', "empty")])
def test_user_from_the_config_file_is_limited_like_the_flag(leadcli_home: Path, monkeypatch: pytest.MonkeyPatch, user: str, words: str) -> None:
    monkeypatch.delenv("LEADCLI_USER")
    (leadcli_home / "config.toml").write_text(f"user = {user}\n", encoding="utf-8")
    result = invoke("add", "--name", "Ada", "--email", "ada@example.com")
    assert result.code == 2, result
    assert "--user" in one_error(result.stderr) and words in result.stderr
    (leadcli_home / "config.toml").unlink()
    assert invoke("count").stdout == "0\n"


# -- item 9: a page size under 1 names where it came from -----------------------------------------


def test_a_page_size_under_1_from_the_config_or_env_names_its_source(leadcli_home: Path) -> None:
    (leadcli_home / "config.toml").write_text("page_size = -1\n", encoding="utf-8")
    result = invoke("list")
    assert result.code == 2
    assert "config file" in one_error(result.stderr) and "page_size" in result.stderr and "--page-size" not in result.stderr
    (leadcli_home / "config.toml").unlink()
    result = invoke("list", env={"LEADCLI_PAGE_SIZE": "0"})
    assert result.code == 2
    assert "LEADCLI_PAGE_SIZE" in one_error(result.stderr)
