"""The frozen format constants: derived magic numbers and fixed header sizes."""

from __future__ import annotations

import hashlib

import pytest

from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store import constants as C


@pytest.mark.parametrize(
    ("value", "name"),
    [
        (C.PACK_MAGIC, "pack"),
        (C.PACK_TRAILER_MAGIC, "pack trailer"),
        (C.INDEX_MAGIC, "index"),
        (C.POINT_MAGIC, "restore point"),
        (C.CHUNK_LIST_MAGIC, "chunk list"),
    ],
)
def test_magic_numbers_follow_their_derivation(value, name):
    assert value == hashlib.sha256(f"backup.hyperv datamover {name} v1".encode()).digest()[:8]


def test_fixed_structures_have_their_documented_sizes():
    assert C.PACK_HEADER.size == C.PACK_HEADER_SIZE == 32
    assert C.PACK_ENTRY.size == C.PACK_ENTRY_SIZE == 56
    assert C.PACK_TRAILER.size == C.PACK_TRAILER_SIZE == 64
    assert C.ENVELOPE_HEADER.size == C.ENVELOPE_HEADER_SIZE == 32
    assert C.INDEX_ENTRY.size == C.INDEX_ENTRY_SIZE == 56
    assert C.INDEX_HEADER.size == 8 and C.STREAM_HEADER.size == 16


def test_chunk_sizes_and_levels():
    sizes = [C.MIN_CHUNK_SIZE, C.DEFAULT_CHUNK_SIZE, C.MAX_CHUNK_SIZE]
    assert sizes == [256 << 10, 1 << 20, 8 << 20] and all(s & (s - 1) == 0 for s in sizes)
    assert C.COMPRESSION_LEVELS == {"none": 0, "fast": 1, "default": 3, "high": 9}
    assert len({C.KIND_DATA, C.KIND_ZERO, C.KIND_UNALLOCATED}) == 3
