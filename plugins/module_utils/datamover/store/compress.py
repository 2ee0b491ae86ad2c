"""zstd compression of chunks with one compressor per thread (zstd contexts are not thread-safe).

Levels: none = store raw, fast = 1, default = 3, high = 9 (``constants.COMPRESSION_LEVELS``). A chunk is
stored compressed only when that saves space; the blob flag says which.
"""

from __future__ import annotations

import threading
from typing import Optional, Tuple

from ansible_collections.backup.hyperv.plugins.module_utils.datamover.base.errors import (
    CorruptionError,
    DataMoverError,
    DependencyError,
)
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.constants import COMPRESSION_LEVELS

try:
    import zstandard
except ImportError as exc:  # the import sanity test runs without third-party packages
    zstandard = None
    ZSTD_IMPORT_ERROR: Optional[ImportError] = exc
else:
    ZSTD_IMPORT_ERROR = None


def compression_level(name: str) -> int:
    """Map a compression name to its zstd level, refusing unknown names."""
    if name not in COMPRESSION_LEVELS:
        raise DataMoverError(f"unknown compression {name!r}; choose one of {', '.join(COMPRESSION_LEVELS)}")
    return COMPRESSION_LEVELS[name]


def require_zstd() -> None:
    if zstandard is None:
        raise DependencyError(f"the zstandard Python package is required: {ZSTD_IMPORT_ERROR}")


class Codec:
    """Compress and decompress chunks; safe to share between threads."""

    def __init__(self, level: int) -> None:
        require_zstd()
        self.level = level
        self._local = threading.local()

    def compress(self, data: bytes) -> Tuple[bytes, bool]:
        """Return ``(stored_bytes, compressed)``; raw bytes when level 0 or when zstd does not shrink them."""
        if self.level == 0:
            return data, False
        compressor = getattr(self._local, "compressor", None)
        if compressor is None:
            compressor = self._local.compressor = zstandard.ZstdCompressor(level=self.level, write_content_size=True)
        packed = compressor.compress(data)
        if len(packed) >= len(data):
            return data, False
        return packed, True

    def decompress(self, data: bytes, raw_length: int) -> bytes:
        """Decompress one zstd frame of known size; malformed input is a CorruptionError."""
        decompressor = getattr(self._local, "decompressor", None)
        if decompressor is None:
            decompressor = self._local.decompressor = zstandard.ZstdDecompressor()
        try:
            out = decompressor.decompress(data, max_output_size=raw_length)
        except zstandard.ZstdError as exc:
            raise CorruptionError(f"compressed data does not decode: {exc}") from exc
        if len(out) != raw_length:
            raise CorruptionError(f"decompressed {len(out)} bytes, expected {raw_length}")
        return out
