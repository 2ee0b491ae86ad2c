"""The partitions of a disk: GPT (with its CRC32 checks, and the backup header when the primary is damaged)
or MBR (primary, and logical ones in an extended partition), or a volume that fills the whole disk.

Layouts as Microsoft documents them: "Windows and GPT FAQ"
(https://learn.microsoft.com/en-us/windows-hardware/manufacture/desktop/windows-and-gpt-faq), the partition
type GUIDs of "PARTITION_INFORMATION_GPT structure"
(https://learn.microsoft.com/en-us/windows/win32/api/winioctl/ns-winioctl-partition_information_gpt) and the
MBR types of "PARTITION_INFORMATION_MBR structure"
(https://learn.microsoft.com/en-us/windows/win32/api/winioctl/ns-winioctl-partition_information_mbr).
Which partitions hold NTFS is decided by their boot sector, not by their type, as Windows mounts them.
"""

from __future__ import annotations

import struct
import uuid
import zlib
from dataclasses import dataclass
from typing import Iterator, List, Optional, Tuple

from ansible_collections.backup.hyperv.plugins.module_utils.datamover.base.errors import DataMoverError
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.guest.view import RandomAccessFile

GPT_SIGNATURE = b"EFI PART"
GPT_HEADER = struct.Struct("<8sIIIIQQQQ16sQIII")  # signature ... entries lba, count, entry size, entries crc
GPT_ENTRY = struct.Struct("<16s16sQQQ72s")
MBR_ENTRY = struct.Struct("<B3sB3sII")
MBR_SIGNATURE = b"\x55\xaa"
MBR_PROTECTIVE = 0xEE
MBR_EXTENDED = (0x05, 0x0F, 0x85)
NTFS_OEM = b"NTFS    "  # bytes 3-10 of an NTFS boot sector
GPT_TYPES = {
    "ebd0a0a2-b9e5-4433-87c0-68b6b72699c7": "basic data",
    "c12a7328-f81f-11d2-ba4b-00a0c93ec93b": "EFI system",
    "e3c9e316-0b5c-4db8-817d-f92df00215ae": "Microsoft reserved",
    "de94bba4-06d1-4d40-a16a-bfd50179d6ac": "Windows recovery",
    "5808c8aa-7e8f-42e0-85d2-e1e90434cfb3": "LDM metadata",
    "af9b60a0-1431-4f62-bc68-3311714a69ad": "LDM data",
}
MBR_TYPES = {0x07: "IFS (NTFS)", 0x0C: "FAT32 (LBA)", 0x27: "Windows recovery", 0x42: "LDM (dynamic disk)"}


@dataclass(frozen=True)
class Partition:
    """One partition: its number (as Windows and Linux count them), where it lies, what its table says."""

    number: int
    offset: int
    size: int
    scheme: str  # gpt, mbr or whole (a volume with no partition table)
    type: str  # a GPT type GUID or an MBR type byte (0x07), with its name when known
    name: str = ""  # the GPT partition name
    filesystem: Optional[str] = None  # ntfs when its boot sector says so

    def to_dict(self) -> dict:
        return {
            "number": self.number,
            "offset": self.offset,
            "size": self.size,
            "scheme": self.scheme,
            "type": self.type,
            "name": self.name,
            "filesystem": self.filesystem,
        }


def partitions(disk: RandomAccessFile, sector_size: int = 512) -> List[Partition]:
    """Every partition of ``disk`` (GPT first, as a protective MBR says), with its file system when NTFS."""
    found = list(_gpt(disk, sector_size) or _mbr(disk, sector_size) or _whole(disk))
    return [_with_filesystem(disk, part) for part in found]


def _with_filesystem(disk: RandomAccessFile, part: Partition) -> Partition:
    boot = disk.read_at(part.offset, 16)
    if boot[3:11] != NTFS_OEM:
        return part
    return Partition(part.number, part.offset, part.size, part.scheme, part.type, part.name, "ntfs")


def _whole(disk: RandomAccessFile) -> List[Partition]:
    """A disk whose sector 0 is an NTFS boot sector (no partition table) is one volume."""
    if disk.read_at(0, 16)[3:11] == NTFS_OEM:
        return [Partition(1, 0, disk.size, "whole", "")]
    return []


# --- GPT ------------------------------------------------------------------------------------------------------
def _gpt(disk: RandomAccessFile, sector_size: int) -> Optional[List[Partition]]:
    """The GPT partitions, or None when there is no GPT (no protective MBR entry)."""
    mbr = disk.read_at(0, 512)
    if mbr[510:512] != MBR_SIGNATURE or all(entry[1] != MBR_PROTECTIVE for entry in _mbr_entries(mbr)):
        return None
    for size in dict.fromkeys((sector_size, 512, 4096)):  # 512e and 4Kn disks; the record's size first
        header = _gpt_header(disk, size, 1) or _gpt_header(disk, size, disk.size // size - 1)
        if header is not None:
            return _gpt_entries(disk, size, header)
    raise DataMoverError("the disk has a protective MBR but no valid GPT header (primary and backup are damaged)")


def _gpt_header(disk: RandomAccessFile, sector_size: int, lba: int) -> Optional[tuple]:
    raw = disk.read_at(lba * sector_size, sector_size)
    if raw[:8] != GPT_SIGNATURE:
        return None
    header_size = struct.unpack_from("<I", raw, 12)[0]
    if not GPT_HEADER.size <= header_size <= sector_size:
        return None
    checked = raw[:16] + b"\0\0\0\0" + raw[20:header_size]
    if zlib.crc32(checked) != struct.unpack_from("<I", raw, 16)[0]:
        return None
    return GPT_HEADER.unpack_from(raw)


def _gpt_entries(disk: RandomAccessFile, sector_size: int, header: tuple) -> List[Partition]:
    entries_lba, count, entry_size, entries_crc = header[10:14]
    if entry_size < GPT_ENTRY.size or count > 4096:
        raise DataMoverError(f"the GPT header is malformed ({count} entries of {entry_size} bytes)")
    table = disk.read_at(entries_lba * sector_size, count * entry_size)
    if zlib.crc32(table) != entries_crc:
        raise DataMoverError("the GPT partition entries fail their CRC32 check")
    found = []
    for number in range(count):
        type_guid, _unique, first, last, _attributes, name = GPT_ENTRY.unpack_from(table, number * entry_size)
        if type_guid == bytes(16):
            continue
        kind = str(uuid.UUID(bytes_le=type_guid))
        label = f"{kind} ({GPT_TYPES[kind]})" if kind in GPT_TYPES else kind
        text = name.decode("utf-16-le", "replace").split("\0", 1)[0]
        found.append(Partition(number + 1, first * sector_size, (last - first + 1) * sector_size, "gpt", label, text))
    return found


# --- MBR ------------------------------------------------------------------------------------------------------
def _mbr_entries(sector: bytes) -> Iterator[Tuple[int, int, int, int]]:
    """(slot, type, start lba, sectors) of the four slots, empty ones included."""
    for slot in range(4):
        _status, _chs, kind, _chs_end, start, sectors = MBR_ENTRY.unpack_from(sector, 446 + 16 * slot)
        yield slot, kind, start, sectors


def _mbr(disk: RandomAccessFile, sector_size: int) -> Optional[List[Partition]]:
    mbr = disk.read_at(0, 512)
    if mbr[510:512] != MBR_SIGNATURE or mbr[3:11] == NTFS_OEM:  # an NTFS boot sector also ends in 55 aa
        return None
    found = []
    for slot, kind, start, sectors in _mbr_entries(mbr):
        if kind == 0 or sectors == 0:
            continue
        if kind in MBR_EXTENDED:
            found.extend(_logical(disk, sector_size, start))
        else:
            found.append(_mbr_partition(slot + 1, kind, start, sectors, sector_size))
    return found or None


def _logical(disk: RandomAccessFile, sector_size: int, extended: int) -> Iterator[Partition]:
    """Logical partitions, numbered from 5: a chain of extended boot records, each relative to the extended
    partition's start (the next link) or to itself (its partition)."""
    ebr_lba, number, seen = extended, 5, set()
    while ebr_lba not in seen and len(seen) < 128:
        seen.add(ebr_lba)
        ebr = disk.read_at(ebr_lba * sector_size, 512)
        if ebr[510:512] != MBR_SIGNATURE:
            return
        entries = list(_mbr_entries(ebr))
        _slot, kind, start, sectors = entries[0]
        if kind and sectors:
            yield _mbr_partition(number, kind, ebr_lba + start, sectors, sector_size)
            number += 1
        _slot, kind, start, sectors = entries[1]
        if not kind or not sectors:
            return
        ebr_lba = extended + start


def _mbr_partition(number: int, kind: int, start: int, sectors: int, sector_size: int) -> Partition:
    label = f"0x{kind:02x}" + (f" ({MBR_TYPES[kind]})" if kind in MBR_TYPES else "")
    return Partition(number, start * sector_size, sectors * sector_size, "mbr", label)
