"""Import the collection from this checkout, the way `bin/hyperv-datamover` finds it.

The lab emulates Windows hosts and never depends on the collection for its protocol work, but
where it must agree with the collection's own definitions (the engine it runs as a proxy's data
mover, the facts document's section names) it imports them instead of restating them.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

REPO_ROOT = Path(__file__).resolve().parents[2]
LAUNCHER = REPO_ROOT / "bin" / "hyperv-datamover"


class CheckoutImportError(RuntimeError):
    """The collection module came from somewhere else than this checkout."""


def _put_collections_root_on_path() -> None:
    loader = importlib.machinery.SourceFileLoader("lab_hyperv_datamover_launcher", str(LAUNCHER))
    spec = importlib.util.spec_from_loader(loader.name, loader)
    launcher = importlib.util.module_from_spec(spec)
    loader.exec_module(launcher)
    root = str(launcher.collections_root(LAUNCHER, {}))
    if root not in sys.path:
        sys.path.insert(0, root)


def collection_module(dotted: str) -> ModuleType:
    """``ansible_collections.backup.hyperv.<dotted>``, refused unless it is this checkout's file."""
    _put_collections_root_on_path()
    module = importlib.import_module(f"ansible_collections.backup.hyperv.{dotted}")
    if not Path(module.__file__).resolve().is_relative_to(REPO_ROOT):
        raise CheckoutImportError(f"lab: {dotted} was imported from {module.__file__}, not from {REPO_ROOT}")
    return module
