"""The lab's own shape (issue 16): imports a reader can follow, and no import circle.

Nothing here runs a lab: the checks read the lab's source (tests/lab) with `ast` and with
tools/import_graph.py, the tool that draws docs/design.md's picture.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

from lab_testkit import TESTS_DIR

REPO_ROOT = TESTS_DIR.parent
LAB = TESTS_DIR / "lab"
sys.path.insert(0, str(REPO_ROOT / "tools"))

import import_graph  # noqa: E402 - tools/ is not a package


def _imports_by_name(path: Path) -> list[str]:
    """Places in `path` that import a module named by a string (importlib.import_module, __import__)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call):
            called = ast.unparse(node.func)
            if called in ("importlib.import_module", "import_module", "__import__"):
                found.append(f"{path.relative_to(LAB)}:{node.lineno}: {called}")
    return found


def test_no_module_of_the_lab_is_imported_by_a_name_in_a_string():
    found = [place for path in sorted(LAB.rglob("*.py")) for place in _imports_by_name(path)]
    assert found == []


def test_the_lab_has_no_import_circle():
    circles = import_graph.circles(import_graph.module_graph(REPO_ROOT))
    assert [circle for circle in circles if circle[0].startswith("lab")] == []


def test_the_builtin_handlers_are_imported_modules():
    from lab.handlers.builtin import BUILTIN_MODULES

    assert BUILTIN_MODULES, "the lab ships handler modules"
    for module in BUILTIN_MODULES:
        assert module.__name__.startswith("lab.handlers.") and callable(module.register)
