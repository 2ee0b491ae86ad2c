"""VhdxSource against VHDX files made by qemu-img: content equals qemu's, DATA equals the allocated blocks."""

from __future__ import annotations

import hashlib
from concurrent.futures import ThreadPoolExecutor

import pytest
from qemu import MiB, blocks_holding_nonzero, convert_to_vhdx, create_vhdx, file_state, make_raw, qemu_io, raw_of

from ansible_collections.backup.hyperv.plugins.module_utils.datamover.disk.extents import ExtentKind
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.run.opener import open_disk

# A disk with data, explicit zero runs and holes, crossing block borders, ending in a partial block.
SIZE = 40 * MiB + 64 * 1024
LAYOUT = [
    (0, 4096, "data"),
    (512 * 1024, 3 * MiB, "zero"),
    (3 * MiB + 512, 1536, "data"),
    (9 * MiB - 4096, 8192, "data"),
    (12 * MiB, 6 * MiB, "zero"),
    (33 * MiB, 2 * MiB, "data"),
    (SIZE - 4096, 4096, "data"),
]


def ranges(source, kind):
    return [(e.offset, e.offset + e.length) for e in source.extents() if e.kind is kind]


def assert_covering(source):
    position = 0
    previous = None
    for extent in source.extents():
        assert extent.offset == position and extent.length > 0
        assert previous is None or previous.kind is not extent.kind
        position, previous = extent.offset + extent.length, extent
    assert position == source.virtual_size


@pytest.mark.parametrize("block_size", ["1M", "2M", "8M", "32M", "256M"])
@pytest.mark.parametrize("block_state_zero", ["on", "off"])
def test_converted_dynamic_vhdx_reads_like_qemu(tmp_path, block_size, block_state_zero):
    raw = tmp_path / "disk.raw"
    content = make_raw(raw, SIZE, LAYOUT)
    vhdx = convert_to_vhdx(
        raw, tmp_path / "disk.vhdx", subformat="dynamic", block_size=block_size, block_state_zero=block_state_zero
    )
    assert raw_of(vhdx) == content
    with open_disk(str(vhdx)) as source:
        assert (source.format, source.virtual_size, source.logical_sector_size) == ("vhdx", SIZE, 512)
        assert source.block_size == int(block_size[:-1]) * MiB
        assert hashlib.sha256(source.read(0, SIZE)).digest() == hashlib.sha256(content).digest()
        assert_covering(source)
        # qemu convert allocates exactly the blocks holding non-zero bytes
        assert ranges(source, ExtentKind.DATA) == blocks_holding_nonzero(content, source.block_size)
        other = ExtentKind.ZERO if block_state_zero == "on" else ExtentKind.UNALLOCATED
        assert {e.kind for e in source.extents()} <= {ExtentKind.DATA, other}


@pytest.mark.parametrize("block_size", ["1M", "4M", "32M"])
def test_fixed_vhdx_is_all_data_and_reads_like_qemu(tmp_path, block_size):
    vhdx = create_vhdx(
        tmp_path / "fixed.vhdx", SIZE, subformat="fixed", block_size=block_size, block_state_zero="off", log_size="2M"
    )
    qemu_io(vhdx, "write -P 0x5a 1M 300k", f"write -P 0x33 {SIZE - 1024 * 1024} 512k")
    with open_disk(str(vhdx)) as source:
        assert [(e.offset, e.length, e.kind) for e in source.extents()] == [(0, SIZE, ExtentKind.DATA)]
        assert source.read(0, SIZE) == raw_of(vhdx)


def test_fixed_vhdx_with_block_state_zero_is_zero_until_written(tmp_path):
    vhdx = create_vhdx(tmp_path / "fixed.vhdx", 16 * MiB, subformat="fixed", block_size="1M", block_state_zero="on")
    qemu_io(vhdx, "write -P 0x7e 3M 4k")
    with open_disk(str(vhdx)) as source:
        assert ranges(source, ExtentKind.DATA) == [(3 * MiB, 4 * MiB)]
        assert ranges(source, ExtentKind.ZERO) == [(0, 3 * MiB), (4 * MiB, 16 * MiB)]
        assert source.read(0, 16 * MiB) == raw_of(vhdx)


@pytest.mark.parametrize("log_size", ["1M", "4M"])
def test_written_by_qemu_io_after_create(tmp_path, log_size):
    vhdx = create_vhdx(tmp_path / "d.vhdx", 64 * MiB, subformat="dynamic", block_size="2M", log_size=log_size)
    qemu_io(vhdx, "write -P 0xab 1M 3M", "write -P 0x11 10M 512", "write -z 2M 512k")
    before = file_state(vhdx)
    with open_disk(str(vhdx)) as source:
        assert source.read(0, source.virtual_size) == raw_of(vhdx)
        assert ranges(source, ExtentKind.DATA) == [(0, 4 * MiB), (10 * MiB, 12 * MiB)]
        buffer = bytearray(MiB)
        source.readinto(MiB + 4096, memoryview(buffer))
        assert buffer == b"\xab" * (MiB - 4096) + bytes(4096)  # 2M..2.5M zeroed by write -z
    assert file_state(vhdx) == before


def test_unaligned_reads_match_the_whole_image(tmp_path):
    raw = tmp_path / "disk.raw"
    content = make_raw(raw, SIZE, LAYOUT)
    vhdx = convert_to_vhdx(raw, tmp_path / "disk.vhdx", block_size="1M")
    with open_disk(str(vhdx)) as source:
        for offset, length in [(1, 10), (MiB - 3, 7), (3 * MiB + 500, 2 * MiB + 13), (SIZE - 5, 5), (0, 0)]:
            assert source.read(offset, length) == content[offset : offset + length]


def test_threads_can_share_one_source(tmp_path):
    raw = tmp_path / "disk.raw"
    content = make_raw(raw, SIZE, LAYOUT)
    vhdx = convert_to_vhdx(raw, tmp_path / "disk.vhdx", block_size="1M")
    offsets = list(range(0, SIZE, 256 * 1024)) * 3
    with open_disk(str(vhdx)) as source, ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda offset: source.read(offset, min(256 * 1024, SIZE - offset)), offsets))
    assert all(data == content[offset : offset + len(data)] for offset, data in zip(offsets, results))
