"""An existing VHDX rewritten in place, for a quick rollback: only the content given is written.

The file keeps its identity and geometry (virtual disk id, block and sector sizes, fixed or dynamic). Before the
first change, the header is updated as MS-VHDX 2.2.2 asks of a writer: a new FileWriteGuid and DataWriteGuid,
written with the next sequence number over the older of the two headers, then flushed. A write into an
allocated block goes where the block is; into an unallocated one (which reads as zero), non-zero data gets a
new block at the end of the file, and its BAT entry (2.5.1.1, PAYLOAD_BLOCK_FULLY_PRESENT) is written by close().

Reads through ``source`` see the file as it was opened (new blocks are not visible to it), which is what a
rollback compares against: each piece is read before it is written, and writes never touch other pieces.
Refused: a differencing disk (its content is partly its parent's) and a pending log (Hyper-V replays it when it
next opens the disk; until then the file's own structures are not current).
"""

from __future__ import annotations

import os
import struct
import uuid
from typing import Dict, Union

from ansible_collections.backup.hyperv.plugins.module_utils.datamover.base.errors import DataMoverError
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.base.fsutil import O_BINARY, pwrite_all
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.disk.source import pread_exact
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.disk.vhdx import structures as fmt
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.disk.vhdx.bat import file_offset
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.disk.vhdx.reader import VhdxSource
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.disk.vhdx.writer import is_zero

BAT_ENTRY = struct.Struct("<Q")


class VhdxUpdateError(DataMoverError):
    """The existing VHDX cannot be updated in place."""


class VhdxUpdate:
    """``source`` (a VhdxSource of the file as opened), ``write()`` virtual content, then ``close()``."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.source = VhdxSource(path)
        self._fd = -1
        self._new_blocks: Dict[int, int] = {}  # block -> file offset of a block allocated here
        self._begun = False
        try:
            self._refuse_unless_updatable()
            self._fd = os.open(path, os.O_RDWR | O_BINARY | getattr(os, "O_CLOEXEC", 0))
            self._end = -(-os.fstat(self._fd).st_size // fmt.MiB) * fmt.MiB  # new blocks start 1 MiB-aligned
        except OSError as exc:
            self.close()
            raise VhdxUpdateError(f"{path}: cannot open for writing: {exc.strerror}") from exc
        except BaseException:
            self.close()
            raise

    def _refuse_unless_updatable(self) -> None:
        if self.source.has_parent:
            raise VhdxUpdateError(f"{self.path}: a differencing disk cannot be rolled back in place")
        if self.source.header.log_guid != fmt.ZERO_GUID:
            raise VhdxUpdateError(
                f"{self.path}: the VHDX has a pending log; attach it once in Hyper-V (which replays the log) "
                "or restore without rollback"
            )

    def write(self, offset: int, data: Union[bytes, memoryview]) -> None:
        """Store virtual content at ``offset`` (sector-aligned, inside the disk)."""
        view = memoryview(data).cast("B")
        sector, size = self.source.logical_sector_size, self.source.virtual_size
        if offset % sector or len(view) % sector or offset + len(view) > size:
            raise VhdxUpdateError(f"{self.path}: write of {len(view)} bytes at {offset} is not sector-aligned")
        position = 0
        while position < len(view):
            block, within = divmod(offset + position, self.source.block_size)
            step = min(len(view) - position, self.source.block_size - within)
            self._write_piece(block, within, view[position : position + step])
            position += step

    def _write_piece(self, block: int, within: int, piece: memoryview) -> None:
        where = self._block_offset(block)
        if where is None:
            if is_zero(piece):
                return  # an unallocated block already reads as zero
            where = self._allocate(block)
        self._begin()
        pwrite_all(self._fd, piece, where + within)

    def _block_offset(self, block: int) -> Union[int, None]:
        if block in self._new_blocks:
            return self._new_blocks[block]
        entry = self.source.payload_entry(block)
        return file_offset(entry) if entry & 7 == fmt.PAYLOAD_BLOCK_FULLY_PRESENT else None

    def _allocate(self, block: int) -> int:
        where, self._end = self._end, self._end + self.source.block_size
        os.ftruncate(self._fd, self._end)  # the new block reads as zero, as the unallocated one did
        self._new_blocks[block] = where
        return where

    def _begin(self) -> None:
        """Before the first change: new write GUIDs in the next header (MS-VHDX 2.2.2), made durable."""
        if self._begun:
            return
        current = self.source.header
        headers = [fmt.parse_header(self._read(at, fmt.HEADER_SIZE)) for at in fmt.HEADER_OFFSETS]
        older = 0 if headers[0] is None or headers[0].sequence_number < current.sequence_number else 1
        fields = (current.sequence_number + 1, uuid.uuid4(), uuid.uuid4(), fmt.ZERO_GUID)
        rest = (current.log_version, current.version, current.log_length, current.log_offset)
        pwrite_all(self._fd, fmt.build_header(fmt.Header(*fields, *rest)), fmt.HEADER_OFFSETS[older])
        os.fsync(self._fd)
        self._begun = True

    def close(self) -> None:
        """Write the BAT entries of new blocks and flush; idempotent."""
        try:
            if self._fd >= 0 and self._new_blocks:
                ratio = fmt.chunk_ratio(self.source.block_size, self.source.logical_sector_size)
                base = self.source.bat_region.offset
                for block, where in sorted(self._new_blocks.items()):
                    entry = BAT_ENTRY.pack(where | fmt.PAYLOAD_BLOCK_FULLY_PRESENT)
                    pwrite_all(self._fd, entry, base + fmt.payload_entry_index(block, ratio) * BAT_ENTRY.size)
                self._new_blocks.clear()
            if self._fd >= 0:
                os.fsync(self._fd)
        finally:
            fd, self._fd = self._fd, -1
            if fd >= 0:
                os.close(fd)
            self.source.close()

    def _read(self, offset: int, length: int) -> bytes:
        buffer = bytearray(length)
        pread_exact(self._fd, memoryview(buffer), offset, self.path)
        return bytes(buffer)
