"""The block allocation table (BAT, MS-VHDX 2.5): where each payload block lives and what state it is in.

The BAT interleaves payload block entries with sector bitmap entries (one per *chunk* of payload blocks,
differencing disks only). An entry is a file offset in MiB (upper 44 bits) and a state (lower 3 bits).
A *partially present* block of a differencing disk holds only the sectors its bitmap marks; the others
are read from the parent. Every entry is checked when the table is loaded.
"""

from __future__ import annotations

import array
import re
import sys
from typing import Dict, Iterator, Optional, Tuple

from ansible_collections.backup.hyperv.plugins.module_utils.datamover.disk.extents import ExtentKind
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.disk.source import SourceError
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.disk.vhdx import structures as fmt
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.disk.vhdx.layout import Geometry
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.disk.vhdx.log import FileView

_STATE_OF_BYTE = bytes(value & 7 for value in range(256))
_RUNS = re.compile(b"(.)\\1*", re.DOTALL)
_MB_SHIFT = 20
PARENT = None  # marks a range whose content lives in the parent layer
Range = Tuple[int, int, Optional[ExtentKind]]  # start, end, kind (PARENT: read the parent)

_KIND_OF_STATE: Dict[int, Optional[ExtentKind]] = {
    fmt.PAYLOAD_BLOCK_NOT_PRESENT: PARENT,
    fmt.PAYLOAD_BLOCK_FULLY_PRESENT: ExtentKind.DATA,
    **{state: ExtentKind.ZERO for state in fmt.ZERO_STATES},
}


def file_offset(entry: int) -> int:
    """The file offset a BAT entry points at (its upper 44 bits count MiB)."""
    return (entry >> _MB_SHIFT) << _MB_SHIFT


class Bat:
    """A loaded and checked BAT of one VHDX file; read through the file's log-replayed `view`."""

    def __init__(self, view: FileView, geometry: Geometry, region: fmt.Region) -> None:
        self.view, self.path, self.geometry = view, view.path, geometry
        self.ratio = geometry.chunk_ratio
        self.entries = self._load(region)
        self.payload_states = self._check()  # one byte per payload block

    def _load(self, region: fmt.Region) -> array.array:
        shape = self.geometry
        count = fmt.bat_entry_count(shape.virtual_size, shape.block_size, shape.logical_sector_size, shape.has_parent)
        if region.length < count * 8:
            raise SourceError(f"{self.path}: the BAT ({region.length} bytes) is too small for {count} entries")
        table = array.array("Q")
        if table.itemsize != 8:  # pragma: no cover - every CPython platform has an 8-byte "Q"
            raise SourceError("this Python has no 64-bit array type")
        table.frombytes(self.view.read(region.offset, count * 8))
        if sys.byteorder == "big":  # pragma: no cover
            table.byteswap()
        return table

    def _check(self) -> bytes:
        """Validate every BAT entry; return the payload blocks' states, one byte per block."""
        states = self.entries.tobytes()[0 if sys.byteorder == "little" else 7 :: 8].translate(_STATE_OF_BYTE)
        step = self.ratio + 1
        payload = b"".join(states[start : start + self.ratio] for start in range(0, len(states), step))
        payload = payload[: self.geometry.block_count]
        self._check_payload(payload)
        if self.geometry.has_parent:
            self._check_bitmaps(states[self.ratio :: step])
        return payload

    def _check_payload(self, payload: bytes) -> None:
        has_parent, block_size = self.geometry.has_parent, self.geometry.block_size
        allowed = b"\x00\x01\x02\x03\x05\x06\x07" if has_parent else b"\x00\x01\x02\x03\x05\x06"
        bad = payload.translate(None, allowed)
        if bad:
            raise SourceError(f"{self.path}: the BAT holds an invalid payload block state {bad[0]}")
        for match in re.finditer(b"[\x06\x07]", payload):
            block = match.start()
            used = min(block_size, self.geometry.virtual_size - block * block_size)  # the last block may be short
            self._check_offset(self.payload_entry(block), used)

    def _check_bitmaps(self, bitmaps: bytes) -> None:
        if bitmaps.translate(None, b"\x00\x06"):
            raise SourceError(f"{self.path}: the BAT holds an invalid sector bitmap state")
        for match in re.finditer(b"\x06", bitmaps):
            self._check_offset(self.entries[fmt.bitmap_entry_index(match.start(), self.ratio)], fmt.MiB)

    def _check_offset(self, entry: int, length: int) -> None:
        offset = file_offset(entry)
        if offset < fmt.MiB or offset + length > self.view.size:
            raise SourceError(f"{self.path}: a BAT entry points outside the file (offset {offset})")

    def payload_entry(self, block: int) -> int:
        return self.entries[fmt.payload_entry_index(block, self.ratio)]

    # --- allocation map of this file alone ------------------------------------------------------------------------
    def local_ranges(self, start: int, end: int) -> Iterator[Range]:
        """(start, end, kind) runs of [start, end) in this file; kind PARENT where the parent decides."""
        size = self.geometry.block_size
        first, last = start // size, -(-end // size)
        for run in _RUNS.finditer(self.payload_states, first, last):
            state = run.group()[0]
            run_start, run_end = max(run.start() * size, start), min(run.end() * size, end)
            if state != fmt.PAYLOAD_BLOCK_PARTIALLY_PRESENT:
                yield run_start, run_end, _KIND_OF_STATE[state]
                continue
            for block in range(run.start(), run.end()):
                low, high = max(block * size, run_start), min((block + 1) * size, run_end)
                for part_low, part_high, present in self.bitmap_runs(block, low, high):
                    yield part_low, part_high, ExtentKind.DATA if present else PARENT

    def bitmap_runs(self, block: int, start: int, end: int) -> Iterator[Tuple[int, int, bool]]:
        """(start, end, present-in-this-file) byte runs of a partially present block, from its sector bitmap."""
        sector, block_size = self.geometry.logical_sector_size, self.geometry.block_size
        chunk, index_in_chunk = divmod(block, self.ratio)
        entry = self.entries[fmt.bitmap_entry_index(chunk, self.ratio)]
        if entry & 7 != fmt.SB_BLOCK_PRESENT:
            raise SourceError(f"{self.path}: block {block} is partially present but has no sector bitmap")
        first_sector = start // sector
        last_sector = -(-end // sector)
        base_sector = block * (block_size // sector)
        bit = (index_in_chunk * (block_size // sector)) + (first_sector - base_sector)
        count = last_sector - first_sector
        bitmap = self.view.read(file_offset(entry) + bit // 8, (bit % 8 + count + 7) // 8)
        for low, high, present in bit_runs(bitmap, bit % 8, count):
            yield max(start, (first_sector + low) * sector), min(end, (first_sector + high) * sector), present


def bit_runs(bitmap: bytes, first_bit: int, count: int) -> Iterator[Tuple[int, int, bool]]:
    """Runs (start, end, is_set) of `count` bits from `first_bit` on, least significant bit first."""
    value = (int.from_bytes(bitmap, "little") >> first_bit) & ((1 << count) - 1)
    if value == 0 or value == (1 << count) - 1:
        yield 0, count, value != 0
        return
    position = 0
    while position < count:
        if value & 1:
            run = (value ^ (value + 1)).bit_length() - 1  # trailing ones
        else:
            run = (value & -value).bit_length() - 1 if value else count - position  # trailing zeros
        run = min(run, count - position)
        yield position, position + run, bool(value & 1)
        value >>= run
        position += run
