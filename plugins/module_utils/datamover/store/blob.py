"""Blobs: how one chunk's plaintext becomes the bytes stored in a pack, and back, with every check.

Encode: compress (if it helps), then seal with the chunk id as associated data when encrypted, so a blob
cannot be swapped for another. Decode: open, decompress, re-hash and compare with the id: bytes that do
not hash to their id are never returned.
"""

from __future__ import annotations

from typing import Optional, Tuple

from ansible_collections.backup.hyperv.plugins.module_utils.datamover.base.errors import CorruptionError
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.compress import Codec
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.constants import BLOB_FLAG_COMPRESSED
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.crypto import Sealer
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.hashing import Digest


def encode_blob(data: bytes, chunk_id: bytes, codec: Codec, sealer: Optional[Sealer]) -> Tuple[bytes, int]:
    stored, compressed = codec.compress(data)
    if sealer is not None:
        stored = sealer.seal(stored, chunk_id)
    return stored, BLOB_FLAG_COMPRESSED if compressed else 0


def decode_blob(
    stored: bytes, chunk_id: bytes, raw_length: int, flags: int, codec: Codec, sealer: Optional[Sealer], digest: Digest
) -> bytes:
    """Return the verified plaintext of a blob or raise CorruptionError."""
    if sealer is not None:
        stored = sealer.open(stored, chunk_id)
    data = codec.decompress(stored, raw_length) if flags & BLOB_FLAG_COMPRESSED else stored
    if len(data) != raw_length:
        raise CorruptionError(f"chunk has {len(data)} bytes, expected {raw_length}")
    if digest(data) != chunk_id:
        raise CorruptionError("chunk content does not match its id (checksum mismatch)")
    return data
