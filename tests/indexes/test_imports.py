"""The modules of ``indexes`` import one another one way only, and nothing of ours outside the package."""

from __future__ import annotations

import ast
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "indexes"
OURS = ("matcher", "service", "training", "eval")


def imports_of(path: Path) -> set[str]:
    """Every module ``path`` imports, at the top or inside a function, as an absolute dotted name."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = "indexes" + ("." + node.module if node.module else "") if node.level else node.module or ""
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)  # `from indexes import dense`
    return found


def graph() -> dict[str, set[str]]:
    modules = {f"indexes.{p.stem}": p for p in PACKAGE.glob("*.py") if p.stem != "__init__"}
    return {name: imports_of(path) & modules.keys() - {name} for name, path in modules.items()}


def test_the_modules_of_indexes_import_one_another_without_a_cycle() -> None:
    try:
        tuple(TopologicalSorter(graph()).static_order())
    except CycleError as exc:
        raise AssertionError(f"import cycle in indexes: {' -> '.join(exc.args[1])}") from None


def test_the_cache_does_not_import_the_encoders() -> None:
    assert "indexes.encoders" not in graph()["indexes.cache"]


def test_indexes_imports_nothing_of_ours() -> None:
    for path in PACKAGE.glob("*.py"):
        ours = sorted(m for m in imports_of(path) if m.split(".")[0] in OURS)
        assert not ours, f"{path.name} imports {ours}"
