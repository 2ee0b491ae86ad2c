"""Test helpers that edit VHDX files in place: BAT entries, metadata items, headers, pending log entries.

They build damaged or unusual files (every BAT state, corrupt headers, an unreplayed log) from real
ones, so the reader's handling can be checked against qemu where qemu has an opinion.
"""

from __future__ import annotations

import os
import struct
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from ansible_collections.backup.hyperv.plugins.module_utils.datamover.disk.vhdx import checksum
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.disk.vhdx import log as vhdx_log
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.disk.vhdx import structures as fmt

MiB = 1 << 20


def pread(path: Path, offset: int, length: int) -> bytes:
    with open(path, "rb") as handle:
        handle.seek(offset)
        return handle.read(length)


def pwrite(path: Path, offset: int, data: bytes) -> None:
    with open(path, "r+b") as handle:
        handle.seek(offset)
        handle.write(data)


def regions(path: Path) -> Dict[uuid.UUID, fmt.Region]:
    table = fmt.parse_region_table(pread(path, fmt.REGION_TABLE_OFFSETS[0], fmt.REGION_TABLE_SIZE))
    assert table is not None
    return table


def bat_offset(path: Path) -> int:
    return regions(path)[fmt.BAT_GUID].offset


def get_bat_entry(path: Path, index: int) -> int:
    return struct.unpack("<Q", pread(path, bat_offset(path) + 8 * index, 8))[0]


def set_bat_entry(path: Path, index: int, value: int) -> None:
    pwrite(path, bat_offset(path) + 8 * index, struct.pack("<Q", value))


def metadata_item_offset(path: Path, guid: uuid.UUID) -> int:
    """File offset of a metadata item's value."""
    region = regions(path)[fmt.METADATA_GUID]
    items = fmt.parse_metadata_table(pread(path, region.offset, fmt.METADATA_TABLE_SIZE))
    assert items is not None
    return region.offset + items[guid].offset


def metadata_entry_offset(path: Path, index: int) -> int:
    """File offset of the index-th entry of the metadata table."""
    return regions(path)[fmt.METADATA_GUID].offset + fmt.METADATA_TABLE_HEADER.size + 32 * index


def headers(path: Path) -> List[Optional[fmt.Header]]:
    return [fmt.parse_header(pread(path, offset, fmt.HEADER_SIZE)) for offset in fmt.HEADER_OFFSETS]


def write_header(path: Path, slot: int, header: fmt.Header) -> None:
    pwrite(path, fmt.HEADER_OFFSETS[slot], fmt.build_header(header))


def flip_byte(path: Path, offset: int) -> None:
    pwrite(path, offset, bytes([pread(path, offset, 1)[0] ^ 0xFF]))


def log_entry(
    log_guid: uuid.UUID,
    sequence: int,
    data_writes: Sequence[Tuple[int, bytes]] = (),
    zero_writes: Sequence[Tuple[int, int]] = (),
    tail: int = 0,
    flushed_file_offset: int = 0,
    last_file_offset: int = 0,
) -> bytes:
    """One log entry (MS-VHDX 2.3.1): header, zero and data descriptors, data sectors, CRC-32C."""
    count = len(data_writes) + len(zero_writes)
    descriptor_sectors = (count + 2 + 127) // 128
    length = (descriptor_sectors + len(data_writes)) * fmt.LOG_SECTOR_SIZE
    head = vhdx_log.LOG_ENTRY_HEADER.pack(
        b"loge", 0, length, tail, sequence, count, 0, log_guid.bytes_le, flushed_file_offset, last_file_offset
    )
    descriptors = b""
    sectors = b""
    for offset, length_zero in zero_writes:
        descriptors += vhdx_log.LOG_DESCRIPTOR.pack(b"zero", 0, length_zero, offset, sequence)
    for offset, data in data_writes:
        assert len(data) == fmt.LOG_SECTOR_SIZE
        leading, trailing = struct.unpack("<Q", data[:8])[0], struct.unpack("<I", data[-4:])[0]
        descriptors += vhdx_log.LOG_DESCRIPTOR.pack(b"desc", trailing, leading, offset, sequence)
        sectors += vhdx_log.LOG_DATA_SECTOR.pack(b"data", sequence >> 32, data[8:-4], sequence & 0xFFFFFFFF)
    entry = (head + descriptors).ljust(descriptor_sectors * fmt.LOG_SECTOR_SIZE, b"\x00") + sectors
    return checksum.with_checksum(entry)


def make_log_pending(path: Path, entries: Sequence[Tuple[int, bytes]], log_guid: uuid.UUID) -> None:
    """Place entries at their log positions and point the current header at `log_guid`, as after a crash."""
    current = max((h for h in headers(path) if h is not None), key=lambda h: h.sequence_number)
    for position, entry in entries:
        pwrite(path, current.log_offset + position, entry)
    newer = replace(current, sequence_number=current.sequence_number + 1, log_guid=log_guid)
    write_header(path, 0, newer)
    write_header(path, 1, replace(newer, sequence_number=newer.sequence_number + 1))


def file_size(path: Path) -> int:
    return os.stat(path).st_size
