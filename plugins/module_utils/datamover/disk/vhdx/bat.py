"""The block allocation table (BAT, MS-VHDX 2.5): where each payload block lives and what state it is in.

The BAT interleaves payload block entries with sector bitmap entries (one per *chunk* of payload blocks,
differencing disks only). An entry is a file offset in MiB (upper 44 bits) and a state (lower 3 bits).
A *partially present* block of a differencing disk holds only the sectors its bitmap marks; the others
are read from the parent. Every entry is checked when the table is loaded.
"""

from __future__ import annotations

import array
import bisect
import re
import sys
import threading
from collections import OrderedDict
from typing import Dict, Iterator, List, Optional, Tuple

from ansible_collections.backup.hyperv.plugins.module_utils.datamover.base.byteruns import byte_runs
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.disk.extents import ExtentKind
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.disk.source import SourceError
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.disk.vhdx import structures as fmt
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.disk.vhdx.layout import Geometry
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.disk.vhdx.log import FileView

_STATE_OF_BYTE = bytes(value & 7 for value in range(256))
CACHED_SLICES = 4  # slices kept for the reads' lookups
_MB_SHIFT = 20
PARENT = None  # marks a range whose content lives in the parent layer
Range = Tuple[int, int, Optional[ExtentKind]]  # start, end, kind (PARENT: read the parent)
StateRun = Tuple[int, int, int]  # first block, end block (excluded), payload block state

_KIND_OF_STATE: Dict[int, Optional[ExtentKind]] = {
    fmt.PAYLOAD_BLOCK_NOT_PRESENT: PARENT,
    fmt.PAYLOAD_BLOCK_FULLY_PRESENT: ExtentKind.DATA,
    **{state: ExtentKind.ZERO for state in fmt.ZERO_STATES},
}


def file_offset(entry: int) -> int:
    """The file offset a BAT entry points at (its upper 44 bits count MiB)."""
    return (entry >> _MB_SHIFT) << _MB_SHIFT


class Bat:
    """A checked BAT of one VHDX file, read through the file's log-replayed `view` a slice at a time.

    The table is never held whole (a 64 TiB disk of 1 MiB blocks has a 512 MiB BAT): opening reads it slice by
    slice to check every entry and keep the payload blocks' states as runs; a read looks its entry up in a few
    cached slices (safe from worker threads).
    """

    def __init__(self, view: FileView, geometry: Geometry, region: fmt.Region) -> None:
        self.view, self.path, self.geometry = view, view.path, geometry
        self.ratio = geometry.chunk_ratio
        period = self.ratio + 1  # a slice holds whole periods: its payload blocks and their bitmap entries
        self.slice_entries = period * max(1, fmt.BAT_SLICE_ENTRIES // period)
        self.region_offset, self.count = region.offset, self._entry_count(region)
        self._cache: OrderedDict[int, array.array] = OrderedDict()
        self._lock = threading.Lock()
        self.state_runs = self._check()  # (first block, end block, state) of the payload blocks, in order
        self._run_starts = [run[0] for run in self.state_runs]

    def _entry_count(self, region: fmt.Region) -> int:
        shape = self.geometry
        count = fmt.bat_entry_count(shape.virtual_size, shape.block_size, shape.logical_sector_size, shape.has_parent)
        if region.length < count * 8:
            raise SourceError(f"{self.path}: the BAT ({region.length} bytes) is too small for {count} entries")
        return count

    def _slice(self, number: int) -> array.array:
        with self._lock:
            table = self._cache.get(number)
            if table is not None:
                self._cache.move_to_end(number)
                return table
        first = number * self.slice_entries
        table = array.array("Q")
        if table.itemsize != 8:  # pragma: no cover - every CPython platform has an 8-byte "Q"
            raise SourceError("this Python has no 64-bit array type")
        table.frombytes(self.view.read(self.region_offset + first * 8, min(self.slice_entries, self.count - first) * 8))
        if sys.byteorder == "big":  # pragma: no cover
            table.byteswap()
        with self._lock:
            self._cache[number] = table
            if len(self._cache) > CACHED_SLICES:
                self._cache.popitem(last=False)
        return table

    def _entry(self, index: int) -> int:
        number, within = divmod(index, self.slice_entries)
        return self._slice(number)[within]

    def _check(self) -> List[StateRun]:
        """Validate every BAT entry, a slice at a time; return the payload blocks' states as runs."""
        period, runs = self.ratio + 1, []
        blocks_per_slice = self.slice_entries // period * self.ratio
        for number in range(-(-self.count // self.slice_entries)):
            table = self._slice(number)
            states = table.tobytes()[0 if sys.byteorder == "little" else 7 :: 8].translate(_STATE_OF_BYTE)
            first_block = number * blocks_per_slice
            payload = b"".join(states[start : start + self.ratio] for start in range(0, len(states), period))
            payload = payload[: max(0, self.geometry.block_count - first_block)]
            self._check_payload(payload, first_block, table)
            if self.geometry.has_parent:
                self._check_bitmaps(states[self.ratio :: period], table)
            for start, end, state in byte_runs(payload):
                if runs and runs[-1][2] == state and runs[-1][1] == first_block + start:
                    runs[-1] = (runs[-1][0], first_block + end, state)
                else:
                    runs.append((first_block + start, first_block + end, state))
        return runs

    def _check_payload(self, payload: bytes, first_block: int, table: array.array) -> None:
        has_parent, block_size = self.geometry.has_parent, self.geometry.block_size
        allowed = b"\x00\x01\x02\x03\x05\x06\x07" if has_parent else b"\x00\x01\x02\x03\x05\x06"
        bad = payload.translate(None, allowed)
        if bad:
            raise SourceError(f"{self.path}: the BAT holds an invalid payload block state {bad[0]}")
        for match in re.finditer(b"[\x06\x07]", payload):
            block = first_block + match.start()
            used = min(block_size, self.geometry.virtual_size - block * block_size)  # the last block may be short
            self._check_offset(table[fmt.payload_entry_index(match.start(), self.ratio)], used)

    def _check_bitmaps(self, bitmaps: bytes, table: array.array) -> None:
        if bitmaps.translate(None, b"\x00\x06"):
            raise SourceError(f"{self.path}: the BAT holds an invalid sector bitmap state")
        for match in re.finditer(b"\x06", bitmaps):
            self._check_offset(table[fmt.bitmap_entry_index(match.start(), self.ratio)], fmt.MiB)

    def _check_offset(self, entry: int, length: int) -> None:
        offset = file_offset(entry)
        if offset < fmt.MiB or offset + length > self.view.size:
            raise SourceError(f"{self.path}: a BAT entry points outside the file (offset {offset})")

    def payload_entry(self, block: int) -> int:
        return self._entry(fmt.payload_entry_index(block, self.ratio))

    # --- allocation map of this file alone ------------------------------------------------------------------------
    def local_ranges(self, start: int, end: int) -> Iterator[Range]:
        """(start, end, kind) runs of [start, end) in this file; kind PARENT where the parent decides."""
        size = self.geometry.block_size
        first, last = start // size, -(-end // size)
        at = max(0, bisect.bisect_right(self._run_starts, first) - 1)
        while at < len(self.state_runs) and self.state_runs[at][0] < last:
            low, high, state = self.state_runs[at]
            low, high = max(low, first), min(high, last)
            at += 1
            run_start, run_end = max(low * size, start), min(high * size, end)
            if run_start >= run_end:
                continue
            if state != fmt.PAYLOAD_BLOCK_PARTIALLY_PRESENT:
                yield run_start, run_end, _KIND_OF_STATE[state]
                continue
            for block in range(low, high):
                piece_low, piece_high = max(block * size, run_start), min((block + 1) * size, run_end)
                for part_low, part_high, present in self.bitmap_runs(block, piece_low, piece_high):
                    yield part_low, part_high, ExtentKind.DATA if present else PARENT

    def bitmap_runs(self, block: int, start: int, end: int) -> Iterator[Tuple[int, int, bool]]:
        """(start, end, present-in-this-file) byte runs of a partially present block, from its sector bitmap."""
        sector, block_size = self.geometry.logical_sector_size, self.geometry.block_size
        chunk, index_in_chunk = divmod(block, self.ratio)
        entry = self._entry(fmt.bitmap_entry_index(chunk, self.ratio))
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
