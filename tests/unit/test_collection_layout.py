"""The collection's metadata agrees with itself: galaxy.yml, meta/runtime.yml."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT / "tools"))

from stage_collection import collection_files, is_ignored  # noqa: E402


def load_yaml(relative: str) -> dict:
    return yaml.safe_load((REPO_ROOT / relative).read_text(encoding="utf-8"))


def test_galaxy_identity():
    galaxy = load_yaml("galaxy.yml")
    assert (galaxy["namespace"], galaxy["name"]) == ("backup", "hyperv")
    assert galaxy["license"] == ["GPL-3.0-or-later"]
    assert galaxy["version"] == "0.1.0"


@pytest.mark.parametrize(
    ("path", "ignored"),
    [
        ("tests/lab/server.py", True),
        ("bench/run.py", True),
        (".venv/bin/python", True),
        ("build/dist/x.tar.gz", True),
        ("Makefile", True),
        ("plugins/modules/data_mover.py", False),
        ("tests/unit/test_collection_layout.py", True),
        ("roles/offhost_proxy/molecule/default/molecule.yml", True),
        ("roles/offhost_proxy/tasks/main.yml", False),
        (".ansible/collections/ansible_collections/backup/hyperv/galaxy.yml", True),
        ("docs/quickstart.md", False),
    ],
)
def test_build_ignore_keeps_only_the_collection(path, ignored):
    patterns = load_yaml("galaxy.yml")["build_ignore"]
    assert is_ignored(path, patterns) is ignored


def test_staged_files_exclude_ignored_paths():
    patterns = load_yaml("galaxy.yml")["build_ignore"]
    staged = collection_files(REPO_ROOT, patterns)
    assert "galaxy.yml" in staged
    assert not [f for f in staged if f.startswith(("tests/lab/", "bench/", ".venv/"))]


def test_action_groups_name_existing_plugins():
    runtime = load_yaml("meta/runtime.yml")
    for group, members in runtime["action_groups"].items():
        for member in members:
            documented = REPO_ROOT / "plugins" / "modules" / f"{member}.py"
            action = REPO_ROOT / "plugins" / "action" / f"{member}.py"
            assert documented.is_file() and action.is_file(), (group, member)


def test_requirements_cover_the_named_dependencies():
    names = {
        line.split(">")[0].split("=")[0].split("<")[0].strip().lower()
        for line in (REPO_ROOT / "requirements.txt").read_text().splitlines()
        if line and not line.startswith("#")
    }
    assert {"ansible-core", "pypsrp", "pywinrm", "jmespath", "zstandard", "blake3", "cryptography"} <= names
