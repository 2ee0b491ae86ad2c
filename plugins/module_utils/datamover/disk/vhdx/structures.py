"""On-disk structures of the VHDX format (MS-VHDX v1.0), shared by the VHDX reader and writer.

Words used here: a *header* (two copies, 64 KiB and 128 KiB) names the log and the file's write
GUIDs; a *region table* (two copies, 192 KiB and 256 KiB) locates the *BAT* (block allocation table)
and the *metadata region*; a *payload block* holds BlockSize bytes of the virtual disk; a *chunk* is
the run of payload blocks described by one 1 MiB *sector bitmap block* (differencing disks only).
Headers, region tables and log entries carry a CRC-32C computed with their checksum field zeroed.
All integers are little-endian; GUIDs are stored in Microsoft's mixed-endian layout (uuid bytes_le).
"""

from __future__ import annotations

import array
import bisect
import struct
import sys
import uuid
from dataclasses import dataclass
from typing import Dict, Iterator, Optional, Tuple

from ansible_collections.backup.hyperv.plugins.module_utils.datamover.disk.vhdx.checksum import (
    checksum_valid,
    with_checksum,
)

KiB = 1024
MiB = 1024 * KiB
GiB = 1024 * MiB
TiB = 1024 * GiB

FILE_SIGNATURE = b"vhdxfile"
HEADER_OFFSETS = (64 * KiB, 128 * KiB)
HEADER_SIZE = 4 * KiB
REGION_TABLE_OFFSETS = (192 * KiB, 256 * KiB)
REGION_TABLE_SIZE = 64 * KiB
METADATA_TABLE_SIZE = 64 * KiB
MAX_TABLE_ENTRIES = 2047
LOG_SECTOR_SIZE = 4 * KiB
SECTOR_BITMAP_BLOCK_SIZE = 1 * MiB
MAX_VIRTUAL_SIZE = 64 * TiB
MIN_BLOCK_SIZE = 1 * MiB
MAX_BLOCK_SIZE = 256 * MiB

# Payload BAT entry states (MS-VHDX 2.5.1.1); 5 is the "unmapped" value of the v0.95 draft that qemu still writes.
PAYLOAD_BLOCK_NOT_PRESENT = 0
PAYLOAD_BLOCK_UNDEFINED = 1
PAYLOAD_BLOCK_ZERO = 2
PAYLOAD_BLOCK_UNMAPPED = 3
PAYLOAD_BLOCK_UNMAPPED_V095 = 5
PAYLOAD_BLOCK_FULLY_PRESENT = 6
PAYLOAD_BLOCK_PARTIALLY_PRESENT = 7
ZERO_STATES = frozenset(
    (PAYLOAD_BLOCK_UNDEFINED, PAYLOAD_BLOCK_ZERO, PAYLOAD_BLOCK_UNMAPPED, PAYLOAD_BLOCK_UNMAPPED_V095)
)
# Sector bitmap BAT entry states (MS-VHDX 2.5.1.2).
SB_BLOCK_NOT_PRESENT = 0
SB_BLOCK_PRESENT = 6

BAT_GUID = uuid.UUID("2DC27766-F623-4200-9D64-115E9BFD4A08")
METADATA_GUID = uuid.UUID("8B7CA206-4790-4B9A-B8FE-575F050F886E")
FILE_PARAMETERS_GUID = uuid.UUID("CAA16737-FA36-4D43-B3B6-33F0AA44E76B")
VIRTUAL_DISK_SIZE_GUID = uuid.UUID("2FA54224-CD1B-4876-B211-5DBED83BF4B8")
PAGE83_GUID = uuid.UUID("BECA12AB-B2E6-4523-93EF-C309E000C746")
LOGICAL_SECTOR_SIZE_GUID = uuid.UUID("8141BF1D-A96F-4709-BA47-F233A8FAAB5F")
PHYSICAL_SECTOR_SIZE_GUID = uuid.UUID("CDA348C7-445D-4471-9CC9-E9885251C556")
PARENT_LOCATOR_GUID = uuid.UUID("A8D35F2D-B30B-454D-ABF7-D3D84834AB0C")
VHDX_PARENT_LOCATOR_TYPE = uuid.UUID("B04AEFB7-D19E-4A81-B789-25B8E9445913")
ZERO_GUID = uuid.UUID(int=0)

# signature[4] checksum u32 sequence u64 file_write_guid[16] data_write_guid[16] log_guid[16]
# log_version u16 version u16 log_length u32 log_offset u64 (then 4016 reserved bytes).
HEADER = struct.Struct("<4sIQ16s16s16sHHIQ")
REGION_TABLE_HEADER = struct.Struct("<4sIII")  # signature, checksum, entry_count, reserved
REGION_ENTRY = struct.Struct("<16sQII")  # guid, file_offset, length, required (bit 0)
METADATA_TABLE_HEADER = struct.Struct("<8sHH20s")  # signature, reserved, entry_count, reserved
METADATA_ENTRY = struct.Struct("<16sIIII")  # item_id, offset, length, flags, reserved
METADATA_IS_USER, METADATA_IS_VIRTUAL_DISK, METADATA_IS_REQUIRED = 1, 2, 4
LOCATOR_HEADER = struct.Struct("<16sHH")  # locator type, reserved, key_value_count
LOCATOR_ENTRY = struct.Struct("<IIHH")  # key_offset, value_offset, key_length, value_length


# --- headers and region tables -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Header:
    sequence_number: int
    file_write_guid: uuid.UUID
    data_write_guid: uuid.UUID
    log_guid: uuid.UUID
    log_version: int
    version: int
    log_length: int
    log_offset: int


def parse_header(block: bytes) -> Optional[Header]:
    """The header in a 4 KiB block, or None when its signature or checksum is wrong."""
    if len(block) < HEADER_SIZE or block[:4] != b"head" or not checksum_valid(block[:HEADER_SIZE]):
        return None
    fields = HEADER.unpack_from(block)
    sequence, (file_write, data_write, log), rest = fields[2], fields[3:6], fields[6:]
    guids = [uuid.UUID(bytes_le=raw) for raw in (file_write, data_write, log)]
    return Header(sequence, *guids, *rest)  # rest: log_version, version, log_length, log_offset


def build_header(header: Header) -> bytes:
    guids = (header.file_write_guid, header.data_write_guid, header.log_guid)
    sizes = (header.log_version, header.version, header.log_length, header.log_offset)
    fields = HEADER.pack(b"head", 0, header.sequence_number, *(guid.bytes_le for guid in guids), *sizes)
    return with_checksum(fields.ljust(HEADER_SIZE, b"\x00"))


@dataclass(frozen=True)
class Region:
    offset: int
    length: int
    required: bool


def parse_region_table(block: bytes) -> Optional[Dict[uuid.UUID, Region]]:
    """Regions by GUID, or None when the table's signature, checksum or shape is wrong."""
    if len(block) < REGION_TABLE_SIZE or block[:4] != b"regi" or not checksum_valid(block[:REGION_TABLE_SIZE]):
        return None
    count = REGION_TABLE_HEADER.unpack_from(block)[2]
    if count > MAX_TABLE_ENTRIES:
        return None
    regions: Dict[uuid.UUID, Region] = {}
    for index in range(count):
        raw_guid, offset, length, flags = REGION_ENTRY.unpack_from(block, REGION_TABLE_HEADER.size + index * 32)
        guid = uuid.UUID(bytes_le=raw_guid)
        if guid in regions:
            return None
        regions[guid] = Region(offset, length, bool(flags & 1))
    return regions


def build_region_table(regions: Dict[uuid.UUID, Region]) -> bytes:
    body = REGION_TABLE_HEADER.pack(b"regi", 0, len(regions), 0)
    for guid, region in regions.items():
        body += REGION_ENTRY.pack(guid.bytes_le, region.offset, region.length, int(region.required))
    return with_checksum(body.ljust(REGION_TABLE_SIZE, b"\x00"))


def build_file_identifier(creator: str) -> bytes:
    return (FILE_SIGNATURE + creator.encode("utf-16-le")[:512]).ljust(64 * KiB, b"\x00")


# --- metadata ------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class MetadataItem:
    offset: int
    length: int
    flags: int


def parse_metadata_table(block: bytes) -> Optional[Dict[uuid.UUID, MetadataItem]]:
    """Metadata items by GUID (offsets relative to the region), or None when the table is malformed."""
    if len(block) < METADATA_TABLE_SIZE or block[:8] != b"metadata":
        return None
    count = METADATA_TABLE_HEADER.unpack_from(block)[2]
    if count > MAX_TABLE_ENTRIES:
        return None
    items: Dict[uuid.UUID, MetadataItem] = {}
    for index in range(count):
        raw_guid, offset, length, flags, _ignored = METADATA_ENTRY.unpack_from(
            block, METADATA_TABLE_HEADER.size + index * 32
        )
        guid = uuid.UUID(bytes_le=raw_guid)
        if guid in items:
            return None
        items[guid] = MetadataItem(offset, length, flags)
    return items


def build_metadata_table(items: Dict[uuid.UUID, MetadataItem]) -> bytes:
    body = METADATA_TABLE_HEADER.pack(b"metadata", 0, len(items), b"")
    for guid, item in items.items():
        body += METADATA_ENTRY.pack(guid.bytes_le, item.offset, item.length, item.flags, 0)
    return body.ljust(METADATA_TABLE_SIZE, b"\x00")


def parse_parent_locator(data: bytes) -> Optional[Dict[str, str]]:
    """Key/value pairs of a VHDX parent locator, or None when it is malformed."""
    if len(data) < LOCATOR_HEADER.size:
        return None
    locator_type, _ignored, count = LOCATOR_HEADER.unpack_from(data)
    if uuid.UUID(bytes_le=locator_type) != VHDX_PARENT_LOCATOR_TYPE:
        return None
    if LOCATOR_HEADER.size + count * LOCATOR_ENTRY.size > len(data):
        return None
    pairs: Dict[str, str] = {}
    for index in range(count):
        key_at, value_at, key_len, value_len = LOCATOR_ENTRY.unpack_from(data, LOCATOR_HEADER.size + index * 12)
        if key_at + key_len > len(data) or value_at + value_len > len(data):
            return None
        try:
            key = data[key_at : key_at + key_len].decode("utf-16-le")
            pairs[key] = data[value_at : value_at + value_len].decode("utf-16-le")
        except UnicodeDecodeError:
            return None
    return pairs


def build_parent_locator(pairs: Dict[str, str]) -> bytes:
    entries = b""
    strings = b""
    base = LOCATOR_HEADER.size + len(pairs) * LOCATOR_ENTRY.size
    for key, value in pairs.items():
        raw_key, raw_value = key.encode("utf-16-le"), value.encode("utf-16-le")
        key_at = base + len(strings)
        value_at = key_at + len(raw_key)
        entries += LOCATOR_ENTRY.pack(key_at, value_at, len(raw_key), len(raw_value))
        strings += raw_key + raw_value
    return LOCATOR_HEADER.pack(VHDX_PARENT_LOCATOR_TYPE.bytes_le, 0, len(pairs)) + entries + strings


# --- BAT geometry --------------------------------------------------------------------------------------------------
BAT_SLICE_ENTRIES = 1 << 17  # BAT entries read or written at once: 1 MiB (the table is never held whole)


def chunk_ratio(block_size: int, logical_sector_size: int) -> int:
    """Payload blocks described by one sector bitmap block: 2^23 sectors per bitmap block."""
    return (1 << 23) * logical_sector_size // block_size


def bat_entry_count(virtual_size: int, block_size: int, logical_sector_size: int, has_parent: bool) -> int:
    """BAT entries a file needs (MS-VHDX 2.5): interleaved payload and sector bitmap entries."""
    ratio = chunk_ratio(block_size, logical_sector_size)
    data_blocks = -(-virtual_size // block_size)
    if has_parent:
        return -(-data_blocks // ratio) * (ratio + 1)
    return data_blocks + (data_blocks - 1) // ratio if data_blocks else 0


def payload_entry_index(block: int, ratio: int) -> int:
    return block + block // ratio


def bitmap_entry_index(chunk: int, ratio: int) -> int:
    return chunk * (ratio + 1) + ratio


def bat_slices(entries: Dict[int, int], count: int) -> Iterator[Tuple[int, bytes]]:
    """(byte offset in the BAT, bytes) of each slice of a ``count``-entry BAT that holds one of the non-zero
    ``entries`` (index -> entry). A slice of zeros is left out: a new file's hole reads as zeros already, and a
    64 TiB disk of 1 MiB blocks has a 512 MiB BAT, mostly zeros, never built whole."""
    indexes = sorted(entries)
    for first in range(0, count, BAT_SLICE_ENTRIES):
        last = min(first + BAT_SLICE_ENTRIES, count)
        inside = indexes[bisect.bisect_left(indexes, first) : bisect.bisect_left(indexes, last)]
        if inside:
            table = array.array("Q", bytes(8 * (last - first)))
            for index in inside:
                table[index - first] = entries[index]
            if sys.byteorder == "big":  # pragma: no cover
                table.byteswap()
            yield first * 8, table.tobytes()
