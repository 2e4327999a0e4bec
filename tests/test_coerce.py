"""The start-up coercion patch (leadcli/cli/coerce.py) is fenced: it leans on private Typer names,
so each upstream change it could meet is simulated here, in a fresh interpreter, and every command
must still work (through Typer's own coercion when the patch steps aside). Plus: the plain
coercion agrees with Typer's own on the values users type."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT

# Each simulation runs after `import typer` and before leadcli is imported.
SIMULATIONS = {
    "as released": "",
    "a new required field on RuntimeParam": """
import dataclasses, typer._coercion as c
@dataclasses.dataclass(frozen=True)
class RuntimeParam(c.RuntimeParam):
    source: str
c.RuntimeParam = RuntimeParam
""",
    "the abstract method renamed": """
import abc, dataclasses, typer._coercion as c
@dataclasses.dataclass(frozen=True)
class RuntimeParam(c.RuntimeParam):
    def coerce(self, value, param, ctx):
        return None if value is None else self._convert(value, param=param, ctx=ctx)
    @abc.abstractmethod
    def _convert(self, value, param, ctx): ...
    def _coerce_value(self, value, param, ctx):
        return self._convert(value, param=param, ctx=ctx)
c.RuntimeParam = RuntimeParam
""",
    "coerce calls with new keyword names": """
import dataclasses, typer._coercion as c
@dataclasses.dataclass(frozen=True)
class RuntimeParam(c.RuntimeParam):
    def coerce(self, value, param, ctx):
        return None if value is None else self._coerce_value(value, parameter=param, context=ctx)
c.RuntimeParam = RuntimeParam
""",
    "the parameter keeps its coercion under another name": """
import typer.core as core
from typer._coercion import build_runtime_param
def get_runtime_param(self):
    if getattr(self, "_coercer", None) is None:
        self._coercer = build_runtime_param(self.type_descriptor)
    return self._coercer
core._TyperParameter.get_runtime_param = get_runtime_param
""",
    "RuntimeParam moved out of typer._coercion": """
import typer._coercion as c
del c.RuntimeParam
""",
    "Click vendored under another name": """
import types, typer._click as real
class Moved(types.ModuleType):  # typer._click as seen by an import statement: no `exceptions`
    def __getattr__(self, name):
        if name == "exceptions":
            raise AttributeError(name)
        return getattr(real, name)
moved = Moved("typer._click")
moved.__path__, moved.__spec__ = real.__path__, real.__spec__
sys.modules["typer._click"] = moved  # Typer's own modules keep their reference to the real one
sys.modules["typer._click.exceptions"] = None
""",
}

SCRIPT = """
import json, os, sys
import typer
{simulation}
from conftest import invoke
db = os.path.join(os.environ["LEADCLI_HOME"], "leads.db")
runs = [
    ("--db", db, "add", "--name", "Ada", "--email", "ada@example.com", "--value", "1e3", "--tag", "a", "--tag", "b", "-o", "json"),
    ("--db", db, "list", "--page", "two"),
    ("--db", db, "list", "--page-size", "5", "--tag", "a", "-o", "ids"),
    ("--db", db, "count", "--stage", "new-lead"),
    ("--db", db, "nonsense"),
    ("--db", db, "list", "--page", "0"),
    ("--db", db),
]
out = []
for argv in runs:
    r = invoke(*argv)
    text = r.stdout
    if argv[2:3] == ("add",) and r.code == 0:
        lead = json.loads(text)
        text = json.dumps({{k: lead[k] for k in ("name", "value", "tags")}})
    if argv[-2:] == ("-o", "ids"):
        text = f"{{len(text.split())}} ids"  # ids differ from run to run
    out.append([r.code, text, r.stderr.splitlines()[:1] if r.code else r.stderr])
from leadcli.cli import coerce
print(json.dumps({{"runs": out, "plain": getattr(coerce, "active", lambda: None)(), "pydantic": "pydantic" in sys.modules}}))
"""


def simulate(simulation: str, tmp_path: Path) -> dict:
    home = tmp_path / "home"
    home.mkdir()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "tests")]), "LEADCLI_HOME": str(home), "LEADCLI_USER": "tester"}
    script = SCRIPT.format(simulation=simulation)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.splitlines()[-1])


@pytest.fixture(scope="module")
def as_released(tmp_path_factory: pytest.TempPathFactory) -> dict:
    return simulate("", tmp_path_factory.mktemp("released"))


def test_as_released_the_plain_coercion_runs_and_pydantic_stays_out(as_released: dict) -> None:
    runs = as_released["runs"]
    assert runs[0][0] == 0 and json.loads(runs[0][1]) == {"name": "Ada", "value": 1000, "tags": ["a", "b"]}
    assert runs[1][0] == 2 and "'two' is not a valid integer" in runs[1][2][0]
    assert runs[2][:2] == [0, "1 ids"]
    assert runs[3][:2] == [0, "1\n"]
    assert runs[4][0] == 2 and runs[4][2][0].startswith("error:")
    assert runs[5][0] == 2 and runs[5][2][0].startswith("error:")
    assert runs[6][0] == 2  # no command: the help, exit 2
    assert (as_released["plain"], as_released["pydantic"]) == (True, False)


@pytest.mark.parametrize("change", [name for name in SIMULATIONS if name != "as released"])
def test_an_upstream_change_leaves_every_command_working(change: str, as_released: dict, tmp_path: Path) -> None:
    """The same commands, the same exit codes and output (error wording aside: Typer's own
    messages differ from ours), whatever the patch met."""
    changed = simulate(SIMULATIONS[change], tmp_path)
    for got, want in zip(changed["runs"], as_released["runs"], strict=True):
        assert got[0] == want[0], (got, want)
        if want[0] == 0:
            assert got[1:] == want[1:], (got, want)
        else:
            assert got[2][0].startswith("error:") or want[0] == 2 and got[2][0].startswith("Usage:") or got[2] == want[2], (got, want)
    if change != "Click vendored under another name":
        # The patch stepped aside: Typer's own coercion (through pydantic) did the work.
        assert (changed["plain"], changed["pydantic"]) == (False, True)


# Where the plain coercion deliberately differs from Typer's own.
DIFFERENCES = {(bool, ""): "an empty yes/no is refused, not read as no"}
TYPED = ["1", " 2 ", "-3", "+4", "1e3", "1.5", "3.0", "1_000", "x", "", "inf", "nan", "\u0663", " 7\n",
         "true", "False", "yes", "no", "on", "off", "0", "t", "n", "Y"]  # fmt: skip


@pytest.mark.parametrize("kind", [int, float, bool, str])
def test_the_plain_coercion_reads_values_as_typers_own_does(kind: type) -> None:
    from typer._coercion import build_runtime_param, resolve_type_descriptor
    from typer.models import OptionInfo

    from leadcli.cli.coerce import convert

    stock = build_runtime_param(resolve_type_descriptor(kind, OptionInfo()))
    single = type("Param", (), {"multiple": False, "nargs": 1})()

    def outcome(read, text: str) -> object:  # type: ignore[no-untyped-def]
        try:
            value = read(text)
        except Exception:
            return "refused"
        return "nan" if value != value else (type(value), value)

    for text in TYPED:
        if (kind, text) in DIFFERENCES:
            continue
        ours = outcome(lambda t: convert(t, kind), text)
        typers = outcome(lambda t: stock.coerce(t, param=single, ctx=None), text)
        assert ours == typers, (kind, text, ours, typers)
