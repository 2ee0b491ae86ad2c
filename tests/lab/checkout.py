"""The collection of this checkout, importable as `ansible_collections.backup.hyperv`.

The lab emulates Windows hosts and never depends on the collection for its protocol work, but
where it must agree with the collection's own definitions (the engine it runs as a proxy's data
mover, the facts document's section names, the scripts' `#include` rule) it imports them instead
of restating them, with ordinary imports. `lab/__init__.py` calls `put_collections_root_on_path()`
first, so every module of the lab can import from `ansible_collections.backup.hyperv`; the root is
the one `bin/hyperv-datamover` finds for this checkout. `from_checkout` refuses a module that came
from another copy of the collection (an installed one found first).
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

REPO_ROOT = Path(__file__).resolve().parents[2]
LAUNCHER = REPO_ROOT / "bin" / "hyperv-datamover"


class CheckoutImportError(RuntimeError):
    """The collection module came from somewhere else than this checkout."""


def put_collections_root_on_path() -> None:
    """Put the launcher's collections root for this checkout first on sys.path (the launcher is loaded by path)."""
    loader = importlib.machinery.SourceFileLoader("lab_hyperv_datamover_launcher", str(LAUNCHER))
    spec = importlib.util.spec_from_loader(loader.name, loader)
    launcher = importlib.util.module_from_spec(spec)
    loader.exec_module(launcher)
    root = str(launcher.collections_root(LAUNCHER, {}))
    if root not in sys.path:
        sys.path.insert(0, root)


def from_checkout(module: ModuleType) -> ModuleType:
    """`module` itself, refused unless it is this checkout's file."""
    if not Path(module.__file__).resolve().is_relative_to(REPO_ROOT):
        raise CheckoutImportError(f"lab: {module.__name__} was imported from {module.__file__}, not from {REPO_ROOT}")
    return module
