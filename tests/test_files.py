"""Files leadcli writes and opens (issue 14 items 2, 4, 9, 10; issue 13's store-path typo):
output never replaces the store or the input, is written whole or not at all with the existing
file's mode kept, new files holding leads are private, and a read-only store can still be read."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, invoke, run_process


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def one_error(stderr: str) -> str:
    lines = stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), stderr
    return lines[0]


def seed(n: int = 5, *db: str) -> None:
    for i in range(n):
        assert invoke(*db, "add", "--name", f"Lead {i}", "--email", f"l{i}@example.com", "--value", "100").code == 0


# -- item 2: the store and the input are never an output ------------------------------------------


@pytest.mark.parametrize("suffix", ["", "-wal", "-shm"])
def test_export_file_naming_the_store_is_refused_and_the_store_kept(leadcli_home: Path, suffix: str) -> None:
    seed()
    target = leadcli_home / f"leads.db{suffix}"

    result = invoke("export", "--file", str(target))

    assert result.code == 2
    assert "is a file of the store in use" in one_error(result.stderr)
    assert invoke("count").stdout == "5\n"


def test_rejects_naming_the_store_is_refused_before_anything_is_written(leadcli_home: Path, tmp_path: Path) -> None:
    seed()
    bad = tmp_path / "bad.csv"
    bad.write_text("Name,Email\nNo Email,\nNew,new@example.com\n", encoding="utf-8")
    link = tmp_path / "store-link.db"
    link.symlink_to(leadcli_home / "leads.db")

    for target in (leadcli_home / "leads.db", link, leadcli_home / "." / "leads.db"):
        result = invoke("import", str(bad), "--rejects", str(target))
        assert result.code == 2, result.stderr
        assert "is a file of the store in use" in one_error(result.stderr)

    assert invoke("count").stdout == "5\n"  # nothing imported either: refused up front
    assert (leadcli_home / "leads.db").read_bytes()[:15] == b"SQLite format 3"


def test_an_explicit_db_path_is_protected_too(tmp_path: Path) -> None:
    db = tmp_path / "team.db"
    seed(2, "--db", str(db))

    result = invoke("--db", f"sqlite:///{db}", "export", "--file", str(db))

    assert result.code == 2
    assert invoke("--db", str(db), "count").stdout == "2\n"


# -- item 2/4: atomic, mode kept, new files private ------------------------------------------------


def test_a_new_default_store_is_private_and_so_is_its_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "fresh" / "leadcli"
    monkeypatch.setenv("LEADCLI_HOME", str(home))

    assert invoke("add", "--name", "Ada", "--email", "ada@example.com").code == 0

    assert mode(home) == 0o700
    assert mode(home / "leads.db") == 0o600
    for companion in ("leads.db-wal", "leads.db-shm"):
        if (home / companion).exists():
            assert mode(home / companion) == 0o600


def test_config_init_is_private(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "new-home"
    monkeypatch.setenv("LEADCLI_HOME", str(home))

    assert invoke("config", "init").code == 0

    assert mode(home / "config.toml") == 0o600
    assert mode(home) == 0o700
    assert not [p for p in home.iterdir() if p.name.endswith(".partial")]


def test_exports_and_rejects_are_new_0600_files(tmp_path: Path) -> None:
    seed()
    bad = tmp_path / "bad.csv"
    bad.write_text("Name,Email\nNo Email,\n", encoding="utf-8")

    assert invoke("export", "--file", str(tmp_path / "out.csv")).code == 0
    assert invoke("import", str(bad), "--rejects", str(tmp_path / "rejects.csv")).code == 1

    assert mode(tmp_path / "out.csv") == 0o600
    assert mode(tmp_path / "rejects.csv") == 0o600
    assert "No Email" in (tmp_path / "rejects.csv").read_text()


def test_an_existing_output_file_keeps_its_mode(tmp_path: Path) -> None:
    seed()
    target = tmp_path / "shared.csv"
    target.write_text("old\n")
    target.chmod(0o640)

    assert invoke("export", "--file", str(target)).code == 0

    assert mode(target) == 0o640
    assert target.read_text().startswith("id,name,")


def test_an_export_that_fails_midway_leaves_the_old_file_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seed()
    target = tmp_path / "leads.csv"
    target.write_text("yesterday's export\n")
    from leadcli.domain.errors import StoreUnavailable
    from leadcli.services import exporter

    real = exporter.export_records

    def dies_after_two(ws, filters):  # type: ignore[no-untyped-def]
        def rows():  # type: ignore[no-untyped-def]
            for n, record in enumerate(real(ws, filters)):
                if n == 2:
                    raise StoreUnavailable("the store went away")
                yield record

        return rows()

    monkeypatch.setattr(exporter, "export_records", dies_after_two)

    result = invoke("export", "--file", str(target))

    assert result.code == 5
    assert target.read_text() == "yesterday's export\n"
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".partial")]


# -- item 9: a full device ---------------------------------------------------------------------------


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full (Linux)")
def test_export_to_a_full_device_is_exit_1_with_one_line_and_the_device_left_alone() -> None:
    seed(3)
    result = invoke("export", "--file", "/dev/full")
    assert result.code == 1
    assert "No space left on device" in one_error(result.stderr)
    assert stat.S_ISCHR(os.stat("/dev/full").st_mode)  # not replaced by a regular file

    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for args in (["export"], ["list", "-o", "json"]):
        with open("/dev/full", "w") as full:
            proc = subprocess.run([sys.executable, "-m", "leadcli", *args], stdout=full, stderr=subprocess.PIPE, text=True, env=env, timeout=60)
        assert proc.returncode == 1
        assert one_error(proc.stderr) == "error: cannot write the output: No space left on device"


# -- issue 13: a mistyped store path ------------------------------------------------------------------


def test_an_explicit_store_path_in_a_missing_directory_is_exit_2(tmp_path: Path, leadcli_home: Path) -> None:
    typo = tmp_path / "typo" / "dir" / "leadz.db"
    (leadcli_home / "config.toml").write_text(f'db = "{typo}"\n')

    for args, env in (
        (["--db", str(typo), "count"], None),
        (["count"], {"LEADCLI_DB": str(typo)}),
        (["count"], None),  # from the config file
        (["--db", f"sqlite:///{typo}", "add", "--name", "A", "--email", "a@example.com"], None),
    ):
        result = invoke(*args, env=env)
        assert (result.code, result.stdout) == (2, ""), (args, result)
        assert str(typo) in one_error(result.stderr)
    assert not (tmp_path / "typo").exists()


def test_the_default_store_path_is_still_created(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEADCLI_HOME", str(tmp_path / "not" / "yet"))
    result = invoke("count")
    assert (result.code, result.stdout) == (0, "0\n")
    assert (tmp_path / "not" / "yet" / "leads.db").is_file()


# -- item 10: a read-only store can be read -----------------------------------------------------------


def _as_ordinary_user(args: list[str]) -> list[str]:
    """Root writes through any permission; without CAP_DAC_OVERRIDE it meets them as a user does."""
    if os.geteuid() != 0:
        return args
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without setpriv: file permissions cannot be made to apply")
    return [setpriv, "--bounding-set=-dac_override,-dac_read_search", *args]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(_as_ordinary_user([sys.executable, "-m", "leadcli", *args]), capture_output=True, text=True, env=env, timeout=60)


@pytest.mark.parametrize("what", ["file", "directory"])
def test_a_read_only_store_can_still_be_read(leadcli_home: Path, what: str) -> None:
    seed(3)
    db = leadcli_home / "leads.db"
    assert run_process("count").stdout == "3\n"  # a clean close: no -wal/-shm left beside it
    try:
        if what == "file":
            db.chmod(0o444)
        else:
            leadcli_home.chmod(0o555)

        count = _run("count")
        listed = _run("list", "-o", "ids")
        shown = _run("show", "l1@example.com", "-o", "json")
        write = _run("add", "--name", "New", "--email", "new@example.com")
    finally:
        leadcli_home.chmod(0o700)
        db.chmod(0o600)

    assert (count.returncode, count.stdout, count.stderr) == (0, "3\n", "")
    assert listed.returncode == 0 and len(listed.stdout.split()) == 3
    assert shown.returncode == 0 and '"l1@example.com"' in shown.stdout
    assert write.returncode == 5
    assert "read-only" in one_error(write.stderr)
    assert run_process("count").stdout == "3\n"
