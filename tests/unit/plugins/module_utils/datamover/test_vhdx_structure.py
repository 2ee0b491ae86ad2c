"""BAT states, the two headers and the two region tables: which copy wins, and what is refused."""

from __future__ import annotations

from dataclasses import replace

import pytest
from qemu import MiB, convert_to_vhdx, make_raw, raw_of
from vhdx_surgery import flip_byte, get_bat_entry, headers, set_bat_entry, write_header

from ansible_collections.backup.hyperv.plugins.module_utils.datamover.disk.extents import ExtentKind
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.disk.source import SourceError
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.disk.vhdx import checksum
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.disk.vhdx import structures as fmt
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.disk.vhdx.writer import VhdxWriter
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.run.opener import open_disk

SIZE = 8 * MiB


@pytest.fixture()
def full_disk(tmp_path):
    """A qemu-made dynamic VHDX whose 1 MiB blocks all hold data."""
    raw = tmp_path / "d.img"
    make_raw(raw, SIZE, [(0, SIZE, "data")])
    return convert_to_vhdx(raw, tmp_path / "d.vhdx", block_size="1M"), raw.read_bytes()


@pytest.mark.parametrize(
    ("state", "kind"),
    [
        (0, ExtentKind.UNALLOCATED),
        (1, ExtentKind.ZERO),
        (2, ExtentKind.ZERO),
        (3, ExtentKind.ZERO),
        (5, ExtentKind.ZERO),
        (6, ExtentKind.DATA),
    ],
)
def test_every_payload_state_reads_like_qemu(full_disk, state, kind):
    path, content = full_disk
    entry = get_bat_entry(path, 3)
    set_bat_entry(path, 3, (entry & ~7) | state)
    with open_disk(str(path)) as source:
        assert [e.kind for e in source.extents() if e.offset <= 3 * MiB < e.offset + e.length] == [kind]
        data = source.read(0, SIZE)
    expected = content if kind is ExtentKind.DATA else content[: 3 * MiB] + bytes(MiB) + content[4 * MiB :]
    assert data == expected == raw_of(path)


@pytest.mark.parametrize("state", [4, 7])
def test_invalid_payload_states_are_refused(full_disk, state):
    path, _ignored = full_disk
    set_bat_entry(path, 2, (get_bat_entry(path, 2) & ~7) | state)
    with pytest.raises(SourceError, match="invalid payload block state"):
        open_disk(str(path))


def test_zero_states_in_a_differencing_disk_hide_the_parent(tmp_path, full_disk):
    parent, content = full_disk
    child = tmp_path / "c.avhdx"
    with VhdxWriter(str(child), SIZE, block_size=MiB, parent=str(parent)):
        pass
    set_bat_entry(child, 1, fmt.PAYLOAD_BLOCK_ZERO)
    set_bat_entry(child, 2, fmt.PAYLOAD_BLOCK_UNMAPPED)
    with open_disk(str(child)) as source:
        assert source.read(0, 4 * MiB) == content[:MiB] + bytes(2 * MiB) + content[3 * MiB : 4 * MiB]
        kinds = [(e.offset, e.length, e.kind) for e in source.extents()]
    assert kinds == [(0, MiB, ExtentKind.DATA), (MiB, 2 * MiB, ExtentKind.ZERO), (3 * MiB, 5 * MiB, ExtentKind.DATA)]


def test_child_without_sector_bitmap_blocks_reads_the_parent(tmp_path, full_disk):
    parent, content = full_disk
    child = tmp_path / "c.avhdx"
    with VhdxWriter(str(child), SIZE, block_size=MiB, parent=str(parent)):
        pass
    set_bat_entry(child, fmt.bitmap_entry_index(0, fmt.chunk_ratio(MiB, 512)), fmt.SB_BLOCK_NOT_PRESENT)
    with open_disk(str(child)) as source:
        assert source.read(0, SIZE) == content
        assert [e.kind for e in source.extents()] == [ExtentKind.DATA]


@pytest.mark.parametrize("state", [1, 2, 3, 7])
def test_invalid_sector_bitmap_states_are_refused(tmp_path, full_disk, state):
    parent, _ignored = full_disk
    child = tmp_path / "c.avhdx"
    with VhdxWriter(str(child), SIZE, block_size=MiB, parent=str(parent)):
        pass
    index = fmt.bitmap_entry_index(0, fmt.chunk_ratio(MiB, 512))
    set_bat_entry(child, index, (get_bat_entry(child, index) & ~7) | state)
    with pytest.raises(SourceError, match="invalid sector bitmap state"):
        open_disk(str(child))


def test_partially_present_block_without_bitmap_is_refused(tmp_path, full_disk):
    parent, _ignored = full_disk
    child = tmp_path / "c.avhdx"
    with VhdxWriter(str(child), SIZE, block_size=MiB, parent=str(parent)) as writer:
        writer.write(0, b"\x01" * 512)
    ratio = fmt.chunk_ratio(MiB, 512)
    set_bat_entry(child, fmt.bitmap_entry_index(0, ratio), 0)
    with open_disk(str(child)) as source, pytest.raises(SourceError, match="no sector bitmap"):
        source.read(0, 512)


def test_one_corrupt_header_still_opens_with_the_other(full_disk):
    path, content = full_disk
    valid = [h for h in headers(path) if h is not None]
    assert len(valid) == 2
    newest = max(range(2), key=lambda slot: headers(path)[slot].sequence_number)
    flip_byte(path, fmt.HEADER_OFFSETS[newest] + 100)
    with open_disk(str(path)) as source:
        assert source.header.sequence_number == headers(path)[1 - newest].sequence_number
        assert source.read(0, SIZE) == content
    flip_byte(path, fmt.HEADER_OFFSETS[1 - newest] + 8)
    with pytest.raises(SourceError, match="both VHDX headers are corrupt"):
        open_disk(str(path))


def test_the_valid_header_with_the_higher_sequence_number_wins(full_disk):
    path, _ignored = full_disk
    base = headers(path)[0]
    write_header(path, 0, replace(base, sequence_number=50, log_guid=fmt.ZERO_GUID))
    write_header(path, 1, replace(base, sequence_number=40, version=9))  # would be refused if chosen
    with open_disk(str(path)) as source:
        assert source.header.sequence_number == 50
    write_header(path, 1, replace(base, sequence_number=60, version=9))
    with pytest.raises(SourceError, match="unsupported VHDX version 9"):
        open_disk(str(path))


def test_region_table_copy_two_is_used_when_copy_one_is_corrupt(full_disk):
    path, content = full_disk
    flip_byte(path, fmt.REGION_TABLE_OFFSETS[0] + 40)
    with open_disk(str(path)) as source:
        assert source.read(0, SIZE) == content
    flip_byte(path, fmt.REGION_TABLE_OFFSETS[1] + 40)
    with pytest.raises(SourceError, match="both VHDX region tables are corrupt"):
        open_disk(str(path))


def test_crc32c_known_answer_and_zero_run_shortcut():
    assert checksum.crc32c(b"123456789") == 0xE3069283
    data = b"head" + bytes(3000) + b"tail"
    slow = 0xFFFFFFFF
    for byte in data:  # bitwise reference
        slow ^= byte
        for _ignored in range(8):
            slow = (slow >> 1) ^ 0x82F63B78 if slow & 1 else slow >> 1
    assert checksum.crc32c(data) == slow ^ 0xFFFFFFFF
