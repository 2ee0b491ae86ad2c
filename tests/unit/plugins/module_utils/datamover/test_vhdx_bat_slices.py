"""The BAT is read and written a slice at a time (disk/vhdx/bat.py, structures.bat_slices): with slices of one
period each (4097 entries for 1 MiB blocks of 512-byte sectors), a disk of 8192 blocks spans several slices, and
the allocation map and the content read or written agree with qemu, an independent implementation."""

from __future__ import annotations

import pytest
from qemu import MiB, create_vhdx, qemu_io

from ansible_collections.backup.hyperv.plugins.module_utils.datamover.disk.extents import ExtentKind
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.disk.vhdx import structures
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.disk.vhdx.writer import VhdxWriter
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.run.opener import open_disk

GiB = 1024 * MiB
SIZE = 8 * GiB  # 8192 blocks of 1 MiB: two periods of 4096 blocks (and their bitmap entries)
# (offset, length, pattern): the first block, both sides of the first period's end, a zeroed one, the last block.
WRITES = [(0, MiB, 0x11), (4095 * MiB, 2 * MiB, 0x22), (6000 * MiB + 4096, 4096, 0x33), (SIZE - MiB, MiB, 0x44)]
DATA = [(0, MiB), (4095 * MiB, 4097 * MiB), (6000 * MiB, 6001 * MiB), (SIZE - MiB, SIZE)]


@pytest.fixture
def one_period_slices(monkeypatch):
    monkeypatch.setattr(structures, "BAT_SLICE_ENTRIES", 1)


def data_ranges(source) -> list:
    return [(e.offset, e.end) for e in source.extents() if e.kind is ExtentKind.DATA]


def test_a_bat_of_several_slices_reads_like_qemu(tmp_path, one_period_slices):
    vhdx = create_vhdx(tmp_path / "d.vhdx", SIZE, subformat="dynamic", block_size="1M")
    qemu_io(vhdx, *(f"write -P {byte:#x} {offset} {length}" for offset, length, byte in WRITES))
    with open_disk(str(vhdx)) as source:
        assert source._bat.slice_entries == 4097 and source._bat.count > 4097  # two slices
        assert data_ranges(source) == DATA
        assert all(source.read(offset, length) == bytes([byte]) * length for offset, length, byte in WRITES)
        assert source.read(6000 * MiB, 4096) == source.read(5000 * MiB, MiB)[:4096] == bytes(4096)


def test_a_bat_written_in_slices_reads_back_in_qemu(tmp_path, one_period_slices):
    path = tmp_path / "w.vhdx"
    with VhdxWriter(str(path), SIZE, block_size=MiB) as writer:
        for offset, length, byte in WRITES:
            writer.write(offset, bytes([byte]) * length)
    qemu_io(path, *(f"read -P {byte:#x} {offset} {length}" for offset, length, byte in WRITES))
    qemu_io(path, f"read -P 0 {MiB} {MiB}", f"read -P 0 {5000 * MiB} {MiB}")
    with open_disk(str(path)) as source:
        assert data_ranges(source) == DATA
    assert path.stat().st_blocks * 512 < 16 * MiB  # the BAT's empty slices stay holes
