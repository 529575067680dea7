"""kafkabp's modules, read with ``ast`` (nothing imported): no module imports another module's private name, and
the modules import each other without a circle (issue 20, parts 4 and 5).

The import graph has an edge A -> B for every ``import`` / ``from ... import`` of a kafkabp module B written in A,
at module level or inside a function (a lazy import that closes a circle is still a circle, only a later one).
Left out on purpose:
- imports under ``if TYPE_CHECKING:``: they never run, they only name types for the type checker;
- the implicit import of a module's parent package (importing ``kafkabp.workload.consumer`` runs
  ``kafkabp/workload/__init__.py`` first): a package's ``__init__`` re-exporting its own submodules is how a package
  is built, not a circle;
- ``kafkabp/__init__.py``'s lazy names (PEP 562 ``__getattr__``): it imports modules by name through importlib.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "kafkabp"
CHECKED = sorted([*PACKAGE.rglob("*.py"), *(ROOT / "benchmarks").glob("*.py")])


def _module(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module(p) for p in PACKAGE.rglob("*.py")}


def _runtime_imports(tree: ast.Module) -> list[ast.Import | ast.ImportFrom]:
    """Every import statement, except those under ``if TYPE_CHECKING:`` (or ``typing.TYPE_CHECKING``)."""
    found: list[ast.Import | ast.ImportFrom] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            found.append(node)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def _targets(node: ast.Import | ast.ImportFrom, here: str) -> set[str]:
    """The kafkabp modules an import statement imports (``from kafkabp.x import y``: ``kafkabp.x.y`` when that is a
    module, else ``kafkabp.x``)."""
    if isinstance(node, ast.Import):
        return {a.name for a in node.names if a.name in MODULES}
    base = node.module or ""
    if node.level:  # relative: from the package this module is in
        package = here.split(".")[: len(here.split(".")) - node.level + (here in _PACKAGES)]
        base = ".".join([*package, *([base] if base else [])])
    if base not in MODULES:
        return set()
    return {f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names}


_PACKAGES = {_module(p) for p in PACKAGE.rglob("__init__.py")}
GRAPH: dict[str, set[str]] = {}
for _path in PACKAGE.rglob("*.py"):
    _here = _module(_path)
    GRAPH[_here] = {t for n in _runtime_imports(ast.parse(_path.read_text())) for t in _targets(n, _here)} - {_here}


@pytest.mark.parametrize("path", CHECKED, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_private_name_is_imported_from_another_kafkabp_module(path: Path) -> None:
    tree = ast.parse(path.read_text())
    private = [f"line {n.lineno}: from {n.module} import {a.name}" for n in ast.walk(tree)
               if isinstance(n, ast.ImportFrom) and (n.module or "").startswith("kafkabp")
               for a in n.names if a.name.startswith("_")]
    private += [f"line {n.lineno}: import {a.name}" for n in ast.walk(tree) if isinstance(n, ast.Import)
                for a in n.names if a.name.startswith("kafkabp") and any(p.startswith("_") for p in a.name.split("."))]
    assert not private, f"{path.name} imports another module's private name (make it public where it is shared): {private}"


def _module_names(tree: ast.Module, here: str) -> set[str]:
    """Local names bound to a kafkabp module: ``import kafkabp.x as m``, ``from kafkabp import admin``."""
    names: set[str] = set()
    for n in _runtime_imports(tree):
        if isinstance(n, ast.Import):
            names |= {a.asname for a in n.names if a.asname and a.name in MODULES}
        else:
            for target in _targets(n, here):
                names |= {a.asname or a.name for a in n.names if target.endswith("." + a.name)}
    return names


@pytest.mark.parametrize("path", CHECKED, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_private_name_of_another_kafkabp_module_is_used_by_attribute(path: Path) -> None:
    """``admin._group_topics(...)`` reaches into another module as surely as importing the name does."""
    tree = ast.parse(path.read_text())
    modules = _module_names(tree, _module(path))
    private = [f"line {n.lineno}: {ast.unparse(n)}" for n in ast.walk(tree)
               if isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name) and n.value.id in modules
               and n.attr.startswith("_") and not n.attr.startswith("__")]
    assert not private, f"{path.name} uses another module's private name (make it public where it is shared): {private}"


def test_the_attribute_check_sees_a_module_bound_by_from_import() -> None:
    tree = ast.parse("from kafkabp import admin\nimport kafkabp.lag as lg\nadmin._x(); lg._y")
    assert _module_names(tree, "kafkabp.somewhere") >= {"admin", "lg"}


def test_the_graph_sees_the_imports_it_should() -> None:
    """The walk is not vacuous: known edges are there, a TYPE_CHECKING-only import is not."""
    assert "kafkabp.registry" in GRAPH["kafkabp.experiment"]
    assert "kafkabp.mitigations" in GRAPH["kafkabp.experiment"]
    assert "kafkabp.infra.broker" in GRAPH["kafkabp.admin"]
    assert "kafkabp.playroom" in GRAPH["kafkabp.workshop"]  # a lazy import inside a function counts
    assert "kafkabp.experiment" not in GRAPH["kafkabp.mitigations.base"]  # under TYPE_CHECKING only
    assert len(GRAPH) >= 50


def test_kafkabp_modules_import_each_other_without_a_circle() -> None:
    circles: list[str] = []
    done: set[str] = set()

    def visit(name: str, path: list[str]) -> None:
        for dep in sorted(GRAPH.get(name, ())):
            if dep in path:
                circles.append(" -> ".join([*path[path.index(dep):], dep]))
            elif dep not in done:
                visit(dep, [*path, dep])
        done.add(name)

    for name in sorted(GRAPH):
        if name not in done:
            visit(name, [name])
    assert not circles, "import circles:\n" + "\n".join(sorted(set(circles)))
