"""The shape docs/architecture.md promises: small modules, classes and functions.

Outside ``sandbox/`` and ``migrations/``, no module of crmsync is over 400 lines, no class
over 200 and no function over 60, so a reader finds each stage by its file name and can
hold each piece in mind.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "crmsync"
MAX_MODULE_LINES = 400
MAX_CLASS_LINES = 200
MAX_FUNCTION_LINES = 60


def modules() -> list[Path]:
    skip = {"sandbox", "migrations"}
    return sorted(
        p for p in PACKAGE.rglob("*.py") if not skip.intersection(p.relative_to(PACKAGE).parts)
    )


def sizes(path: Path) -> list[tuple[str, str, int]]:
    """(kind, name, lines) of every class and function in a module."""
    tree = ast.parse(path.read_text())
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            kind = "class" if isinstance(node, ast.ClassDef) else "function"
            assert node.end_lineno is not None
            found.append((kind, node.name, node.end_lineno - node.lineno + 1))
    return found


def test_the_package_has_modules_to_check():
    names = {p.name for p in modules()}
    assert {"plan.py", "matching.py", "outcomes.py", "writeback.py", "services.py"} <= names


@pytest.mark.parametrize("path", modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_module_class_and_function_sizes(path: Path):
    too_big = []
    lines = len(path.read_text().splitlines())
    if lines > MAX_MODULE_LINES:
        too_big.append(f"module: {lines} lines")
    for kind, name, count in sizes(path):
        limit = MAX_CLASS_LINES if kind == "class" else MAX_FUNCTION_LINES
        if count > limit:
            too_big.append(f"{kind} {name}: {count} lines")
    assert not too_big, f"{path.name}: " + "; ".join(too_big)
