"""Make this checkout importable as ``ansible_collections.backup.hyperv`` for pytest.

Ansible imports collection code through the ``ansible_collections`` namespace, so the tests do
the same: a symlink ``build/collections/ansible_collections/backup/hyperv`` points at the
checkout, and ``build/collections`` goes on ``sys.path`` before any test module is imported.
"""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
COLLECTIONS_ROOT = REPO_ROOT / "build" / "collections"


def _link_collection() -> None:
    link = COLLECTIONS_ROOT / "ansible_collections" / "backup" / "hyperv"
    link.parent.mkdir(parents=True, exist_ok=True)
    if not link.is_symlink():
        with contextlib.suppress(FileExistsError):  # another xdist worker made it first
            os.symlink(REPO_ROOT, link, target_is_directory=True)
    if str(COLLECTIONS_ROOT) not in sys.path:
        sys.path.insert(0, str(COLLECTIONS_ROOT))


_link_collection()
