"""Option values shared by the module, the command line and job files: sizes, changed ranges, encryption.

Each parser turns what a user wrote into what the engine takes, or raises a DataMoverError naming the
option and the bad value.
"""

from __future__ import annotations

import os
import re
from typing import Any, Dict, Mapping, Optional, Sequence, Tuple

from ansible_collections.backup.hyperv.plugins.module_utils.datamover.base.errors import DataMoverError
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.run.values import DiskChanges
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.constants import (
    CONFIG_FILE,
    MAX_CHUNK_SIZE,
    MIN_CHUNK_SIZE,
)

_SIZE = re.compile(r"^\s*(\d+)\s*([kmg]?)(?:i?b)?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}


def parse_block_size(value: Any) -> int:
    """Bytes from ``1048576``, ``"1M"``, ``"512KiB"``...; a power of two between 256 KiB and 8 MiB."""
    match = _SIZE.match(str(value))
    if match is None:
        raise DataMoverError(f"block_size {value!r} is not a size such as 1048576, 512K or 1M")
    size = int(match.group(1)) * _UNITS[match.group(2).lower()]
    if not MIN_CHUNK_SIZE <= size <= MAX_CHUNK_SIZE or size & (size - 1):
        raise DataMoverError(f"block_size {value!r} must be a power of two between 256K and 8M")
    return size


def _range_pair(item: Any, path: str) -> Tuple[int, int]:
    pair = (item.get("offset"), item.get("length")) if isinstance(item, Mapping) else item
    if not isinstance(pair, (list, tuple)) or len(pair) != 2:
        raise DataMoverError(f"changed_ranges for {path}: {item!r} is not {{offset, length}} or [offset, length]")
    offset, length = pair
    if not all(isinstance(n, int) and not isinstance(n, bool) for n in pair) or offset < 0 or length <= 0:
        raise DataMoverError(f"changed_ranges for {path}: offset must be >= 0 and length > 0 (got {item!r})")
    return offset, length


CHANGES_KEYS = ("since", "ranges", "reason", "audit")  # the mapping form of one disk's changed ranges


def parse_changed_ranges(value: Optional[Mapping[str, Any]]) -> Optional[Dict[str, DiskChanges]]:
    """``{path: [{offset, length} | [offset, length], ...] | {since, ranges, reason}}`` -> ``{path: DiskChanges}``.

    The list is the ranges alone; the mapping says from which RCT id they run (``since``), or, with ``ranges``
    null, why there are none (``reason``: the disk is read in full)."""
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise DataMoverError("changed_ranges must map each source path to a list of {offset, length}")
    return {str(path): _disk_changes(str(path), item) for path, item in value.items()}


def _disk_changes(path: str, value: Any) -> DiskChanges:
    if value is None:  # as the mapping's ranges null: no ranges, so the disk is read in full
        return DiskChanges(None)
    if not isinstance(value, Mapping):
        return DiskChanges(_ranges(path, value))
    unknown = sorted(set(map(str, value)) - set(CHANGES_KEYS))
    if unknown:
        raise DataMoverError(
            f"changed_ranges for {path}: unknown key(s) {', '.join(unknown)}; allowed: {', '.join(CHANGES_KEYS)}"
        )
    since, reason = value.get("since"), value.get("reason")
    if not all(text is None or (isinstance(text, str) and text) for text in (since, reason)):
        raise DataMoverError(f"changed_ranges for {path}: since and reason are non-empty strings or null")
    ranges, audit = value.get("ranges"), value.get("audit", False)
    if not isinstance(audit, bool):
        raise DataMoverError(f"changed_ranges for {path}: audit is true or false (got {audit!r})")
    return DiskChanges(None if ranges is None else _ranges(path, ranges), since, reason, audit)


def _ranges(path: str, items: Any) -> Tuple[Tuple[int, int], ...]:
    if not isinstance(items, (list, tuple)):
        raise DataMoverError(f"changed_ranges for {path}: {items!r} is not a list of {{offset, length}}")
    return tuple(_range_pair(item, path) for item in items)


def parse_change_ids(value: Optional[Mapping[str, Any]]) -> Optional[Dict[str, str]]:
    """``{path or file name: RCT id}``: the id of each disk to record in the new restore point."""
    if value is None:
        return None
    if not isinstance(value, Mapping) or not all(isinstance(v, str) and v for v in value.values()):
        raise DataMoverError("change_ids must map each disk's path (or file name) to its RCT id, a non-empty string")
    return {str(path): change_id for path, change_id in value.items()}


def parse_parents(value: Optional[Mapping[str, Any]]) -> Optional[Dict[str, Tuple[str, ...]]]:
    """``{path or file name: [parent path, ...]}``: the files of a differencing disk's chain below it, nearest
    first, as its host names them (read instead of looking each parent up from its child's parent locator)."""
    if value is None:
        return None
    if not isinstance(value, Mapping) or not all(_is_path_list(paths) for paths in value.values()):
        raise DataMoverError(
            "parents must map each differencing disk's path (or file name) to a non-empty list of its parents' "
            "paths, nearest first"
        )
    return {str(path): tuple(paths) for path, paths in value.items()}


def _is_path_list(value: Any) -> bool:
    return isinstance(value, (list, tuple)) and bool(value) and all(isinstance(p, str) and p for p in value)


def ranges_by_source(
    ranges: Optional[Mapping[str, Any]], sources: Sequence[str], option: str = "changed_ranges"
) -> Optional[Dict[str, Any]]:
    """Key each value (a disk's ranges, its change id) by the source it names (same string, same real path, or
    same file name).

    A key that names no source is an error: silently reading that disk in full (or not recording its change
    id) would hide the mistake. So are two keys naming one source: one of them would be dropped, and the ranges
    it held never read (a restore point missing changes), or another disk's change id recorded.
    """
    if ranges is None:
        return None
    by_real = {os.path.realpath(source): source for source in sources}
    by_name = {os.path.basename(source): source for source in sources}
    keyed: Dict[str, Any] = {}
    named_as: Dict[str, str] = {}
    for key, items in ranges.items():
        source = key if key in sources else by_real.get(os.path.realpath(key)) or by_name.get(key)
        if source is None:
            raise DataMoverError(f"{option} names {key}, which is not one of the sources")
        if source in keyed:
            raise DataMoverError(
                f"{option} names source {source} twice (as {named_as[source]} and as {key}): give each disk once"
            )
        keyed[source], named_as[source] = items, key
    return keyed


def refuse_plaintext_with_passphrase(repository: str, encryption: Optional[str], passphrase: Optional[str]) -> None:
    """``encryption: none`` plus a passphrase is a contradiction when a repository is about to be created."""
    creating = not os.path.exists(os.path.join(repository, CONFIG_FILE))
    if creating and encryption == "none" and passphrase:
        raise DataMoverError("encryption is 'none' but a passphrase was given: choose a cipher or drop the passphrase")
