"""tools/import_graph.py: the picture in docs/design.md is the code's, and circles are found."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT / "tools"))

import import_graph  # noqa: E402

PREFIX = "from ansible_collections.backup.hyperv.plugins"


def make_tree(tmp_path: Path, files: dict[str, str]) -> Path:
    for relative, text in files.items():
        path = tmp_path / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    (tmp_path / "tests" / "lab").mkdir(parents=True, exist_ok=True)
    return tmp_path


def test_design_doc_holds_the_current_graph():
    assert import_graph.main(["--check", str(REPO_ROOT / "docs" / "design.md")]) == 0, (
        "docs/design.md's import graph is stale: run `make design`"
    )


def test_a_circle_closed_by_a_late_import_is_found(tmp_path):
    repo = make_tree(
        tmp_path,
        {
            "plugins/module_utils/__init__.py": "",
            "plugins/module_utils/a.py": f"{PREFIX}.module_utils.b import thing\n",
            "plugins/module_utils/b.py": f"def late():\n    {PREFIX}.module_utils import a\n",
            "plugins/module_utils/c.py": f"{PREFIX}.module_utils.a import x\n",
        },
    )
    graph = import_graph.module_graph(repo)
    assert graph["plugins.module_utils.b"] == {"plugins.module_utils.a"}
    assert import_graph.circles(graph) == [["plugins.module_utils.a", "plugins.module_utils.b"]]


def test_relative_imports_and_lab_imports_resolve(tmp_path):
    repo = make_tree(
        tmp_path,
        {
            "plugins/x/__init__.py": "",
            "plugins/x/one.py": "from . import two\nfrom .two import y\n",
            "plugins/x/two.py": "import json\n",
        },
    )
    (repo / "tests/lab/handlers").mkdir(parents=True)
    (repo / "tests/lab/__init__.py").write_text("", encoding="utf-8")
    (repo / "tests/lab/handlers/__init__.py").write_text("from lab.estate import Estate\n", encoding="utf-8")
    (repo / "tests/lab/estate.py").write_text("import yaml\n", encoding="utf-8")
    graph = import_graph.module_graph(repo)
    assert graph["plugins.x.one"] == {"plugins.x.two"}
    assert graph["lab.handlers"] == {"lab.estate"}
    assert import_graph.circles(graph) == []


def test_check_reports_a_stale_block(tmp_path, capsys):
    repo = make_tree(tmp_path, {"plugins/a.py": "", "plugins/b.py": f"{PREFIX}.a import z\n"})
    doc = tmp_path / "design.md"
    doc.write_text(f"intro\n{import_graph.BEGIN_MARKER}\nold\n{import_graph.END_MARKER}\nrest\n", encoding="utf-8")
    assert import_graph.main(["--repo", str(repo), "--check", str(doc)]) == 1
    assert "make design" in capsys.readouterr().err
    assert import_graph.main(["--repo", str(repo), "--write", str(doc)]) == 0
    assert import_graph.main(["--repo", str(repo), "--check", str(doc)]) == 0
    assert doc.read_text(encoding="utf-8").startswith("intro\n") and doc.read_text(encoding="utf-8").endswith("rest\n")


def test_a_file_without_markers_is_refused(tmp_path):
    with pytest.raises(ValueError, match="import-graph:begin"):
        import_graph.replace_block("no markers here", "block")
