"""A pending (unreplayed) VHDX log is replayed in memory, never on the file; qemu's own replay is the judge."""

from __future__ import annotations

import shutil
import struct
import uuid
from dataclasses import replace

import pytest
from qemu import MiB, file_state, pattern, qemu_img, raw_of
from vhdx_surgery import bat_offset, file_size, get_bat_entry, log_entry, make_log_pending, pread, write_header

from ansible_collections.backup.hyperv.plugins.module_utils.datamover.disk.extents import ExtentKind
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.disk.source import SourceError
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.disk.vhdx import structures as fmt
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.disk.vhdx.writer import VhdxWriter
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.run.opener import open_disk

SIZE = 8 * MiB
LOG_GUID = uuid.UUID("5f0c2a4e-8d1b-4c3a-9e7f-1a2b3c4d5e6f")


@pytest.fixture()
def disk(tmp_path):
    path = tmp_path / "d.vhdx"
    with VhdxWriter(str(path), SIZE, block_size=MiB) as writer:
        writer.write(0, pattern("A", MiB))
        writer.write(MiB, pattern("B", MiB))
    return path


def replayed_by_qemu(path):
    copy = path.with_name("qemu-copy.vhdx")
    shutil.copyfile(path, copy)
    qemu_img("check", "-r", "all", "-f", "vhdx", str(copy))
    return raw_of(copy)


def bat_sector_with(path, changes):
    """The BAT's first 4 KiB with some entries replaced."""
    sector = bytearray(pread(path, bat_offset(path), 4096))
    for index, value in changes.items():
        sector[8 * index : 8 * index + 8] = struct.pack("<Q", value)
    return bytes(sector)


def test_pending_log_is_replayed_in_memory_like_qemu_replays_it(disk):
    block1 = get_bat_entry(disk, 1) & ~7
    size = file_size(disk)
    first = log_entry(
        LOG_GUID,
        10,
        data_writes=[(bat_offset(disk), bat_sector_with(disk, {0: 2, 2: block1 | 6}))],
        zero_writes=[(block1 + 8192, 4096)],
        flushed_file_offset=size,
        last_file_offset=size,
    )
    second = log_entry(
        LOG_GUID,
        11,
        data_writes=[(block1 + MiB - 4096, pattern("L", 4096))],
        tail=0,
        flushed_file_offset=size,
        last_file_offset=size,
    )
    make_log_pending(disk, [(0, first), (len(first), second)], LOG_GUID)
    before = file_state(disk)
    expected_block1 = bytearray(pattern("B", MiB))
    expected_block1[8192 : 8192 + 4096] = bytes(4096)
    expected_block1[-4096:] = pattern("L", 4096)
    with open_disk(str(disk)) as source:
        content = source.read(0, SIZE)
        kinds = [(e.offset, e.length, e.kind) for e in source.extents()]
    assert file_state(disk) == before  # the source file was not written
    assert content[:MiB] == bytes(MiB)  # block 0 became PAYLOAD_BLOCK_ZERO
    assert content[MiB : 2 * MiB] == expected_block1 == content[2 * MiB : 3 * MiB]
    assert kinds[:3] == [
        (0, MiB, ExtentKind.ZERO),
        (MiB, 2 * MiB, ExtentKind.DATA),
        (3 * MiB, SIZE - 3 * MiB, ExtentKind.UNALLOCATED),
    ]
    assert content == replayed_by_qemu(disk)


def test_entry_wrapping_around_the_end_of_the_circular_log(disk):
    log_length = 1 * MiB
    block0 = get_bat_entry(disk, 0) & ~7
    entry = log_entry(LOG_GUID, 3, data_writes=[(block0, pattern("W", 4096))], tail=log_length - 4096)
    assert len(entry) == 8192
    make_log_pending(disk, [(log_length - 4096, entry[:4096]), (0, entry[4096:])], LOG_GUID)
    with open_disk(str(disk)) as source:
        content = source.read(0, SIZE)
    assert content[:4096] == pattern("W", 4096)
    assert content == replayed_by_qemu(disk)


def test_entry_with_a_bad_checksum_ends_the_sequence(disk):
    block0 = get_bat_entry(disk, 0) & ~7
    good = log_entry(LOG_GUID, 5, data_writes=[(block0, pattern("good", 4096))])
    bad = bytearray(log_entry(LOG_GUID, 6, data_writes=[(block0 + 4096, pattern("bad", 4096))], tail=0))
    bad[4096 + 100] ^= 1
    make_log_pending(disk, [(0, good), (len(good), bytes(bad))], LOG_GUID)
    with open_disk(str(disk)) as source:
        assert source.read(0, 8192) == pattern("good", 4096) + pattern("A", 8192)[4096:]


def test_log_without_any_valid_sequence_is_refused_as_corrupt(disk):
    entry = bytearray(log_entry(LOG_GUID, 5, zero_writes=[(2 * MiB, 4096)]))
    entry[200] ^= 1
    make_log_pending(disk, [(0, bytes(entry))], LOG_GUID)
    with pytest.raises(SourceError, match="holds no valid log sequence"):
        open_disk(str(disk))


def test_only_the_run_whose_head_tail_is_inside_it_is_replayed(disk):
    """Sequence numbers must be consecutive; entry 12 cannot follow entry 10, so 10 alone is active."""
    block0 = get_bat_entry(disk, 0) & ~7
    first = log_entry(LOG_GUID, 10, data_writes=[(block0, pattern("ten", 4096))])
    gap = log_entry(LOG_GUID, 12, data_writes=[(block0 + 4096, pattern("twelve", 4096))], tail=0)
    make_log_pending(disk, [(0, first), (len(first), gap)], LOG_GUID)
    with open_disk(str(disk)) as source:
        content = source.read(0, 8192)
    assert content == pattern("ten", 4096) + pattern("A", MiB)[4096:8192]


def test_entries_of_another_log_guid_are_ignored(disk):
    block0 = get_bat_entry(disk, 0) & ~7
    current = log_entry(LOG_GUID, 7, data_writes=[(block0, pattern("current", 4096))])
    stale = log_entry(uuid.uuid4(), 8, data_writes=[(block0, pattern("stale", 4096))], tail=0)
    make_log_pending(disk, [(0, current), (len(current), stale)], LOG_GUID)
    with open_disk(str(disk)) as source:
        assert source.read(0, 4096) == pattern("current", 4096)


def test_log_flushed_beyond_the_end_of_the_file_is_refused(disk):
    entry = log_entry(LOG_GUID, 1, zero_writes=[(2 * MiB, 4096)], flushed_file_offset=file_size(disk) + MiB)
    make_log_pending(disk, [(0, entry)], LOG_GUID)
    with pytest.raises(SourceError, match="truncated"):
        open_disk(str(disk))


def test_log_outside_the_file_is_refused(disk):
    make_log_pending(disk, [], LOG_GUID)
    current = fmt.parse_header(pread(disk, fmt.HEADER_OFFSETS[1], 4096))
    write_header(disk, 1, replace(current, log_offset=1024 * MiB))
    with pytest.raises(SourceError, match=r"log .* outside the file"):
        open_disk(str(disk))


def test_pending_log_in_a_qemu_made_file_means_qemu_refuses_read_only_but_we_read(disk):
    block0 = get_bat_entry(disk, 0) & ~7
    make_log_pending(disk, [(0, log_entry(LOG_GUID, 2, data_writes=[(block0, pattern("Q", 4096))]))], LOG_GUID)
    with pytest.raises(AssertionError, match="log that needs to be replayed"):
        qemu_img("convert", "-U", "-f", "vhdx", "-O", "raw", str(disk), str(disk.with_suffix(".raw")))
    with open_disk(str(disk)) as source:
        assert source.read(0, 4096) == pattern("Q", 4096)
