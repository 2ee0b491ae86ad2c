"""Envelopes: the framing of every small repository file (index, restore point, chunk list).

Layout: a 32-byte header (magic, version, flags, payload length), the payload (zstd-compressed plaintext,
then AEAD-sealed when the repository is encrypted, with the header as associated data), and a SHA-256
of header + payload that catches damage before decryption is even tried.
"""

from __future__ import annotations

from typing import Optional

from ansible_collections.backup.hyperv.plugins.module_utils.datamover.base.errors import (
    CorruptionError,
    FormatVersionError,
)
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.compress import require_zstd, zstandard
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.constants import (
    ENVELOPE_COMPRESSION_LEVEL,
    ENVELOPE_DIGEST_SIZE,
    ENVELOPE_FLAG_COMPRESSED,
    ENVELOPE_FLAG_ENCRYPTED,
    ENVELOPE_HEADER,
    ENVELOPE_HEADER_SIZE,
    FORMAT_VERSION,
    NONCE_SIZE,
    TAG_SIZE,
)
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.crypto import Sealer
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.hashing import sha256

RESERVED4 = 0
RESERVED8 = bytes(8)


def seal_envelope(magic: bytes, plaintext: bytes, sealer: Optional[Sealer]) -> bytes:
    """Frame ``plaintext`` as an envelope of kind ``magic``."""
    require_zstd()
    body = zstandard.ZstdCompressor(level=ENVELOPE_COMPRESSION_LEVEL).compress(plaintext)
    flags = ENVELOPE_FLAG_COMPRESSED
    length = len(body)
    if sealer is not None:
        flags |= ENVELOPE_FLAG_ENCRYPTED
        length += NONCE_SIZE + TAG_SIZE
    header = ENVELOPE_HEADER.pack(magic, FORMAT_VERSION, flags, RESERVED4, length, RESERVED8)
    if sealer is not None:
        body = sealer.seal(body, header)
    return header + body + sha256(header + body)


def open_envelope(magic: bytes, data: bytes, sealer: Optional[Sealer], name: str) -> bytes:
    """Check and unframe an envelope; any damage raises CorruptionError naming ``name``."""
    if len(data) < ENVELOPE_HEADER_SIZE + ENVELOPE_DIGEST_SIZE:
        raise CorruptionError(f"{name} is truncated ({len(data)} bytes)")
    header = data[:ENVELOPE_HEADER_SIZE]
    found_magic, version, flags, _ignored, length, _ignored = ENVELOPE_HEADER.unpack(header)
    if found_magic != magic:
        raise CorruptionError(f"{name} is not a file of the expected kind (bad magic)")
    if version > FORMAT_VERSION:
        raise FormatVersionError(f"{name} has format version {version}, newer than this data mover ({FORMAT_VERSION})")
    end = ENVELOPE_HEADER_SIZE + length
    if len(data) != end + ENVELOPE_DIGEST_SIZE or sha256(data[:end]) != data[end:]:
        raise CorruptionError(f"{name} is damaged (checksum mismatch)")
    body = data[ENVELOPE_HEADER_SIZE:end]
    if flags & ENVELOPE_FLAG_ENCRYPTED:
        if sealer is None:
            raise CorruptionError(f"{name} is encrypted but the repository is not")
        body = sealer.open(body, header)
    elif sealer is not None:
        raise CorruptionError(f"{name} is not encrypted but the repository is")
    if flags & ENVELOPE_FLAG_COMPRESSED:
        require_zstd()
        try:
            body = zstandard.ZstdDecompressor().decompress(body)
        except zstandard.ZstdError as exc:
            raise CorruptionError(f"{name} does not decompress: {exc}") from exc
    return body
