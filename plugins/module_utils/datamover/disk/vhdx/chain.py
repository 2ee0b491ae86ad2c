"""Differencing chains: where a child's parent is, and whether the file found there is that parent.

A differencing disk names its parent in a *parent locator* (MS-VHDX 2.6.2.6): a relative path, absolute
Windows paths, and the parent's data write GUID (``parent_linkage``, or ``parent_linkage2``). Hyper-V
looks up the relative path first. A parent whose data write GUID differs was modified or replaced
after the child was made, and is refused.
"""

from __future__ import annotations

import os
import uuid
from typing import Dict, List, Optional, Sequence

from ansible_collections.backup.hyperv.plugins.module_utils.datamover.disk.source import SourceError
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.disk.vhdx import structures as fmt

MAX_CHAIN_DEPTH = 64
Locator = Dict[str, str]


def parent_locator(path: str, value: bytes) -> Locator:
    """The parsed parent locator of a differencing disk, or SourceError."""
    locator = fmt.parse_parent_locator(value)
    if locator is None:
        raise SourceError(f"{path}: differencing disk without a valid parent locator")
    return locator


def find_parent(path: str, locator: Locator, chain: Sequence[str], named: Optional[str] = None) -> str:
    """The parent file of ``path``: the one its host ``named``, else the first the locator leads to; ``chain``
    holds the real paths of ``path`` and its children."""
    if len(chain) > MAX_CHAIN_DEPTH:
        raise SourceError(f"{path}: differencing chain deeper than {MAX_CHAIN_DEPTH} disks")
    candidates = [named] if named else _parent_candidates(path, locator)
    found = [candidate for candidate in map(_existing_file, candidates) if candidate is not None]
    if not found:
        how = "as its host names it" if named else "tried"
        raise SourceError(f"{path}: parent disk not found ({how}: {', '.join(candidates) or 'no path'})")
    if os.path.realpath(found[0]) in chain:
        raise SourceError(f"{path}: differencing chain loops back to {found[0]}")
    return found[0]


def check_linkage(path: str, locator: Locator, parent_path: str, parent_data_write: uuid.UUID) -> None:
    """Refuse a parent whose data write GUID is not the one the child's locator names."""
    expected = {_guid(locator.get(key, "")) for key in ("parent_linkage", "parent_linkage2")} - {None}
    if parent_data_write not in expected:
        raise SourceError(
            f"{path}: parent {parent_path} does not match (linkage {locator.get('parent_linkage')}, "
            f"parent data write GUID {{{parent_data_write}}}): the parent was modified or replaced"
        )


def _guid(text: str) -> Optional[uuid.UUID]:
    try:
        return uuid.UUID(text.strip())
    except ValueError:
        return None


def _parent_candidates(child: str, locator: Locator) -> List[str]:
    """Where the parent may be: the relative path (from the child's folder) first, then the absolute paths."""
    folder = os.path.dirname(os.path.abspath(child))
    candidates = []
    relative = locator.get("relative_path", "").replace("\\", "/")
    if relative:
        candidates.append(os.path.normpath(os.path.join(folder, relative)))
    for key in ("absolute_win32_path", "volume_path"):
        value = locator.get(key, "")
        if value.startswith("/") or (os.sep == "\\" and value):  # Windows paths only mean something on Windows
            candidates.append(value)
    return candidates


def _existing_file(path: str) -> Optional[str]:
    """`path` if it is a file, else a file in the same folder whose name differs only in case (as on Windows)."""
    if os.path.isfile(path):
        return path
    folder, name = os.path.split(path)
    try:
        names = os.listdir(folder or ".")
    except OSError:
        return None
    matches = sorted(entry for entry in names if entry.lower() == name.lower())
    return os.path.join(folder, matches[0]) if matches and os.path.isfile(os.path.join(folder, matches[0])) else None
