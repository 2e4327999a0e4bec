"""docs/design.md stays true where it can be checked mechanically: its map ("The shape") names
every module of the package and no module that is gone; only the modules it lists import Rich;
nothing below cli/ imports Typer."""

from __future__ import annotations

import ast
import re

from conftest import ROOT

PACKAGE = ROOT / "leadcli"
DESIGN = (ROOT / "docs" / "design.md").read_text(encoding="utf-8")


def modules() -> set[str]:
    """Every module as a path under leadcli/ (`cli/app.py`), leaving out package `__init__.py`
    files that hold nothing but a docstring."""
    found = set()
    for path in PACKAGE.rglob("*.py"):
        body = ast.parse(path.read_text(encoding="utf-8")).body
        if path.name == "__init__.py" and all(isinstance(node, ast.Expr) for node in body):
            continue
        found.add(path.relative_to(PACKAGE).as_posix())
    return found


def mapped() -> set[str]:
    """The modules the map names: `name.py` words in the entry of each package (`cli/ …`
    up to the next entry), `pkg/name.py` words anywhere, and top-level `name.py` entries."""
    block = re.search(r"## The shape\s+```\n(.*?)```", DESIGN, re.S)
    assert block, "docs/design.md has no ## The shape map"
    named: set[str] = set()
    package = ""
    for line in block.group(1).splitlines()[1:]:  # past `leadcli/`
        entry = re.match(r"^  (\S+)", line)
        if entry:
            head = entry.group(1)
            package = head if head.endswith("/") else ""
            if head.endswith(".py"):
                named.add(head)
        for word in re.findall(r"[\w/]+\.py\b", line[len(entry.group(0)) if entry else 0 :]):
            named.add(word if "/" in word else package + word)
    return named


def importers(module: str) -> set[str]:
    """The modules that import `module` (at any level, at module top or inside a function)."""
    found = set()
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else []
            if any(n == module or n.startswith(module + ".") for n in names):
                found.add(path.relative_to(PACKAGE).as_posix())
    return found


def test_the_map_names_every_module_and_only_modules_that_exist() -> None:
    have, named = modules(), mapped()
    assert not have - named, f"docs/design.md's map does not name: {sorted(have - named)}"
    assert not named - have, f"docs/design.md's map names modules that do not exist: {sorted(named - have)}"


def test_only_the_modules_design_md_lists_import_rich() -> None:
    claim = re.search(r"Rich is imported only by (.*?)\.\s*\n\S*`tests/test_design\.py`", DESIGN, re.S)
    assert claim, "docs/design.md no longer says which modules import Rich"
    listed = set(re.findall(r"`([\w/]+\.py)`", claim.group(1)))
    assert importers("rich") == listed


def test_nothing_below_cli_imports_typer() -> None:
    assert {m for m in importers("typer") if not m.startswith("cli/")} == set()


def test_nothing_outside_store_asks_a_store_what_it_can_do() -> None:
    """The LeadStore port says everything the services need (issue 16): no module outside
    store/ asks `hasattr`/`getattr` of a store, or imports a database library."""
    for path in PACKAGE.rglob("*.py"):
        where = path.relative_to(PACKAGE).as_posix()
        if where.startswith("store/"):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("hasattr", "getattr") and node.args:
                asked = ast.unparse(node.args[0])
                assert "store" not in asked, f"{where}:{node.lineno} asks {node.func.id}({asked}, …)"
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            for name in names:
                assert name.split(".")[0] not in ("pymongo", "bson", "sqlite3"), f"{where} imports {name}"
