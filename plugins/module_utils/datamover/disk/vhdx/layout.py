"""The fixed structures a VHDX reader checks before anything else: the current header, the region table
and the metadata items, which give the disk's `Geometry`.

Words: see structures.py. Every structure is checked before use, so a damaged or hostile file gives a
`SourceError` naming the file, never a crash, a hang or wrong data.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Callable, Dict, Mapping, Optional

from ansible_collections.backup.hyperv.plugins.module_utils.datamover.disk.source import SourceError
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.disk.vhdx import structures as fmt
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.disk.vhdx.log import FileView

MAX_METADATA_ITEM_SIZE = 1 * fmt.MiB  # a parent locator is the largest item; a few KiB in practice
KNOWN_METADATA = (
    fmt.FILE_PARAMETERS_GUID,
    fmt.VIRTUAL_DISK_SIZE_GUID,
    fmt.PAGE83_GUID,
    fmt.LOGICAL_SECTOR_SIZE_GUID,
    fmt.PHYSICAL_SECTOR_SIZE_GUID,
    fmt.PARENT_LOCATOR_GUID,
)
Metadata = Dict[uuid.UUID, bytes]


@dataclass(frozen=True)
class Geometry:
    """What the metadata says about the virtual disk (MS-VHDX 2.6.2), checked."""

    block_size: int
    has_parent: bool
    virtual_size: int
    logical_sector_size: int
    physical_sector_size: int
    leave_blocks_allocated: bool = False  # set in a fixed disk (MS-VHDX 2.6.2.1); ignored with has_parent

    @property
    def vhd_type(self) -> str:
        """Fixed, dynamic or differencing, as Get-VHD's VhdType names them."""
        if self.has_parent:
            return "differencing"
        return "fixed" if self.leave_blocks_allocated else "dynamic"

    @property
    def chunk_ratio(self) -> int:
        return fmt.chunk_ratio(self.block_size, self.logical_sector_size)

    @property
    def block_count(self) -> int:
        return -(-self.virtual_size // self.block_size)


def current_header(read: Callable[[int, int], bytes], path: str) -> fmt.Header:
    """The valid header with the higher sequence number (MS-VHDX 2.2.2)."""
    headers = [fmt.parse_header(read(offset, fmt.HEADER_SIZE)) for offset in fmt.HEADER_OFFSETS]
    valid = [header for header in headers if header is not None]
    if not valid:
        raise SourceError(f"{path}: both VHDX headers are corrupt (bad signature or checksum)")
    header = max(valid, key=lambda item: item.sequence_number)
    if header.version != 1:
        raise SourceError(f"{path}: unsupported VHDX version {header.version}")
    return header


def read_regions(view: FileView) -> Dict[uuid.UUID, fmt.Region]:
    """The first valid region table; it must place the BAT and the metadata inside the file."""
    for offset in fmt.REGION_TABLE_OFFSETS:
        regions = fmt.parse_region_table(view.read(offset, fmt.REGION_TABLE_SIZE))
        if regions is not None:
            break
    else:
        raise SourceError(f"{view.path}: both VHDX region tables are corrupt")
    for guid, region in regions.items():
        if guid not in (fmt.BAT_GUID, fmt.METADATA_GUID) and region.required:
            raise SourceError(f"{view.path}: unsupported required VHDX region {guid}")
    for guid, name in ((fmt.BAT_GUID, "BAT"), (fmt.METADATA_GUID, "metadata")):
        region = regions.get(guid)
        if region is None:
            raise SourceError(f"{view.path}: the VHDX region table has no {name} region")
        if region.offset < fmt.MiB or region.offset % fmt.MiB or region.offset + region.length > view.size:
            where = f"({region.length} bytes at {region.offset})"
            raise SourceError(f"{view.path}: the {name} region {where} lies outside the file")
    return regions


def read_metadata(view: FileView, region: fmt.Region) -> Metadata:
    """The values of the known metadata items; an unknown required item is refused."""
    if region.length < fmt.METADATA_TABLE_SIZE:
        raise SourceError(f"{view.path}: the metadata region is smaller than its table")
    items = fmt.parse_metadata_table(view.read(region.offset, fmt.METADATA_TABLE_SIZE))
    if items is None:
        raise SourceError(f"{view.path}: the VHDX metadata table is corrupt")
    values: Metadata = {}
    for guid, item in items.items():
        if guid not in KNOWN_METADATA:
            if item.flags & fmt.METADATA_IS_REQUIRED:
                raise SourceError(f"{view.path}: unsupported required VHDX metadata item {guid}")
            continue
        inside = item.offset >= fmt.METADATA_TABLE_SIZE and item.offset + item.length <= region.length
        if item.length and (not inside or item.length > MAX_METADATA_ITEM_SIZE):
            raise SourceError(f"{view.path}: VHDX metadata item {guid} lies outside the metadata region")
        values[guid] = view.read(region.offset + item.offset, item.length)
    return values


def geometry_of(values: Mapping[uuid.UUID, bytes], path: str) -> Geometry:
    """The checked geometry the metadata values describe."""

    def number(guid: uuid.UUID, size: int, name: str) -> int:
        raw = values.get(guid, b"")
        if len(raw) < size:
            raise SourceError(f"{path}: VHDX metadata has no valid {name}")
        return int.from_bytes(raw[:size], "little")

    parameters = number(fmt.FILE_PARAMETERS_GUID, 8, "file parameters")
    geometry = Geometry(
        block_size=parameters & 0xFFFFFFFF,
        has_parent=bool((parameters >> 33) & 1),
        leave_blocks_allocated=bool((parameters >> 32) & 1),
        virtual_size=number(fmt.VIRTUAL_DISK_SIZE_GUID, 8, "virtual disk size"),
        logical_sector_size=number(fmt.LOGICAL_SECTOR_SIZE_GUID, 4, "logical sector size"),
        physical_sector_size=number(fmt.PHYSICAL_SECTOR_SIZE_GUID, 4, "physical sector size"),
    )
    _check_geometry(geometry, path)
    return geometry


def _check_geometry(geometry: Geometry, path: str) -> None:
    size, logical, physical = geometry.block_size, geometry.logical_sector_size, geometry.physical_sector_size
    if size < fmt.MIN_BLOCK_SIZE or size > fmt.MAX_BLOCK_SIZE or size & (size - 1):
        raise SourceError(f"{path}: invalid VHDX block size {size} (must be a power of two, 1-256 MiB)")
    if logical not in (512, 4096) or physical not in (512, 4096):
        raise SourceError(f"{path}: invalid VHDX sector sizes {logical}/{physical}")
    virtual_size = geometry.virtual_size
    if not 0 < virtual_size <= fmt.MAX_VIRTUAL_SIZE or virtual_size % logical:
        raise SourceError(f"{path}: invalid VHDX virtual disk size {virtual_size}")


def disk_id_of(values: Mapping[uuid.UUID, bytes]) -> Optional[uuid.UUID]:
    """The virtual disk id (MS-VHDX 2.6.2.3, the SCSI page 83 id the guest sees), or None when the item is
    absent or malformed."""
    page83 = values.get(fmt.PAGE83_GUID, b"")
    return uuid.UUID(bytes_le=page83) if len(page83) == 16 else None
