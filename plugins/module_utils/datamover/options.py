"""Option values shared by the module, the command line and job files: sizes, changed ranges, encryption.

Each parser turns what a user wrote into what the engine takes, or raises a DataMoverError naming the
option and the bad value.
"""

from __future__ import annotations

import os
import re
from typing import Any, Dict, Mapping, Optional, Sequence, Tuple

from ansible_collections.backup.hyperv.plugins.module_utils.datamover.base.errors import DataMoverError
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


def parse_changed_ranges(value: Optional[Mapping[str, Any]]) -> Optional[Dict[str, Tuple[Tuple[int, int], ...]]]:
    """``{path: [{offset, length} | [offset, length], ...]}`` -> ``{path: ((offset, length), ...)}``."""
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise DataMoverError("changed_ranges must map each source path to a list of {offset, length}")
    return {str(path): tuple(_range_pair(item, path) for item in items or []) for path, items in value.items()}


def ranges_by_source(ranges: Optional[Mapping[str, Any]], sources: Sequence[str]) -> Optional[Dict[str, Any]]:
    """Key each range list by the source it names (same string, same real path, or same file name).

    A key that names no source is an error: silently reading that disk in full would hide the mistake.
    """
    if ranges is None:
        return None
    by_real = {os.path.realpath(source): source for source in sources}
    by_name = {os.path.basename(source): source for source in sources}
    keyed = {}
    for key, items in ranges.items():
        source = key if key in sources else by_real.get(os.path.realpath(key)) or by_name.get(key)
        if source is None:
            raise DataMoverError(f"changed_ranges names {key}, which is not one of the sources")
        keyed[source] = items
    return keyed


def refuse_plaintext_with_passphrase(repository: str, encryption: Optional[str], passphrase: Optional[str]) -> None:
    """``encryption: none`` plus a passphrase is a contradiction when a repository is about to be created."""
    creating = not os.path.exists(os.path.join(repository, CONFIG_FILE))
    if creating and encryption == "none" and passphrase:
        raise DataMoverError("encryption is 'none' but a passphrase was given: choose a cipher or drop the passphrase")
