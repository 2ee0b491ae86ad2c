"""Every PowerShell script in the collection parses with zero errors under tree-sitter-powershell.

The grammar is the contract the design names (style.md lists the valid PowerShell forms it rejects);
a failure names the file, the line and column, and the offending text of each ERROR or MISSING node.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import tree_sitter_powershell
from tree_sitter import Language, Node, Parser

from ansible_collections.backup.hyperv.plugins.plugin_utils._pwsh import BATCH_BOOTSTRAP, BOOTSTRAP, load_script

REPO_ROOT = Path(__file__).resolve().parents[4]
SCRIPTS = sorted(path for top in ("plugins", "roles") for path in (REPO_ROOT / top).rglob("*.ps1"))
SENT = sorted(path.stem for path in (REPO_ROOT / "plugins" / "plugin_utils" / "scripts").glob("*.ps1"))
PARSER = Parser(Language(tree_sitter_powershell.language()))


def syntax_errors(source: bytes) -> list[str]:
    """'line:column: ERROR near ...' for every error or missing node, outermost first."""
    found: list[str] = []

    def visit(node: Node) -> None:
        if node.is_error or node.is_missing:
            kind = f"MISSING {node.type}" if node.is_missing else "ERROR"
            text = source[node.start_byte : node.end_byte].decode("utf-8", "replace").splitlines()
            near = text[0][:80] if text else ""
            found.append(f"{node.start_point[0] + 1}:{node.start_point[1] + 1}: {kind} near {near!r}")
            return
        if node.has_error:
            for child in node.children:
                visit(child)

    tree = PARSER.parse(source)
    visit(tree.root_node)
    if tree.root_node.has_error and not found:
        found.append("1:1: ERROR (the grammar rejects the file as a whole)")
    return found


def test_the_collection_has_scripts_to_check():
    assert REPO_ROOT / "plugins" / "plugin_utils" / "scripts" / "host_facts.ps1" in SCRIPTS


@pytest.mark.parametrize("script", SCRIPTS, ids=[str(path.relative_to(REPO_ROOT)) for path in SCRIPTS])
def test_script_parses(script: Path):
    errors = syntax_errors(script.read_bytes())
    assert not errors, f"{script.relative_to(REPO_ROOT)}:\n" + "\n".join(errors)


@pytest.mark.parametrize("name", SENT)
def test_script_parses_as_sent_with_its_includes_expanded(name: str):
    errors = syntax_errors(load_script(name))
    assert not errors, f"{name}.ps1 as sent:\n" + "\n".join(errors)


@pytest.mark.parametrize("bootstrap", [BOOTSTRAP, BATCH_BOOTSTRAP], ids=["single", "batch"])
def test_runner_bootstrap_parses(bootstrap: str):
    assert syntax_errors(bootstrap.encode("utf-8")) == []


@pytest.mark.parametrize(
    ("source", "line"),
    [
        (b"$ok = 1\nSelect-Object Name, Id\n", 2),  # bareword comma list: style.md's first rejected form
        (b"# only a comment\n", 1),  # style.md's second rejected form
        (b"$a = 1\nif ($a) {\n", 2),
    ],
)
def test_syntax_errors_names_the_line(source: bytes, line: int):
    errors = syntax_errors(source)
    assert errors and errors[0].startswith(f"{line}:")
