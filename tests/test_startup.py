"""Cron calls `leadcli count` thousands of times a day: heavy modules must stay unloaded unless a
command needs them. Each check runs in a fresh interpreter, since this one has loaded everything.
(Timing is measured by bench/bench_startup.py, never asserted here.)"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT

HEAVY = ("pymongo", "bson", "websockets", "rich", "pydantic", "pydantic_core", "email_validator", "platformdirs")


def loaded_after(code: str, env: dict[str, str] | None = None) -> dict[str, object]:
    """Run `code` in a fresh interpreter; it leaves its result in `out`. Returns `out` plus the
    heavy modules it loaded."""
    script = f"import json, sys\nout = {{}}\n{code}\nout['heavy'] = [m for m in {HEAVY!r} if m in sys.modules]\nprint(json.dumps(out))"
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=full_env, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.splitlines()[-1])  # type: ignore[no-any-return]


def test_importing_the_cli_loads_no_heavy_module() -> None:
    assert loaded_after("import leadcli.cli")["heavy"] == []


def test_count_loads_no_heavy_module(tmp_path: Path) -> None:
    db = tmp_path / "leads.db"
    from conftest import invoke

    assert invoke("--db", str(db), "add", "--name", "Ada", "--email", "ada@example.com").code == 0
    result = loaded_after(f"from leadcli.cli import run\nout['code'] = run(['--db', {str(db)!r}, 'count', '--stage', 'new-lead', '--tag', 'x'])")
    assert result == {"code": 0, "heavy": []}


def test_count_on_the_default_store_loads_no_heavy_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No --db, no LEADCLI_HOME: the user data dir is found without importing platformdirs."""
    monkeypatch.delenv("LEADCLI_HOME")
    for name in ("XDG_DATA_HOME", "XDG_CONFIG_HOME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    result = loaded_after("from leadcli.cli import run\nout['code'] = run(['count'])")
    assert result == {"code": 0, "heavy": []}
    assert (tmp_path / ".local" / "share" / "leadcli" / "leads.db").exists()


@pytest.mark.parametrize("xdg", [None, "relative/dir", "/abs/xdg"])
def test_default_paths_agree_with_platformdirs(xdg: str | None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import platformdirs

    from leadcli.config import default_config_path, default_db_path

    monkeypatch.delenv("LEADCLI_HOME")
    monkeypatch.setenv("HOME", str(tmp_path))
    for name in ("XDG_DATA_HOME", "XDG_CONFIG_HOME"):
        if xdg is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, xdg)
    assert default_db_path() == Path(platformdirs.user_data_dir("leadcli")) / "leads.db"
    assert default_config_path() == Path(platformdirs.user_config_dir("leadcli")) / "config.toml"


def test_show_on_a_terminal_loads_rich_only_then(tmp_path: Path) -> None:
    """The other side of the bargain: drawing for a person does load Rich (lazily)."""
    db = tmp_path / "leads.db"
    from conftest import invoke

    assert invoke("--db", str(db), "add", "--name", "Ada", "--email", "ada@example.com").code == 0
    code = f"from leadcli.cli import run\nout['code'] = run(['--db', {str(db)!r}, 'show', 'ada@example.com'])"
    assert loaded_after(code, env={"LEADCLI_FORCE_TERMINAL": "1"})["heavy"] == ["rich"]
    assert loaded_after(code)["heavy"] == []
