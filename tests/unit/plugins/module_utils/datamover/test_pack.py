"""Pack writer/reader pair, entry tables and the index and chunk list encodings."""

from __future__ import annotations

import os

import pytest

from ansible_collections.backup.hyperv.plugins.module_utils.datamover.base.errors import (
    CorruptionError,
    WriterClosedError,
)
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.constants import KIND_DATA, KIND_ZERO
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.crypto import Sealer
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.index import (
    Index,
    decode_index,
    encode_index,
)
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.pack import (
    PackEntry,
    PackWriter,
    read_pack_entries,
)
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.snapshot import (
    ChunkList,
    decode_chunk_lists,
    encode_chunk_lists,
)


def _write_pack(tmp_path, sealer=None, blobs=3):
    (tmp_path / "tmp").mkdir(exist_ok=True)
    pack_id = os.urandom(16)
    final = tmp_path / "packs" / (pack_id.hex() + ".pack")
    writer = PackWriter(str(tmp_path / "tmp"), str(final), pack_id, sealer)
    for n in range(blobs):
        writer.add(bytes([n]) * 32, b"blob%d" % n * (n + 1), 100 + n, n % 2)
    return final, pack_id, writer.finish(), writer


@pytest.mark.parametrize("sealer", [None, Sealer("aes-256-gcm", bytes(32))])
def test_pack_entries_round_trip_through_the_trailer(tmp_path, sealer):
    final, _ignored, entries, writer = _write_pack(tmp_path, sealer)
    assert read_pack_entries(str(final), sealer) == entries
    data = final.read_bytes()
    assert data[entries[1].offset : entries[1].offset + entries[1].stored_length] == b"blob1blob1"
    assert not list((tmp_path / "tmp").iterdir())  # the temporary file was renamed into place
    with pytest.raises(WriterClosedError):
        writer.add(b"x" * 32, b"late", 4, 0)


def test_damaged_trailer_or_table_is_detected(tmp_path):
    final, _ignored, _ignored, _ignored = _write_pack(tmp_path)
    data = bytearray(final.read_bytes())
    data[-70] ^= 1  # inside the entry table
    final.write_bytes(bytes(data))
    with pytest.raises(CorruptionError, match="entry table"):
        read_pack_entries(str(final), None)
    final.write_bytes(bytes(data[:-1]))
    with pytest.raises(CorruptionError, match="trailer"):
        read_pack_entries(str(final), None)


def test_encrypted_table_needs_the_right_key(tmp_path):
    final, _ignored, _ignored, _ignored = _write_pack(tmp_path, Sealer("aes-256-gcm", bytes(32)))
    with pytest.raises(CorruptionError):
        read_pack_entries(str(final), Sealer("aes-256-gcm", b"\x01" * 32))


def test_index_encoding_round_trip_and_lookup(tmp_path):
    _ignored, pack_id, entries, _ignored = _write_pack(tmp_path, blobs=4)
    decoded = decode_index(encode_index({pack_id: entries}), "test")
    assert decoded == {pack_id: entries}
    index = Index()
    index.add_pack(pack_id, entries)
    location = index.lookup(entries[2].chunk_id)
    assert (location.pack_id, location.offset, location.stored_length) == (
        pack_id,
        entries[2].offset,
        len(b"blob2" * 3),
    )
    assert (location.raw_length, location.flags) == (102, 0) and index.lookup(b"?" * 32) is None
    assert index.by_pack() == {pack_id: entries}


def test_chunk_list_encoding_keeps_kinds_ids_and_short_last_chunk():
    first = ChunkList(5 * 1000 + 17, 1000)
    first.set(0, KIND_DATA, b"a" * 32)
    first.set(2, KIND_ZERO)
    first.set(5, KIND_DATA, b"b" * 32)
    second = ChunkList(0, 4096)
    decoded = decode_chunk_lists(encode_chunk_lists([first, second]), "test")
    assert [list(d.runs()) for d in decoded] == [list(first.runs()), []]
    assert list(decoded[0].data_chunks()) == [(0, b"a" * 32), (5, b"b" * 32)]
    assert decoded[0].chunk_range(5) == (5000, 17)
    with pytest.raises(CorruptionError):
        decode_chunk_lists(encode_chunk_lists([first])[:-1], "test")


def test_index_grows_keeps_every_entry_and_replaces_moved_chunks():
    index = Index()
    entries = [PackEntry(os.urandom(32), 32 + n, n + 1, n + 2, n % 2) for n in range(30_000)]  # forces growth
    index.add_pack(b"p" * 16, entries)
    assert len(index) == 30_000 and all(e.chunk_id in index for e in entries[::97])
    moved = entries[123]._replace(offset=999)
    index.add_pack(b"q" * 16, [moved])
    assert len(index) == 30_000 and index.lookup(moved.chunk_id)[:2] == (b"q" * 16, 999)
    straddle = entries[0].chunk_id[16:] + entries[1].chunk_id[:16]  # bytes that occur across two records
    assert straddle not in index and len(index.by_pack()[b"p" * 16]) == 29_999
