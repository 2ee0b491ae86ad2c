#!/usr/bin/env python3
"""Copy the collection's files into ``<dest>/ansible_collections/backup/hyperv``.

ansible-test only runs inside such a tree, and it must see the collection as it ships:
the files git knows about (tracked, or new and not ignored), less galaxy.yml's
``build_ignore`` patterns. The copy is rebuilt from scratch each time so deleted files
do not linger.
"""

from __future__ import annotations

import argparse
import fnmatch
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

REPO_ROOT = Path(__file__).resolve().parent.parent


def build_ignore_patterns(root: Path) -> list[str]:
    galaxy = yaml.safe_load((root / "galaxy.yml").read_text(encoding="utf-8"))
    return list(galaxy.get("build_ignore", []))


def is_ignored(relative: str, patterns: list[str]) -> bool:
    """Mirror ansible-galaxy: a pattern matches the path or any of its parent folders."""
    parts = relative.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    return any(fnmatch.fnmatch(p, pat) or fnmatch.fnmatch(Path(p).name, pat) for p in prefixes for pat in patterns)


def repository_files(root: Path) -> list[str]:
    """The files git knows about under ``root``: tracked, or new and not ignored (some may be deleted)."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=root,
        check=True,
        capture_output=True,
    ).stdout.decode()
    return [f for f in listed.split("\0") if f]


def collection_files(root: Path, patterns: list[str]) -> list[str]:
    return sorted(f for f in repository_files(root) if (root / f).is_file() and not is_ignored(f, patterns))


def stage(dest: Path, extra_ignores: list[str]) -> Path:
    target = dest / "ansible_collections" / "backup" / "hyperv"
    if target.exists():
        shutil.rmtree(target)
    patterns = build_ignore_patterns(REPO_ROOT) + extra_ignores
    for relative in collection_files(REPO_ROOT, patterns):
        destination = target / relative
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO_ROOT / relative, destination)
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dest", type=Path, help="folder to hold ansible_collections/backup/hyperv")
    parser.add_argument("--ignore", action="append", default=[], help="extra pattern to leave out")
    args = parser.parse_args(argv)
    print(stage(args.dest.resolve(), args.ignore))
    return 0


if __name__ == "__main__":
    sys.exit(main())
