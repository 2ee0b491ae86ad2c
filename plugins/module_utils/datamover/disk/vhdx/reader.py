"""VHDX disks (fixed, dynamic, differencing chains) as a `DiskSource`, read-only.

Opening picks the valid header with the higher sequence number, replays a pending log *in memory*
(the file is never written: it may be a shadow copy, see log.py), then reads the region table, metadata
(layout.py) and BAT (bat.py) through that replayed view, and opens the parent of a differencing disk
(chain.py). Words: see structures.py. A *layer* is one file of a differencing chain; its parent is the
next layer.
"""

from __future__ import annotations

import os
from typing import Iterator, List, Optional, Tuple

from ansible_collections.backup.hyperv.plugins.module_utils.datamover.base.fsutil import start_reading
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.disk.extents import (
    Extent,
    ExtentKind,
    merge_extents,
)
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.disk.source import (
    DiskSource,
    SourceError,
    fill_zero,
    open_readonly,
    pread_exact,
)
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.disk.vhdx import chain as chains
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.disk.vhdx import layout
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.disk.vhdx import structures as fmt
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.disk.vhdx.bat import PARENT, Bat, file_offset
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.disk.vhdx.log import FileView, replay_log


class VhdxSource(DiskSource):
    """One VHDX file and, for a differencing disk, its chain of parents.

    Beyond DiskSource (`disk_id`, `vhd_type`, `parent_locator`): `header` (the current header:
    `data_write_guid` changes whenever the virtual content changes), `parent` and `chain`.

    `parents`: the chain's files below this one, nearest first, where its host named them (Get-VHD ParentPath,
    mapped to where they are read): each parent is opened there instead of where the child's parent locator
    leads, and must still be the parent the locator names (`chains.check_linkage`). Below the last one named,
    the locator is followed.
    """

    format = "vhdx"

    def __init__(
        self, path: str, fd: Optional[int] = None, _children: Tuple[str, ...] = (), parents: Tuple[str, ...] = ()
    ) -> None:
        self.path = path
        self.parent: Optional[VhdxSource] = None
        self._named_parents = parents
        self._fd = open_readonly(path) if fd is None else fd
        try:
            self._open(_children)
        except BaseException:
            self.close()
            raise

    # --- opening -------------------------------------------------------------------------------------------------
    def _open(self, children: Tuple[str, ...]) -> None:
        view = self._replayed_view()
        regions = layout.read_regions(view)
        metadata = layout.read_metadata(view, regions[fmt.METADATA_GUID])
        geometry = layout.geometry_of(metadata, self.path)
        self.block_size, self.has_parent = geometry.block_size, geometry.has_parent
        self.virtual_size = geometry.virtual_size
        self.logical_sector_size = geometry.logical_sector_size
        self.physical_sector_size = geometry.physical_sector_size
        self.disk_id, self.vhd_type = layout.disk_id_of(metadata), geometry.vhd_type
        self._view, self.bat_region = view, regions[fmt.BAT_GUID]
        self._bat = Bat(view, geometry, self.bat_region)
        if self.has_parent:
            self.parent_locator = chains.parent_locator(self.path, metadata.get(fmt.PARENT_LOCATOR_GUID, b""))
            self.parent = self._open_parent(self.parent_locator, children)
        elif self._named_parents:
            raise SourceError(
                f"{self.path}: its host names parent {self._named_parents[0]}, but the file is not a differencing disk"
            )

    def _replayed_view(self) -> FileView:
        """The current header, and the file as its log says it is (replayed in memory)."""
        try:
            physical_size = os.fstat(self._fd).st_size
        except OSError as exc:
            raise SourceError(f"{self.path}: cannot inspect file: {exc.strerror}") from exc
        if physical_size < fmt.MiB:
            raise SourceError(f"{self.path}: {physical_size} bytes is too small for a VHDX file (truncated?)")
        if self._pread(0, 8) != fmt.FILE_SIGNATURE:
            raise SourceError(f"{self.path}: not a VHDX file (no 'vhdxfile' signature)")
        self.header = layout.current_header(self._pread, self.path)
        view = FileView(self._fd, self.path, physical_size)
        if self.header.log_guid != fmt.ZERO_GUID:
            replay_log(view, self.header)
        return view

    def _pread(self, offset: int, length: int) -> bytes:
        buffer = bytearray(length)
        pread_exact(self._fd, memoryview(buffer), offset, self.path)
        return bytes(buffer)

    # --- differencing chain --------------------------------------------------------------------------------------
    def _open_parent(self, locator: chains.Locator, children: Tuple[str, ...]) -> VhdxSource:
        chain = (*children, os.path.realpath(self.path))
        named = self._named_parents[0] if self._named_parents else None
        found = chains.find_parent(self.path, locator, chain, named)
        parent = VhdxSource(found, _children=chain, parents=self._named_parents[1:])
        try:
            chains.check_linkage(self.path, locator, parent.path, parent.header.data_write_guid)
            if parent.virtual_size != self.virtual_size:
                raise SourceError(f"{self.path}: parent {parent.path} has a different virtual size")
        except SourceError:
            parent.close()
            raise
        return parent

    def payload_entry(self, block: int) -> int:
        """The BAT entry of payload block `block` of this file (an in-place update rewrites it, update.py)."""
        return self._bat.payload_entry(block)

    @property
    def chain(self) -> List[str]:
        """Paths of this file and its parents, child first."""
        return [self.path] + (self.parent.chain if self.parent is not None else [])

    # --- allocation map --------------------------------------------------------------------------------------------
    def extents(self) -> Iterator[Extent]:
        return merge_extents(self._ranges(0, self.virtual_size))

    def _ranges(self, start: int, end: int) -> Iterator[Extent]:
        """Resolved extents of [start, end), through the parents."""
        for offset, stop, kind in self._bat.local_ranges(start, end):
            if kind is not PARENT:
                yield Extent(offset, stop - offset, kind)
            elif self.parent is not None:
                yield from self.parent._ranges(offset, stop)
            else:
                yield Extent(offset, stop - offset, ExtentKind.UNALLOCATED)

    # --- reading -------------------------------------------------------------------------------------------------
    def _readinto(self, offset: int, buffer: memoryview) -> None:
        size, bat = self.block_size, self._bat
        position, total = 0, len(buffer)
        while position < total:
            virtual = offset + position
            block, within = divmod(virtual, size)
            step = min(total - position, size - within)
            piece = buffer[position : position + step]
            entry = bat.payload_entry(block)
            state = entry & 7
            if state == fmt.PAYLOAD_BLOCK_FULLY_PRESENT:
                self._view.readinto(file_offset(entry) + within, piece)
            elif state == fmt.PAYLOAD_BLOCK_PARTIALLY_PRESENT:
                self._read_partial(block, entry, virtual, piece)
            elif state == fmt.PAYLOAD_BLOCK_NOT_PRESENT and self.parent is not None:
                self.parent._readinto(virtual, piece)
            else:
                fill_zero(piece)
            position += step

    def _prefetch(self, offset: int, length: int) -> None:
        """Hint the blocks this file holds whole; a partly present block or a parent's is read unhinted."""
        size, end = self.block_size, offset + length
        while offset < end:
            block, within = divmod(offset, size)
            step = min(end - offset, size - within)
            entry = self._bat.payload_entry(block)
            if entry & 7 == fmt.PAYLOAD_BLOCK_FULLY_PRESENT:
                start_reading(self._view.fd, file_offset(entry) + within, step)
            offset += step

    def _read_partial(self, block: int, entry: int, virtual: int, piece: memoryview) -> None:
        block_start = file_offset(entry) - block * self.block_size
        for low, high, present in self._bat.bitmap_runs(block, virtual, virtual + len(piece)):
            part = piece[low - virtual : high - virtual]
            if present:
                self._view.readinto(block_start + low, part)
            elif self.parent is not None:
                self.parent._readinto(low, part)
            else:
                fill_zero(part)

    def close(self) -> None:
        parent, self.parent = self.parent, None
        if parent is not None:
            parent.close()
        fd, self._fd = self._fd, -1
        if fd >= 0:
            os.close(fd)
