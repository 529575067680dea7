"""kafkabp.infra's shape: it depends on no other kafkabp module, its modules import each other without a circle,
and the current target is one object whose secrets are redacted while it is the target. (No private name imported
across modules, and no circle in the whole package: tests/test_imports.py.)"""

from __future__ import annotations

import ast
from pathlib import Path

from kafkabp.infra import security
from kafkabp.infra.target import TARGET, BrokerInfo

ROOT = Path(__file__).resolve().parents[1]
INFRA = ROOT / "kafkabp" / "infra"


def _imports(path: Path) -> list[ast.ImportFrom]:
    return [n for n in ast.walk(ast.parse(path.read_text())) if isinstance(n, ast.ImportFrom) and n.module]


def test_the_infra_modules_import_each_other_without_a_circle() -> None:
    graph: dict[str, set[str]] = {}
    for path in INFRA.glob("*.py"):
        deps = set()
        for n in _imports(path):
            if n.module == "kafkabp.infra":
                deps |= {a.name for a in n.names}
            elif n.module.startswith("kafkabp.infra."):
                deps.add(n.module.split(".")[2])
            else:
                assert not n.module.startswith("kafkabp"), f"{path.name} imports {n.module}: infra depends on nothing else"
        graph[path.stem] = deps
    assert {"broker", "cluster", "node", "tools", "target", "jars"} <= set(graph)

    def visit(name: str, path: list[str]) -> None:
        for dep in graph.get(name, ()):
            assert dep not in path, f"import circle: {' -> '.join([*path, dep])}"
            visit(dep, [*path, dep])

    for name in graph:
        visit(name, [name])


def test_the_current_target_is_set_and_cleared_and_its_secrets_redacted() -> None:
    before = TARGET.info
    secret = "s3cr3t-value-for-the-target"
    try:
        TARGET.set(BrokerInfo("h:9093", "external", config={"sasl.username": "u", "sasl.password": secret}))
        assert TARGET.security() == {"sasl.username": "u", "sasl.password": secret}
        assert TARGET.tool_bootstrap() == "h:9093"
        assert security.redact(f"failed for {secret}!") == "failed for [redacted]!"
        TARGET.clear(kind="cluster")  # another kind: kept
        assert TARGET.info is not None
        TARGET.clear(kind="external")
        assert TARGET.info is None and security.redact(f"x {secret}") == f"x {secret}"
    finally:
        TARGET.set(before) if before else TARGET.clear()
