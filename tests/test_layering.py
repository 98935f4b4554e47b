"""Dependencies point one way (DESIGN.md, "Architecture"): ``service → matcher → indexes``; ``training``
and ``eval`` reuse ``matcher`` and ``indexes``; only the CLI (``service/cli/``) reaches ``eval`` and
``training``. Every import of every package file is read with ``ast``, function-level ones included."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("indexes", "matcher", "training", "eval", "service")
# Of our packages, what each may import (itself aside).
ALLOWED = {
    "indexes": set(),
    "matcher": {"indexes"},
    "training": {"matcher", "indexes"},
    "eval": {"matcher", "indexes", "training"},
    "service": {"matcher", "indexes"},
}
CLI_ALLOWED = ALLOWED["service"] | {"eval", "training"}


def _ours(module: str) -> str | None:
    top = module.split(".")[0]
    return top if top in PACKAGES else None


def imports_in(source: str, *, own: str) -> list[tuple[int, str]]:
    """``(line, package)`` for every import of one of our packages in ``source``, at any depth (inside
    functions, ``if TYPE_CHECKING`` blocks…), sorted; relative imports are of the file's own package."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = [own] if node.level else [node.module or ""]
        else:
            continue
        found += [(node.lineno, top) for name in names if (top := _ours(name)) is not None]
    return sorted(found)


def imports_of(path: Path) -> list[tuple[int, str]]:
    return imports_in(path.read_text(encoding="utf-8"), own=path.relative_to(ROOT).parts[0])


def _files(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def _violations(package: str) -> list[str]:
    out = []
    for path in _files(package):
        rel = path.relative_to(ROOT)
        allowed = CLI_ALLOWED if rel.parts[:2] == ("service", "cli") else ALLOWED[package]
        out += [f"{rel}:{line} imports {target}" for line, target in imports_of(path)
                if target != package and target not in allowed]
    return out


@pytest.mark.parametrize("package", PACKAGES)
def test_each_package_imports_only_what_it_may(package: str) -> None:
    assert _files(package), f"no file found under {package}/"
    assert _violations(package) == []


def test_the_walk_sees_function_level_and_relative_imports() -> None:
    source = (
        "import os\n"
        "from matcher import schemas\n"
        "\n"
        "def f():\n"
        "    from eval.batch import run_batch\n"
        "    import training.train, indexes\n"
        "    from . import engine\n"
    )
    assert imports_in(source, own="service") == [(2, "matcher"), (5, "eval"), (6, "indexes"), (6, "training"),
                                                 (7, "service")]


def test_a_forbidden_import_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The check fails when it should: an HTTP-side service file that imports eval is named."""
    fake = tmp_path / "service" / "api"
    fake.mkdir(parents=True)
    (fake / "bad.py").write_text("def f():\n    import eval.harness\n", encoding="utf-8")
    (tmp_path / "service" / "cli").mkdir()
    (tmp_path / "service" / "cli" / "ok.py").write_text("import eval.harness\nimport training\n", encoding="utf-8")
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    assert _violations("service") == ["service/api/bad.py:2 imports eval"]
