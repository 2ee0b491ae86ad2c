"""Chunk ids: a 32-byte hash of a chunk's plaintext, keyed when the repository is encrypted.

Keyed ids (BLAKE3 keyed mode, HMAC-SHA-256) make an id useless to anyone without the key: the same
plaintext in two encrypted repositories gets unrelated ids, so ids reveal nothing about content.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Callable, Optional

from ansible_collections.backup.hyperv.plugins.module_utils.datamover.base.errors import (
    DependencyError,
    RepositoryError,
)
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.constants import HASH_ALGORITHMS

try:
    import blake3 as _blake3
except ImportError as exc:  # the import sanity test runs without third-party packages
    _blake3 = None
    BLAKE3_IMPORT_ERROR: Optional[ImportError] = exc
else:
    BLAKE3_IMPORT_ERROR = None

Digest = Callable[[bytes], bytes]


def make_chunk_hasher(algorithm: str, key: Optional[bytes] = None) -> Digest:
    """Return a thread-safe function ``data -> 32-byte id`` for ``algorithm`` (keyed when ``key`` is given)."""
    if algorithm not in HASH_ALGORITHMS:
        raise RepositoryError(f"unknown hash algorithm {algorithm!r}; choose one of {', '.join(HASH_ALGORITHMS)}")
    if algorithm == "sha256":
        return _sha256(key)
    if _blake3 is None:
        raise DependencyError(f"the blake3 Python package is required for BLAKE3 chunk ids: {BLAKE3_IMPORT_ERROR}")
    return _blake3_digest(key)


def _sha256(key: Optional[bytes]) -> Digest:
    if key is None:
        return lambda data: hashlib.sha256(data).digest()
    return lambda data: hmac.new(key, data, hashlib.sha256).digest()


def _blake3_digest(key: Optional[bytes]) -> Digest:
    hasher = _blake3.blake3
    if key is None:
        return lambda data: hasher(data).digest()
    return lambda data: hasher(data, key=key).digest()


def sha256(data: bytes) -> bytes:
    """Plain SHA-256, used for structural checksums (envelopes, pack tables) whatever the chunk id algorithm."""
    return hashlib.sha256(data).digest()
