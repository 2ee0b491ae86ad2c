"""Writes dynamic (sparse), fixed and differencing VHDX files: used by restore, and by tests to build chains.

Payload blocks of a dynamic disk are placed in the file in the order they are first written, each at a
1 MiB-aligned offset; a fixed disk has every block allocated up front, in order (MS-VHDX 2.6.2.1
LeaveBlockAllocated). The file is extended with ftruncate so unwritten parts stay holes. All-zero data never
allocates a block of a dynamic disk, nor writes bytes that would read as zero anyway. A differencing
disk records which sectors it holds in sector bitmaps (a set bit: read this file; clear: the parent).
The BAT, metadata, region tables and both headers are written by close(), after the payload.
Layout: 0 file identifier, 64/128 KiB headers, 192/256 KiB region tables, 1 MiB log (empty),
2 MiB metadata, 3 MiB BAT, then payload and sector bitmap blocks.
"""

from __future__ import annotations

import bisect
import os
import uuid
from dataclasses import replace
from typing import Dict, List, Optional, Tuple, Union

from ansible_collections.backup.hyperv.plugins.module_utils.datamover.base.diskio import positional_writer
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.base.errors import DataMoverError
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.base.fsutil import O_BINARY, pwrite_all
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.disk.source import ZERO_BUFFER
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.disk.vhdx import structures as fmt
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.disk.vhdx.metadata import NewDisk, build_metadata
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.disk.vhdx.reader import VhdxSource

MiB = fmt.MiB
LOG_OFFSET = 1 * MiB
LOG_LENGTH = 1 * MiB
METADATA_OFFSET = 2 * MiB
METADATA_LENGTH = 1 * MiB
BAT_OFFSET = 3 * MiB
CREATOR = "backup.hyperv data mover"


class VhdxWriteError(DataMoverError):
    """The VHDX file cannot be written, or the writer was used after an error or close()."""


def is_zero(data: memoryview) -> bool:
    """True when every byte of `data` is zero (compared 1 MiB at a time)."""
    for start in range(0, len(data), len(ZERO_BUFFER)):
        part = data[start : start + len(ZERO_BUFFER)]
        if part != ZERO_BUFFER[: len(part)]:
            return False
    return True


class VhdxWriter:
    """A new VHDX file; write() virtual content in any order, then close() (or use it as a context manager).

    ``disk_id``: the virtual disk id to keep (a restore's source's); None makes a new one. ``fixed``: a fixed
    disk (not with ``parent``)."""

    def __init__(
        self,
        path: str,
        virtual_size: int,
        *,
        block_size: int = 32 * MiB,
        logical_sector_size: int = 512,
        physical_sector_size: int = 4096,
        parent: Optional[str] = None,
        parent_windows_path: Optional[str] = None,
        disk_id: Optional[uuid.UUID] = None,
        fixed: bool = False,
    ) -> None:
        _check_geometry(virtual_size, block_size, logical_sector_size, physical_sector_size)
        if fixed and parent:
            raise ValueError("a differencing disk cannot be fixed")
        self.path, self.virtual_size, self.block_size = path, virtual_size, block_size
        self.logical_sector_size, self.physical_sector_size = logical_sector_size, physical_sector_size
        self._locator = _parent_locator(path, parent, virtual_size, logical_sector_size) if parent else None
        if self._locator is not None and parent_windows_path:
            # The parent as the Windows host that owns the chain names it (Hyper-V's absolute_win32_path), for
            # a chain made here for another host; the relative path is the same on both.
            self._locator["absolute_win32_path"] = parent_windows_path
        self._disk = NewDisk(
            virtual_size, block_size, logical_sector_size, physical_sector_size, disk_id or uuid.uuid4(), fixed
        )
        self._ratio = fmt.chunk_ratio(block_size, logical_sector_size)
        count = fmt.bat_entry_count(virtual_size, block_size, logical_sector_size, parent is not None)
        self._bat: Dict[int, int] = {}  # BAT index -> entry, for the entries that are not 0 (the table is sparse)
        self._bat_count = count
        self._bat_length = -(-count * 8 // MiB) * MiB
        self._next_offset = BAT_OFFSET + self._bat_length
        if fixed:
            self._allocate_every_block()
        self._written: Dict[int, List[Tuple[int, int]]] = {}  # block -> written (start, end) within it
        self._bitmaps: Dict[int, bytearray] = {}  # chunk -> sector bitmap (differencing disks)
        self._open = False
        try:
            flags = os.O_RDWR | os.O_CREAT | os.O_TRUNC | O_BINARY | getattr(os, "O_CLOEXEC", 0)
            self._fd = os.open(path, flags, 0o644)
        except OSError as exc:
            raise VhdxWriteError(f"{path}: cannot create VHDX file: {exc.strerror}") from exc
        try:
            self._payload = positional_writer(path, self._fd)  # block data: direct I/O where possible
        except OSError as exc:
            os.close(self._fd)
            raise VhdxWriteError(f"{path}: cannot create VHDX file: {exc.strerror}") from exc
        self._open = True

    def __enter__(self) -> VhdxWriter:
        return self

    def __exit__(self, exc_type: object, *rest: object) -> None:
        if exc_type is None:
            self.close()
        else:
            self._abandon()

    @property
    def disk_id(self) -> uuid.UUID:
        return self._disk.disk_id

    def _allocate_every_block(self) -> None:
        for block in range(-(-self.virtual_size // self.block_size)):
            self._bat[fmt.payload_entry_index(block, self._ratio)] = self._next_offset
            self._next_offset += self.block_size

    # --- payload -------------------------------------------------------------------------------------------------
    def write(self, offset: int, data: Union[bytes, bytearray, memoryview]) -> None:
        """Store virtual content at `offset`; offset and length are multiples of the logical sector size."""
        if not self._open:
            raise VhdxWriteError(f"{self.path}: write after close or after an error")
        view = memoryview(data).cast("B")
        sector = self.logical_sector_size
        if offset < 0 or offset % sector or len(view) % sector or offset + len(view) > self.virtual_size:
            raise VhdxWriteError(
                f"{self.path}: write of {len(view)} bytes at {offset} is not sector-aligned or beyond the disk"
            )
        try:
            position = 0
            while position < len(view):
                block, within = divmod(offset + position, self.block_size)
                step = min(len(view) - position, self.block_size - within)
                self._write_piece(block, within, view[position : position + step])
                position += step
        except OSError as exc:
            self._abandon()
            raise VhdxWriteError(f"{self.path}: write failed: {exc.strerror}") from exc

    def _write_piece(self, block: int, within: int, piece: memoryview) -> None:
        zero = is_zero(piece)
        index = fmt.payload_entry_index(block, self._ratio)
        if index not in self._bat:
            if zero and self._locator is None:
                return  # a dynamic disk reads unallocated blocks as zero
            self._bat[index] = self._next_offset
            self._next_offset += self.block_size
            os.ftruncate(self._fd, self._next_offset)
        written = self._written.setdefault(block, [])
        end = within + len(piece)
        if not zero or any(low < end and within < high for low, high in written):
            self._payload.pwrite(piece, self._bat[index] + within)
            _add_interval(written, within, end)
        if self._locator is not None:
            self._mark_sectors(block, within, end)

    def _mark_sectors(self, block: int, start: int, end: int) -> None:
        chunk, index_in_chunk = divmod(block, self._ratio)
        bitmap = self._bitmaps.get(chunk)
        if bitmap is None:
            bitmap = self._bitmaps[chunk] = bytearray(fmt.SECTOR_BITMAP_BLOCK_SIZE)
        per_block = self.block_size // self.logical_sector_size
        first = index_in_chunk * per_block + start // self.logical_sector_size
        set_bits(bitmap, first, first + (end - start) // self.logical_sector_size)

    # --- finishing -----------------------------------------------------------------------------------------------
    def close(self) -> None:
        """Write BAT, metadata, region tables and headers, then fsync and close; idempotent."""
        if not self._open:
            return
        try:
            self._finish_bat()
            os.ftruncate(self._fd, self._next_offset)
            self._write_bat()
            self._pwrite(METADATA_OFFSET, build_metadata(replace(self._disk, locator=self._locator)))
            regions = {
                fmt.BAT_GUID: fmt.Region(BAT_OFFSET, self._bat_length, True),
                fmt.METADATA_GUID: fmt.Region(METADATA_OFFSET, METADATA_LENGTH, True),
            }
            table = fmt.build_region_table(regions)
            for region_offset in fmt.REGION_TABLE_OFFSETS:
                self._pwrite(region_offset, table)
            self._pwrite(0, fmt.build_file_identifier(CREATOR))
            os.fsync(self._fd)
            self._write_headers()
            os.fsync(self._fd)
        except OSError as exc:
            self._abandon()
            raise VhdxWriteError(f"{self.path}: cannot finish VHDX file: {exc.strerror}") from exc
        self._abandon()

    def _finish_bat(self) -> None:
        per_block = self.block_size // self.logical_sector_size
        every_block = range(-(-self.virtual_size // self.block_size))
        for block in every_block if self._disk.fixed else self._written:
            index = fmt.payload_entry_index(block, self._ratio)
            state = fmt.PAYLOAD_BLOCK_FULLY_PRESENT
            if self._locator is not None:
                chunk, index_in_chunk = divmod(block, self._ratio)
                bits = self._bitmaps[chunk][index_in_chunk * per_block // 8 : (index_in_chunk + 1) * per_block // 8]
                if bits.count(0xFF) != len(bits):
                    state = fmt.PAYLOAD_BLOCK_PARTIALLY_PRESENT
            self._bat[index] |= state
        if self._locator is None:
            return
        # Every chunk gets a bitmap block, all-clear ones as file holes: some readers (libvhdi) mishandle
        # a differencing disk whose bitmap entries are NOT_PRESENT, although MS-VHDX allows it.
        for chunk in range(self._bat_count // (self._ratio + 1)):
            self._bat[fmt.bitmap_entry_index(chunk, self._ratio)] = self._next_offset | fmt.SB_BLOCK_PRESENT
            bitmap = self._bitmaps.get(chunk)
            if bitmap is not None:
                self._pwrite(self._next_offset, bytes(bitmap))
            self._next_offset += fmt.SECTOR_BITMAP_BLOCK_SIZE

    def _write_bat(self) -> None:
        for position, table in fmt.bat_slices(self._bat, self._bat_count):
            self._pwrite(BAT_OFFSET + position, table)

    def _write_headers(self) -> None:
        file_write, data_write = uuid.uuid4(), uuid.uuid4()
        for sequence, offset in enumerate(fmt.HEADER_OFFSETS, start=1):
            header = fmt.Header(sequence, file_write, data_write, fmt.ZERO_GUID, 0, 1, LOG_LENGTH, LOG_OFFSET)
            self._pwrite(offset, fmt.build_header(header))

    def _pwrite(self, offset: int, data: Union[bytes, memoryview]) -> None:
        pwrite_all(self._fd, data, offset)

    def _abandon(self) -> None:
        if self._open:
            self._open = False
            try:
                self._payload.close()
            finally:
                os.close(self._fd)


def _check_geometry(virtual_size: int, block_size: int, logical: int, physical: int) -> None:
    if not fmt.MIN_BLOCK_SIZE <= block_size <= fmt.MAX_BLOCK_SIZE or block_size & (block_size - 1):
        raise ValueError(f"block_size {block_size} must be a power of two from 1 to 256 MiB")
    if logical not in (512, 4096) or physical not in (512, 4096):
        raise ValueError("sector sizes must be 512 or 4096")
    if not 0 < virtual_size <= fmt.MAX_VIRTUAL_SIZE or virtual_size % logical:
        raise ValueError(f"virtual_size {virtual_size} must be a positive multiple of {logical}, at most 64 TiB")


def _parent_locator(path: str, parent: str, virtual_size: int, logical: int) -> Dict[str, str]:
    """Locator entries naming `parent` (relative path first, as Hyper-V does) and its data write GUID."""
    with VhdxSource(parent) as source:
        if source.virtual_size != virtual_size or source.logical_sector_size != logical:
            raise ValueError(f"{parent}: a differencing disk must match its parent's size and logical sector size")
        linkage = source.header.data_write_guid
    absolute = os.path.abspath(parent)
    relative = os.path.relpath(absolute, os.path.dirname(os.path.abspath(path)))
    return {
        "parent_linkage": "{" + str(linkage) + "}",
        "relative_path": ".\\" + relative.replace("/", "\\"),
        "absolute_win32_path": absolute,
    }


def set_bits(bitmap: bytearray, first: int, end: int) -> None:
    """Set bits [first, end) of `bitmap`, least significant bit of each byte first."""
    while first < end and first % 8:
        bitmap[first // 8] |= 1 << (first % 8)
        first += 1
    whole_end = end - end % 8
    if first < whole_end:
        bitmap[first // 8 : whole_end // 8] = b"\xff" * ((whole_end - first) // 8)
        first = whole_end
    while first < end:
        bitmap[first // 8] |= 1 << (first % 8)
        first += 1


def _add_interval(intervals: List[Tuple[int, int]], start: int, end: int) -> None:
    """Record [start, end) in a sorted list of disjoint intervals, merging the ones it touches."""
    if intervals and intervals[-1][1] == start:  # the common, sequential case
        intervals[-1] = (intervals[-1][0], end)
        return
    first = bisect.bisect_left(intervals, (start, start))
    if first and intervals[first - 1][1] >= start:
        first -= 1
    last = first
    while last < len(intervals) and intervals[last][0] <= end:
        last += 1
    if first < last:
        start, end = min(start, intervals[first][0]), max(end, intervals[last - 1][1])
    intervals[first:last] = [(start, end)]
