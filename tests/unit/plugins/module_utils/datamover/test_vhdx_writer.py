"""VhdxWriter output, judged by qemu-img (check, compare), libvhdi (pyvhdi) and our reader."""

from __future__ import annotations

import os
import random
import time

import pytest
import pyvhdi
from hypothesis import given
from hypothesis import strategies as st
from qemu import MiB, blocks_holding_nonzero, make_raw, pattern, qemu_img, raw_of
from vhdx_oracles import libvhdi_read

from ansible_collections.backup.hyperv.plugins.module_utils.datamover.disk.extents import ExtentKind
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.disk.vhdx.writer import (
    VhdxWriteError,
    VhdxWriter,
    _add_interval,
    set_bits,
)
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.run.opener import open_disk


def copy_image(source_path, target, block_size, sector=512, chunk=MiB):
    """What restore does: 1 MiB chunks in ascending order."""
    with open_disk(str(source_path)) as source:
        writer = VhdxWriter(str(target), source.virtual_size, block_size=block_size, logical_sector_size=sector)
        with writer:
            copy_chunks(source, writer, chunk)


def copy_chunks(source, writer, chunk):
    for offset in range(0, source.virtual_size, chunk):
        writer.write(offset, source.read(offset, min(chunk, source.virtual_size - offset)))


@pytest.mark.parametrize("block_size", [1 * MiB, 32 * MiB])
def test_restore_style_copy_is_identical_for_qemu_and_libvhdi(tmp_path, block_size):
    size = 70 * MiB + 512
    layout = [(0, 8192, "data"), (5 * MiB, 3 * MiB, "zero"), (40 * MiB + 512, MiB, "data"), (size - 512, 512, "data")]
    content = make_raw(tmp_path / "src.img", size, layout)
    target = tmp_path / "out.vhdx"
    copy_image(tmp_path / "src.img", target, block_size)
    assert "No errors were found" in qemu_img("check", "-f", "vhdx", str(target))
    qemu_img("compare", "-f", "raw", "-F", "vhdx", str(tmp_path / "src.img"), str(target))
    assert libvhdi_read(target, size) == content
    with open_disk(str(target)) as source:
        data = [(e.offset, e.offset + e.length) for e in source.extents() if e.kind is ExtentKind.DATA]
        assert data == blocks_holding_nonzero(content, block_size)  # zero chunks were not stored
        assert source.read(0, size) == content
    assert os.stat(target).st_blocks * 512 < 4 * block_size + 8 * MiB  # sparse on disk


def test_random_order_overlapping_writes_keep_the_last_data(tmp_path):
    size = 16 * MiB
    expected = bytearray(size)
    rng = random.Random(7)
    target = tmp_path / "r.vhdx"
    with VhdxWriter(str(target), size, block_size=MiB) as writer:
        for step in range(60):
            offset = rng.randrange(0, size // 512) * 512
            length = min(rng.randrange(1, 600) * 512, size - offset)
            data = bytes(length) if step % 3 == 0 else pattern(f"w{step}", length)
            writer.write(offset, data)
            expected[offset : offset + length] = data
    assert raw_of(target) == expected
    assert libvhdi_read(target, size) == expected


def test_4096_byte_sectors_cross_checked_with_libvhdi(tmp_path):
    size = 48 * MiB
    target = tmp_path / "4k.vhdx"
    data = pattern("4k", 3 * MiB + 8192)
    with VhdxWriter(str(target), size, block_size=2 * MiB, logical_sector_size=4096, physical_sector_size=4096) as w:
        w.write(MiB - 4096, data)
    expected = bytearray(size)
    expected[MiB - 4096 : MiB - 4096 + len(data)] = data
    handle = pyvhdi.file()
    handle.open(str(target))
    assert (handle.get_bytes_per_sector(), handle.get_media_size()) == (4096, size)
    handle.close()
    assert libvhdi_read(target, size) == expected
    with open_disk(str(target)) as source:
        assert (source.logical_sector_size, source.physical_sector_size) == (4096, 4096)
        assert source.read(0, size) == expected
    writer = VhdxWriter(str(tmp_path / "x.vhdx"), size, logical_sector_size=4096)
    with pytest.raises(VhdxWriteError, match="not sector-aligned"):
        writer.write(512, bytes(512))
    writer.close()


def test_sequential_restore_writes_touch_each_byte_once(tmp_path, monkeypatch):
    """No read-modify-write and no double writes: the payload is written exactly once, plus the metadata."""
    written = []
    real_pwrite = os.pwrite  # every write, direct (payload) or through the page cache (metadata), ends here

    def recording(fd, data, offset):
        written.append(len(data))
        return real_pwrite(fd, data, offset)

    monkeypatch.setattr(os, "pwrite", recording)
    monkeypatch.setattr(os, "pread", None)  # the writer never reads back
    size = 96 * MiB
    chunk = bytearray(pattern("speed", MiB))
    started = time.perf_counter()
    with VhdxWriter(str(tmp_path / "fast.vhdx"), size) as writer:
        for offset in range(0, size, MiB):
            chunk[:8] = offset.to_bytes(8, "little")
            writer.write(offset, chunk if offset != 50 * MiB else bytes(MiB))  # one zero chunk: not written
    assert time.perf_counter() - started < 20
    metadata = 64 * 1024 + 2 * 4096 + 2 * 64 * 1024 + MiB + MiB  # identifier, headers, region tables, BAT, metadata
    assert size - MiB <= sum(written) <= size - MiB + metadata
    monkeypatch.undo()
    with open_disk(str(tmp_path / "fast.vhdx")) as source:
        assert source.read(95 * MiB, 8) == (95 * MiB).to_bytes(8, "little")
        assert source.read(50 * MiB, MiB) == bytes(MiB)


def test_bad_arguments_and_use_after_close(tmp_path):
    for kwargs in ({"block_size": 3 * MiB}, {"block_size": 512 * MiB}, {"logical_sector_size": 1024}):
        with pytest.raises(ValueError):
            VhdxWriter(str(tmp_path / "bad.vhdx"), 8 * MiB, **kwargs)
    with pytest.raises(ValueError):
        VhdxWriter(str(tmp_path / "bad.vhdx"), 1000)
    writer = VhdxWriter(str(tmp_path / "ok.vhdx"), 8 * MiB)
    with pytest.raises(VhdxWriteError, match="beyond the disk"):
        writer.write(8 * MiB - 512, bytes(1024))
    writer.close()
    writer.close()
    with pytest.raises(VhdxWriteError, match="after close"):
        writer.write(0, bytes(512))
    with pytest.raises(VhdxWriteError, match="cannot create"):
        VhdxWriter(str(tmp_path / "no" / "dir.vhdx"), 8 * MiB)


def test_set_bits_least_significant_bit_first():
    bitmap = bytearray(4)
    set_bits(bitmap, 3, 21)
    assert int.from_bytes(bitmap, "little") == ((1 << 21) - 1) ^ ((1 << 3) - 1)


@given(st.lists(st.tuples(st.integers(0, 200), st.integers(1, 30)), min_size=1, max_size=20))
def test_written_intervals_stay_sorted_disjoint_and_exact(writes):
    intervals, covered = [], set()
    for start, length in writes:
        _add_interval(intervals, start, start + length)
        covered |= set(range(start, start + length))
    assert {x for low, high in intervals for x in range(low, high)} == covered
    assert all(a[1] < b[0] for a, b in zip(intervals, intervals[1:]))


def test_seek_based_io_used_where_positional_io_is_missing(tmp_path, monkeypatch):
    """Windows has no os.preadv/os.pwrite: the fallback must write and read the same files."""
    for name in ("preadv", "pread", "pwrite", "O_DIRECT"):  # as on Windows
        monkeypatch.delattr(os, name, raising=False)
    size = 8 * MiB
    data = pattern("fallback", 3 * MiB + 512)
    target = tmp_path / "f.vhdx"
    with VhdxWriter(str(target), size, block_size=MiB) as writer:
        writer.write(MiB - 512, data)
    expected = bytes(MiB - 512) + data + bytes(size - MiB - len(data) + 512)
    with open_disk(str(target)) as source:
        assert source.read(0, size) == expected
    monkeypatch.undo()
    assert raw_of(target) == expected
