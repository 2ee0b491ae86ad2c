"""The metadata region a new VHDX file carries (MS-VHDX 2.6): its geometry and its identity.

*Identity* is what a restored disk keeps of its source: the virtual disk id (2.6.2.3, the SCSI page 83 id
the guest and Hyper-V know the disk by) and whether it is fixed (LeaveBlockAllocated, 2.6.2.1). A new id is
made when none is given, as for any new disk.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

from ansible_collections.backup.hyperv.plugins.module_utils.datamover.disk.vhdx import structures as fmt

LEAVE_BLOCKS_ALLOCATED = 1  # File Parameters flag bits (MS-VHDX 2.6.2.1)
HAS_PARENT = 2


@dataclass(frozen=True)
class NewDisk:
    """What a new VHDX file's metadata says: geometry, identity and, for a differencing disk, its parent."""

    virtual_size: int
    block_size: int
    logical_sector_size: int
    physical_sector_size: int
    disk_id: uuid.UUID
    fixed: bool = False
    locator: Optional[Dict[str, str]] = None


def build_metadata(disk: NewDisk) -> bytes:
    """The metadata table and its items, ready to be written at the start of the metadata region."""
    items, body = {}, b""
    for guid, flags, value in _values(disk):
        items[guid] = fmt.MetadataItem(fmt.METADATA_TABLE_SIZE + len(body), len(value), flags)
        body += value.ljust(-(-len(value) // 8) * 8, b"\x00")
    return fmt.build_metadata_table(items) + body


def _values(disk: NewDisk) -> List[Tuple[uuid.UUID, int, bytes]]:
    flags = HAS_PARENT if disk.locator is not None else (LEAVE_BLOCKS_ALLOCATED if disk.fixed else 0)
    parameters = disk.block_size.to_bytes(4, "little") + flags.to_bytes(4, "little")
    virtual_disk = fmt.METADATA_IS_VIRTUAL_DISK | fmt.METADATA_IS_REQUIRED
    values = [
        (fmt.FILE_PARAMETERS_GUID, fmt.METADATA_IS_REQUIRED, parameters),
        (fmt.VIRTUAL_DISK_SIZE_GUID, virtual_disk, disk.virtual_size.to_bytes(8, "little")),
        (fmt.PAGE83_GUID, virtual_disk, disk.disk_id.bytes_le),
        (fmt.LOGICAL_SECTOR_SIZE_GUID, virtual_disk, disk.logical_sector_size.to_bytes(4, "little")),
        (fmt.PHYSICAL_SECTOR_SIZE_GUID, virtual_disk, disk.physical_sector_size.to_bytes(4, "little")),
    ]
    if disk.locator is not None:
        values.append((fmt.PARENT_LOCATOR_GUID, fmt.METADATA_IS_REQUIRED, fmt.build_parent_locator(disk.locator)))
    return values
