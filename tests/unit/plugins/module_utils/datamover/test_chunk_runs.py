"""Chunk lists held as runs (store/chunk_runs.py), their encodings (store/snapshot.py) and span arithmetic
(store/spans.py), each checked against the plain model: one kind and one id per chunk, one flag per chunk."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ansible_collections.backup.hyperv.plugins.module_utils.datamover.base.errors import CorruptionError
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store import chunk_runs
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.constants import (
    KIND_DATA,
    KIND_PATCHED,
    KIND_UNALLOCATED,
    KIND_ZERO,
)
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.patches import Extent, Patch
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.snapshot import (
    ChunkList,
    decode_chunk_lists,
    encode_chunk_lists,
)
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.spans import (
    complement,
    contains,
    intersection,
    merged,
    total,
)

D, Z, U, P = KIND_DATA, KIND_ZERO, KIND_UNALLOCATED, KIND_PATCHED
TiB = 1 << 40
SETS = st.lists(st.tuples(st.integers(0, 39), st.sampled_from([D, Z, U, P]), st.integers(1, 255)), max_size=120)


def patch_of(byte: int) -> Patch:
    """A patch told apart by ``byte``: its base (None for odd bytes) and one extent."""
    return Patch(None if byte % 2 else bytes([byte]) * 32, (Extent(byte, 7, bytes([byte ^ 1]) * 32, byte),))


def model_of(count: int, sets: list) -> list:
    """(kind, id or patch or None) of every chunk after ``sets`` of (number, kind, id byte), applied in order."""
    model = [(U, None)] * count
    for number, kind, byte in sets:
        if number < count:
            model[number] = (kind, bytes([byte]) * 32 if kind == D else patch_of(byte) if kind == P else None)
    return model


def listed(chunks: ChunkList) -> list:
    return [(chunks.kind_of(n), chunks.reference_of(n)) for n in range(chunks.count)]


@settings(max_examples=150, deadline=None)
@given(SETS, st.integers(1, 40), st.integers(1, 5))
def test_runs_hold_what_setting_each_chunk_holds(sets, count, limit):
    """Entries set in any order, merged in batches of any size, read back as the per-chunk model says."""
    chunks = ChunkList(count * 1000 - 1, 1000)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(chunk_runs, "PENDING_LIMIT", limit)
        for number, kind, byte in sets:
            if number < count:
                chunks.set(number, kind, bytes([byte]) * 32, patch_of(byte) if kind == P else None)
    model = model_of(count, sets)
    assert listed(chunks) == model
    assert list(chunks.data_chunks()) == [(n, chunk_id) for n, (kind, chunk_id) in enumerate(model) if kind == D]
    runs = list(chunks.runs())
    assert (
        runs[0][0] == 0 and runs[-1][1] == count and all(a[1] == b[0] and a[2] != b[2] for a, b in zip(runs, runs[1:]))
    )
    assert chunks.count_of(Z) == sum(kind == Z for kind, _ in model)
    short = 1 if model[-1][0] == D else 0  # the last chunk is one byte short
    assert chunks.covered_bytes(D) == 1000 * sum(kind == D for kind, _ in model) - short
    again = decode_chunk_lists(encode_chunk_lists([chunks]), "test")[0]
    assert listed(again) == model


def test_entries_are_clipped_to_the_span_asked_and_a_copy_keeps_the_ids():
    chunks = ChunkList.of_entries(10_000, 1000, [(2, 5, D, b"a" * 32 + b"b" * 32 + b"c" * 32), (7, 8, Z, None)])
    assert list(chunks.entries(3, 8)) == [(3, 5, D, b"b" * 32 + b"c" * 32), (5, 7, U, None), (7, 8, Z, None)]
    copy = ChunkList.of_entries(10_000, 1000, chunks.entries(0, 10))
    chunks.set(3, Z)
    assert copy.id_of(3) == b"b" * 32 and chunks.id_of(3) is None and chunks.kind_of(3) == Z


def test_a_64_tib_disk_holding_little_costs_a_few_runs_in_memory_and_on_disk():
    chunks = ChunkList(64 * TiB, 1 << 20)
    for number in (0, 1, 3 << 20, chunks.count - 1):
        chunks.set(number, D, bytes([number % 251]) * 32)
    assert len(list(chunks.runs())) == 5
    encoded = encode_chunk_lists([chunks])
    assert len(encoded) == 4 + 16 + 8 + 5 * 9 + 4 * 32  # count, header, run count, 5 runs, 4 ids
    assert list(decode_chunk_lists(encoded, "big")[0].data_chunks()) == list(chunks.data_chunks())


def kinds_encoding(size: int, chunk_size: int, kinds: bytes, ids: bytes) -> bytes:
    """One stream as points were written before runs: a kind byte per chunk (encoding 0), then the DATA ids."""
    return struct.pack("<I", 1) + struct.pack("<QII", size, chunk_size, 0) + kinds + ids


def test_points_written_with_a_kind_byte_per_chunk_are_still_read():
    payload = kinds_encoding(5017, 1000, bytes([D, U, Z, Z, U, D]), b"a" * 32 + b"b" * 32)
    (chunks,) = decode_chunk_lists(payload, "old")
    assert list(chunks.runs()) == [(0, 1, D), (1, 2, U), (2, 4, Z), (4, 5, U), (5, 6, D)]
    assert list(chunks.data_chunks()) == [(0, b"a" * 32), (5, b"b" * 32)] and chunks.chunk_range(5) == (5000, 17)
    assert encode_chunk_lists([chunks]) != payload  # written again, it is written as runs
    with pytest.raises(CorruptionError, match="truncated"):
        decode_chunk_lists(payload[:-1], "old")


@pytest.mark.parametrize(
    ("runs", "reason"),
    [
        ([(3, D)], "covers 3 of its 4"),  # the runs stop short of the grid
        ([(4, Z), (1, U)], "bad run"),  # past its end
        ([(0, Z), (4, Z)], "bad run"),  # an empty run
        ([(4, 7)], "bad run"),  # no such kind
    ],
)
def test_a_run_table_that_does_not_cover_the_grid_exactly_is_refused(runs, reason):
    table = struct.pack("<Q", len(runs)) + b"".join(struct.pack("<QB", length, kind) for length, kind in runs)
    ids = b"x" * 32 * sum(length for length, kind in runs if kind == D)
    payload = struct.pack("<I", 1) + struct.pack("<QII", 4000, 1000, 1) + table + ids
    with pytest.raises(CorruptionError, match=reason):
        decode_chunk_lists(payload, "bad")


def test_an_unknown_encoding_is_refused():
    with pytest.raises(CorruptionError, match="unknown encoding 3"):
        decode_chunk_lists(struct.pack("<I", 1) + struct.pack("<QII", 4000, 1000, 3), "new")


SPANS = st.lists(st.tuples(st.integers(0, 30), st.integers(0, 30)), max_size=8)


@settings(max_examples=300, deadline=None)
@given(SPANS, SPANS)
def test_span_arithmetic_is_set_arithmetic(first, second):
    def members(spans):
        return {n for start, end in spans for n in range(start, end)}

    one, other = merged(first), merged(second)
    assert members(one) == members(first) and all(a[1] < b[0] for a, b in zip(one, one[1:]))
    assert members(complement(one, 31)) == set(range(31)) - members(one)
    assert members(intersection(one, other)) == members(one) & members(other)
    assert total(one) == len(members(one))
    assert all(contains(one, n) == (n in members(one)) for n in range(32))
