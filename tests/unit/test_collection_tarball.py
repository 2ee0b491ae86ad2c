"""The built tarball ships what runs once installed, and nothing that needs what it leaves out.

The tests need the checkout (tools/, tests/lab, the development requirements, ``build/``), so the
tarball ships none of them, nor the roles' Molecule scenarios (they run on tests/lab). Shipped Python
imports only shipped collection code, and every shipped file is one the repository holds (not a
cache such as ``.ansible/`` that a tool left in the checkout).
"""

from __future__ import annotations

import ast
import subprocess
import sys
import tarfile
from pathlib import Path, PurePosixPath

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT / "tools"))

from stage_collection import repository_files  # noqa: E402

GALAXY = Path(sys.executable).parent / "ansible-galaxy"
COLLECTION_PACKAGE = ("ansible_collections", "backup", "hyperv")
GENERATED = {"MANIFEST.json", "FILES.json"}  # written by ansible-galaxy into every tarball


@pytest.fixture(scope="module")
def shipped(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """Path -> content of every regular file in a fresh ``ansible-galaxy collection build``."""
    output = tmp_path_factory.mktemp("dist")
    command = [str(GALAXY), "collection", "build", "--output-path", str(output), str(REPO_ROOT)]
    subprocess.run(command, check=True, capture_output=True)
    (tarball,) = output.glob("backup-hyperv-*.tar.gz")
    with tarfile.open(tarball) as archive:
        return {m.name: archive.extractfile(m).read() for m in archive.getmembers() if m.isfile()}


def test_ships_no_test_that_needs_the_checkout(shipped):
    assert not [path for path in shipped if path.startswith("tests/") or "molecule" in PurePosixPath(path).parts]


def test_ships_only_files_the_repository_holds(shipped):
    assert not set(shipped) - GENERATED - set(repository_files(REPO_ROOT))


def collection_imports(source: bytes) -> set[tuple[str, ...]]:
    """Dotted names under ansible_collections.backup.hyperv that the source imports (modules or their members)."""
    names: set[tuple[str, ...]] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(tuple(alias.name.split(".")) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            module = tuple(node.module.split("."))
            names.update((*module, alias.name) for alias in node.names)
    return {name[len(COLLECTION_PACKAGE) :] for name in names if name[: len(COLLECTION_PACKAGE)] == COLLECTION_PACKAGE}


def resolves(name: tuple[str, ...], files: set[str]) -> bool:
    """A shipped module or package, or a member of the shipped module named by its prefix."""
    candidates = (name, name[:-1]) if len(name) > 1 else (name,)
    for parts in candidates:
        path = "/".join(parts)
        if f"{path}.py" in files or any(f.startswith(f"{path}/") for f in files):
            return True
    return False


def test_shipped_python_imports_only_shipped_collection_code(shipped):
    python = {path: content for path, content in shipped.items() if path.endswith(".py") or path.startswith("bin/")}
    assert "plugins/action/vss_provider.py" in python
    missing = {
        path: sorted(".".join(name) for name in collection_imports(content) if not resolves(name, set(shipped)))
        for path, content in python.items()
    }
    assert not {path: names for path, names in missing.items() if names}
