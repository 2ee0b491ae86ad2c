"""Patched chunks (store/patches.py): the model, laying pieces over pieces, and the chunk list encoding.

The reference for every content check is a plain byte array the pieces are written into in order, as the disk
saw the writes: a patch must always assemble to exactly that.
"""

from __future__ import annotations

import random
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ansible_collections.backup.hyperv.plugins.module_utils.datamover.base.errors import CorruptionError
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.chunk_runs import ChunkList
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.constants import (
    KIND_DATA,
    KIND_PATCHED,
    KIND_ZERO,
)
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.patches import (
    MAX_EXTENTS,
    Extent,
    Patch,
    assemble,
    decode_patch,
    encode_patch,
)
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.snapshot import (
    PATCHES_ENCODING,
    RUNS_ENCODING,
    decode_chunk_lists,
    encode_chunk_lists,
)

CHUNK = 4096
ID = struct.Struct("<32s")


def _id(number: int) -> bytes:
    return number.to_bytes(32, "little")


def _spans(draw_list):
    """Sorted, apart [start, end) spans inside a chunk from pairs of cut points."""
    spans, at = [], 0
    for gap, length in draw_list:
        start = at + gap
        if start + length > CHUNK:
            break
        spans.append((start, start + length))
        at = start + length
    return spans


SPAN_LISTS = st.lists(st.tuples(st.integers(0, 700), st.integers(1, 900)), max_size=6).map(_spans)


@settings(max_examples=300, deadline=None)
@given(st.lists(SPAN_LISTS, min_size=1, max_size=6), st.booleans(), st.integers(0, 2**32))
def test_pieces_laid_over_pieces_assemble_to_the_disk_as_written(generations, zero_base, seed):
    """Each generation writes its pieces; the patch of every generation laid over the last assembles to the
    bytes the writes left, and trims older extents instead of rereading them."""
    rng = random.Random(seed)
    blobs = {}
    base = None if zero_base else _id(0)
    if base is not None:
        blobs[base] = rng.randbytes(CHUNK)
    disk = bytearray(blobs[base]) if base is not None else bytearray(CHUNK)
    patch = Patch(base, ())
    for generation, spans in enumerate(generations, start=1):
        pieces = []
        for number, (start, end) in enumerate(spans):
            data = rng.randbytes(end - start) if number % 3 else bytes(end - start)  # some pieces all zero
            blob = None if not any(data) else _id(generation * 100 + number + 1)
            if blob is not None:
                blobs[blob] = data
            pieces.append(Extent(start, end - start, blob))
            disk[start:end] = data
        patch = patch.over(pieces)
        assert assemble(patch, CHUNK, blobs.__getitem__) == disk
        starts = [e.start for e in patch.extents]
        assert starts == sorted(starts) and all(a.end <= b.start for a, b in zip(patch.extents, patch.extents[1:]))
        if patch.extents:  # a generation that wrote nothing leaves no patch to record
            decoded, end = decode_patch(memoryview(encode_patch(patch)), 0, CHUNK, "t")
            assert decoded == patch and end == len(encode_patch(patch))


def test_a_patch_fits_while_it_covers_at_most_half_its_chunk_in_few_extents():
    half = Patch(None, (Extent(0, CHUNK // 2, _id(1)),))
    assert half.fits(CHUNK) and not half.over([Extent(CHUNK - 1, 1, _id(2))]).fits(CHUNK)
    many = Patch(_id(9), tuple(Extent(2 * n, 1, _id(n + 1)) for n in range(MAX_EXTENTS + 1)))
    assert not many.fits(CHUNK) and Patch(_id(9), many.extents[:MAX_EXTENTS]).fits(CHUNK)
    assert not Patch(_id(9), ()).fits(CHUNK)  # nothing laid over: a plain chunk, not a patch


def test_blob_ids_name_the_base_and_every_stored_extent():
    patch = Patch(_id(1), (Extent(0, 10, _id(2)), Extent(10, 5, None), Extent(20, 5, _id(3), 7)))
    assert list(patch.blob_ids()) == [_id(1), _id(2), _id(3)]
    assert list(Patch(None, (Extent(0, 1, None),)).blob_ids()) == []


def test_assemble_refuses_a_base_or_blob_that_does_not_fit():
    blobs = {_id(1): bytes(CHUNK - 1), _id(2): b"abc"}
    with pytest.raises(CorruptionError, match="base of a patched chunk has 4095 bytes"):
        assemble(Patch(_id(1), (Extent(0, 1, None),)), CHUNK, blobs.__getitem__)
    with pytest.raises(CorruptionError, match="needs bytes 2\\+2 of a 3-byte blob"):
        assemble(Patch(None, (Extent(0, 2, _id(2), 2),)), CHUNK, blobs.__getitem__)
    with pytest.raises(CorruptionError, match="past the chunk's 100 bytes"):  # the short last chunk of a stream
        assemble(Patch(None, (Extent(90, 20, None),)), 100, blobs.__getitem__)


def _extent(start, length, offset=0, flag=1) -> bytes:
    return struct.pack("<IIIB", start, length, offset, flag) + (_id(5) if flag == 1 else b"")


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (struct.pack("<BH", 0, 0), "without extents"),
        (struct.pack("<BH", 2, 1) + _extent(0, 1), "bad flag 2"),
        (struct.pack("<BH", 0, 1) + _extent(0, 1, flag=3), "bad flag 3"),
        (struct.pack("<BH", 0, 1) + _extent(0, 0), "bad extent at 0\\+0"),
        (struct.pack("<BH", 0, 1) + _extent(CHUNK - 1, 2), "bad extent at 4095\\+2"),
        (struct.pack("<BH", 0, 2) + _extent(10, 10) + _extent(15, 1), "bad extent at 15\\+1"),
        (struct.pack("<BH", 1, 1) + _id(1)[:20], "truncated"),
        (struct.pack("<BH", 0, 2) + _extent(0, 1), "truncated"),
    ],
)
def test_a_damaged_patch_is_refused(payload, reason):
    with pytest.raises(CorruptionError, match=reason):
        decode_patch(memoryview(payload), 0, CHUNK, "t")


def _stream_encoding(payload: bytes) -> int:
    return struct.unpack_from("<QII", payload, 4)[2]


def test_a_list_with_patches_round_trips_and_one_without_keeps_the_older_encoding():
    chunks = ChunkList(10 * CHUNK + 100, CHUNK)
    for number in range(11):
        chunks.set(number, KIND_DATA, _id(number + 1))
    plain = encode_chunk_lists([chunks])
    assert _stream_encoding(plain) == RUNS_ENCODING  # readable by versions that predate patches
    patches = {3: Patch(_id(4), (Extent(8, 16, _id(40)),)), 4: Patch(None, (Extent(0, 1, None),))}
    patches[10] = Patch(_id(11), (Extent(0, 100, _id(41)),))  # the short last chunk
    for number, patch in patches.items():
        chunks.set(number, KIND_PATCHED, patch=patch)
    chunks.set(5, KIND_ZERO)
    encoded = encode_chunk_lists([chunks])
    assert _stream_encoding(encoded) == PATCHES_ENCODING
    (decoded,) = decode_chunk_lists(encoded, "t")
    assert (
        list(decoded.runs())
        == list(chunks.runs())
        == [
            (0, 3, KIND_DATA),
            (3, 5, KIND_PATCHED),
            (5, 6, KIND_ZERO),
            (6, 10, KIND_DATA),
            (10, 11, KIND_PATCHED),
        ]
    )
    assert {n: decoded.reference_of(n) for n in patches} == patches
    assert decoded.id_of(3) is None and decoded.id_of(6) == _id(7) and decoded.reference_of(5) is None
    assert [n for n, _ref in decoded.stored_chunks()] == [0, 1, 2, 3, 4, 6, 7, 8, 9, 10]
    refs = list(decoded.blob_refs())
    assert (3, _id(4)) in refs and (3, _id(40)) in refs and (10, _id(41)) in refs and (5, _id(6)) not in refs
    assert list(decoded.stored_runs()) == [(0, 3), (3, 5), (6, 10), (10, 11)]


def test_a_patched_chunk_set_again_as_data_is_data():
    chunks = ChunkList(4 * CHUNK, CHUNK)
    chunks.set(1, KIND_PATCHED, patch=Patch(None, (Extent(0, 1, None),)))
    chunks.set(1, KIND_DATA, _id(2))
    assert chunks.reference_of(1) == _id(2) and chunks.count_of(KIND_PATCHED) == 0
    with pytest.raises(ValueError, match="needs its patch"):
        chunks.set(2, KIND_PATCHED)


def test_patched_runs_are_refused_in_the_encoding_without_patches():
    table = struct.pack("<Q", 1) + struct.pack("<QB", 1, KIND_PATCHED)
    payload = struct.pack("<I", 1) + struct.pack("<QII", CHUNK, CHUNK, RUNS_ENCODING) + table
    with pytest.raises(CorruptionError, match="bad run at chunk 0"):
        decode_chunk_lists(payload, "t")


def _valid_payload() -> bytes:
    chunks = ChunkList(6 * CHUNK + 100, CHUNK)
    chunks.set(0, KIND_DATA, _id(1))
    chunks.set(2, KIND_PATCHED, patch=Patch(_id(2), (Extent(8, 16, _id(3), 4), Extent(100, 1, None))))
    chunks.set(3, KIND_PATCHED, patch=Patch(None, (Extent(0, 4000, _id(4)),)))
    chunks.set(6, KIND_PATCHED, patch=Patch(_id(5), (Extent(0, 50, _id(6)),)))
    return encode_chunk_lists([chunks])


@settings(max_examples=400, deadline=None)
@given(st.data())
def test_a_damaged_list_with_patches_is_refused_as_corruption_or_read_whole(data):
    """Any byte changed or cut in a list with patches gives a CorruptionError or a list whose every patch
    decodes; never another error (the envelope's digest catches damage first: this is the decoder's own guard)."""
    payload = bytearray(_valid_payload())
    if data.draw(st.booleans()):
        at = data.draw(st.integers(0, len(payload) - 1))
        payload[at] = data.draw(st.integers(0, 255))
    else:
        del payload[data.draw(st.integers(0, len(payload) - 1)) :]
    try:
        streams = decode_chunk_lists(bytes(payload), "fuzz")
    except CorruptionError:
        return
    for stream in streams:
        assert all(isinstance(ref, (bytes, Patch)) for _n, ref in stream.stored_chunks())
