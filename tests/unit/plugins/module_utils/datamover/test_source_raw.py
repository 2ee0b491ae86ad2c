"""RawSource and open_disk(): holes via SEEK_DATA/SEEK_HOLE, bounds, read-only opening, clear errors."""

from __future__ import annotations

import os

import pytest
from qemu import MiB, data_ranges_of_raw, file_state, make_raw

from ansible_collections.backup.hyperv.plugins.module_utils.datamover.base.errors import DataMoverError
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.disk.extents import (
    Extent,
    ExtentKind,
    merge_extents,
)
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.disk.raw import RawSource
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.disk.source import SourceError
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.run.opener import open_disk

SIZE = 24 * MiB + 4096
LAYOUT = [(0, MiB, "data"), (2 * MiB, 3 * MiB, "zero"), (9 * MiB + 4096, 8192, "data"), (SIZE - 4096, 4096, "data")]


def test_raw_extents_follow_the_files_holes_like_qemu_map(tmp_path):
    raw = tmp_path / "disk.img"
    content = make_raw(raw, SIZE, LAYOUT)
    with open_disk(str(raw)) as source:
        assert isinstance(source, RawSource)
        shape = (source.format, source.virtual_size, source.block_size, source.logical_sector_size)
        assert shape == ("raw", SIZE, MiB, 512)
        extents = list(source.extents())
        data = [(e.offset, e.offset + e.length) for e in extents if e.kind is ExtentKind.DATA]
        assert data == data_ranges_of_raw(raw)  # qemu-img map: an independent view of the same holes
        assert {e.kind for e in extents} == {ExtentKind.DATA, ExtentKind.UNALLOCATED}
        assert sum(e.length for e in extents) == SIZE
        assert source.read(0, SIZE) == content
        for extent in extents:
            if extent.kind is ExtentKind.UNALLOCATED:
                assert source.read(extent.offset, extent.length) == bytes(extent.length)


def test_fully_sparse_and_empty_files(tmp_path):
    sparse = tmp_path / "sparse.img"
    make_raw(sparse, 8 * MiB, [])
    with open_disk(str(sparse)) as source:
        assert list(source.extents()) == [Extent(0, 8 * MiB, ExtentKind.UNALLOCATED)]
    empty = tmp_path / "empty.img"
    empty.write_bytes(b"")
    with open_disk(str(empty)) as source:
        assert (source.virtual_size, list(source.extents())) == (0, [])


def test_reads_are_bounds_checked(tmp_path):
    raw = tmp_path / "disk.img"
    content = make_raw(raw, 2 * MiB, [(0, 2 * MiB, "data")])
    with open_disk(str(raw)) as source:
        buffer = bytearray(1000)
        source.readinto(2 * MiB - 1000, memoryview(buffer))
        assert buffer == content[-1000:]
        for offset, length in [(-1, 10), (2 * MiB - 10, 11), (2 * MiB + 1, 0), (0, -1)]:
            with pytest.raises(SourceError, match="outside the virtual disk"):
                source.read(offset, length)


def test_opening_never_changes_the_file(tmp_path):
    raw = tmp_path / "disk.img"
    make_raw(raw, SIZE, LAYOUT)
    os.chmod(raw, 0o444)
    before = file_state(raw)
    with open_disk(str(raw)) as source:
        list(source.extents())
        source.read(0, SIZE)
    assert file_state(raw) == before


def test_missing_file_and_directory_name_the_path(tmp_path):
    missing = tmp_path / "nope.vhdx"
    with pytest.raises(SourceError, match=str(missing)) as info:
        open_disk(str(missing))
    assert isinstance(info.value, DataMoverError) and "No such file" in str(info.value)
    with pytest.raises(SourceError, match="not a regular file or block device"):
        open_disk(str(tmp_path))
    with pytest.raises(SourceError, match="not a regular file or block device"):
        open_disk("/dev/null")


def test_close_is_idempotent_and_context_manager_closes(tmp_path):
    raw = tmp_path / "disk.img"
    make_raw(raw, MiB, [(0, 4096, "data")])
    source = open_disk(str(raw))
    fd = source._fd
    with source:
        pass
    source.close()
    with pytest.raises(OSError):
        os.fstat(fd)


def test_merge_extents_joins_same_kind_neighbours_and_drops_empty():
    pieces = [
        Extent(0, 5, ExtentKind.DATA),
        Extent(5, 0, ExtentKind.ZERO),
        Extent(5, 5, ExtentKind.DATA),
        Extent(10, 2, ExtentKind.ZERO),
        Extent(12, 3, ExtentKind.UNALLOCATED),
    ]
    assert list(merge_extents(pieces)) == [
        Extent(0, 10, ExtentKind.DATA),
        Extent(10, 2, ExtentKind.ZERO),
        Extent(12, 3, ExtentKind.UNALLOCATED),
    ]


def test_fifo_is_refused_without_hanging(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(SourceError, match="not a regular file or block device"):
        open_disk(str(fifo))


@pytest.mark.parametrize("name", ["disk.vhdx", "snap.AVHDX"])
def test_vhdx_name_without_signature_is_not_taken_for_raw(tmp_path, name):
    path = tmp_path / name
    make_raw(path, MiB, [(0, 4096, "data")])
    with pytest.raises(SourceError, match="no 'vhdxfile' signature"):
        open_disk(str(path))
