"""VHDX disks (fixed, dynamic, differencing chains) as a `DiskSource`, read-only.

Opening picks the valid header with the higher sequence number, replays a pending log *in memory*
(the file is never written: it may be a shadow copy), then reads the region table, metadata and BAT
through that replayed view. Every structure is checked before use, so a damaged or hostile file
gives a `SourceError` naming the file, never a crash, a hang or wrong data.
Words: see vhdx_format.py. A *layer* is one file of a differencing chain; its parent is the next layer.
"""

from __future__ import annotations

import array
import os
import re
import sys
import uuid
from typing import Dict, Iterator, List, Optional, Tuple

from ansible_collections.backup.hyperv.plugins.module_utils.datamover import vhdx_format as fmt
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.source import (
    DiskSource,
    Extent,
    ExtentKind,
    SourceError,
    fill_zero,
    merge_extents,
    open_readonly,
    pread_exact,
)

MAX_CHAIN_DEPTH = 64
MAX_LOG_SIZE = 256 * fmt.MiB
MAX_LOCATOR_SIZE = 1 * fmt.MiB
_STATE_OF_BYTE = bytes(value & 7 for value in range(256))
_RUNS = re.compile(b"(.)\\1*", re.DOTALL)
_MB_SHIFT = 20
PARENT = None  # marks a range whose content lives in the parent layer


class FileView:
    """The file as it is after log replay: its bytes, overlaid in order by the replayed writes."""

    def __init__(self, fd: int, path: str, size: int) -> None:
        self.fd, self.path = fd, path
        self.physical_size = self.size = size
        self.writes: List[Tuple[int, int, Optional[bytes]]] = []  # (offset, length, data or None = zeros)

    def read(self, offset: int, length: int) -> bytes:
        buffer = bytearray(length)
        self.readinto(offset, memoryview(buffer))
        return bytes(buffer)

    def readinto(self, offset: int, buffer: memoryview) -> None:
        end = offset + len(buffer)
        if end > self.size:
            raise SourceError(f"{self.path}: file ends before offset {end}: the file is truncated")
        stored = max(0, min(end, self.physical_size) - offset)
        pread_exact(self.fd, buffer[:stored], offset, self.path)
        if stored < len(buffer):
            fill_zero(buffer[stored:])
        for start, length, data in self.writes:
            low, high = max(start, offset), min(start + length, end)
            if low < high:
                part = buffer[low - offset : high - offset]
                if data is None:
                    fill_zero(part)
                else:
                    part[:] = data[low - start : high - start]


def replay_log(view: FileView, header: fmt.Header) -> None:
    """Replay the active log sequence into `view` (memory only), as MS-VHDX 2.3.3 describes."""
    offset, length = header.log_offset, header.log_length
    if header.log_version != 0:
        raise SourceError(f"{view.path}: unsupported VHDX log version {header.log_version}")
    if not length or length % fmt.MiB or offset < fmt.MiB or offset % fmt.MiB or offset + length > view.size:
        raise SourceError(f"{view.path}: the VHDX log ({length} bytes at {offset}) is malformed or outside the file")
    if length > MAX_LOG_SIZE:
        raise SourceError(f"{view.path}: the VHDX log ({length} bytes) is too large to replay in memory")
    log = view.read(offset, length)
    entries = {}
    for position in range(0, length, fmt.LOG_SECTOR_SIZE):
        if log[position : position + 4] == b"loge":
            entry = fmt.parse_log_entry(log, position, header.log_guid)
            if entry is not None:
                entries[position] = entry
    active = _active_sequence(entries, length)
    if not active:  # MS-VHDX 2.3.3: a non-empty log without a valid sequence means a corrupt file
        raise SourceError(f"{view.path}: the VHDX log must be replayed but holds no valid log sequence: corrupt")
    head = active[-1]
    if head.flushed_file_offset > view.physical_size:
        raise SourceError(f"{view.path}: the file is shorter than its log says it was flushed to: truncated")
    for entry in active:
        view.writes.extend(entry.writes)
    view.size = max(view.physical_size, head.last_file_offset)


def _active_sequence(entries: Dict[int, fmt.LogEntry], log_length: int) -> List[fmt.LogEntry]:
    """The run of consecutive entries with the highest head sequence whose head's tail lies inside the run."""
    successor = {}
    for position, entry in entries.items():
        following = entries.get((position + entry.length) % log_length)
        if following is not None and following.sequence == entry.sequence + 1:
            successor[position] = following
    continued = {id(entry) for entry in successor.values()}
    best: List[fmt.LogEntry] = []
    for entry in entries.values():
        if id(entry) in continued:
            continue  # runs start only where no entry leads in, so each entry is walked once
        run = [entry]
        while run[-1].position in successor:
            run.append(successor[run[-1].position])
        starts = [item.position for item in run]
        if run[-1].tail not in starts:
            continue
        run = run[starts.index(run[-1].tail) :]
        if not best or run[-1].sequence > best[-1].sequence:
            best = run
    return best


class VhdxSource(DiskSource):
    """One VHDX file and, for a differencing disk, its chain of parents.

    Beyond DiskSource: `header` (the current header: `data_write_guid` changes whenever the virtual
    content changes), `disk_id` (the page 83 virtual disk id, or None), `parent` and `chain`.
    """

    format = "vhdx"

    def __init__(self, path: str, fd: Optional[int] = None, _children: Tuple[str, ...] = ()) -> None:
        self.path = path
        self.parent: Optional[VhdxSource] = None
        self._fd = open_readonly(path) if fd is None else fd
        try:
            self._open(_children)
        except BaseException:
            self.close()
            raise

    # --- opening -------------------------------------------------------------------------------------------------
    def _open(self, children: Tuple[str, ...]) -> None:
        try:
            physical_size = os.fstat(self._fd).st_size
        except OSError as exc:
            raise SourceError(f"{self.path}: cannot inspect file: {exc.strerror}") from exc
        if physical_size < fmt.MiB:
            raise SourceError(f"{self.path}: {physical_size} bytes is too small for a VHDX file (truncated?)")
        if self._pread(0, 8) != fmt.FILE_SIGNATURE:
            raise SourceError(f"{self.path}: not a VHDX file (no 'vhdxfile' signature)")
        self.header = self._current_header()
        self._view = FileView(self._fd, self.path, physical_size)
        if self.header.log_guid != fmt.ZERO_GUID:
            replay_log(self._view, self.header)
        regions = self._regions()
        metadata = self._metadata(regions[fmt.METADATA_GUID])
        self._apply_metadata(metadata)
        page83 = metadata.get(fmt.PAGE83_GUID, b"")
        self.disk_id = uuid.UUID(bytes_le=page83) if len(page83) == 16 else None
        self._bat = self._load_bat(regions[fmt.BAT_GUID])
        self._payload_states = self._check_bat()
        if self.has_parent:
            self.parent = self._open_parent(metadata, children)

    def _pread(self, offset: int, length: int) -> bytes:
        buffer = bytearray(length)
        pread_exact(self._fd, memoryview(buffer), offset, self.path)
        return bytes(buffer)

    def _current_header(self) -> fmt.Header:
        headers = [fmt.parse_header(self._pread(offset, fmt.HEADER_SIZE)) for offset in fmt.HEADER_OFFSETS]
        valid = [header for header in headers if header is not None]
        if not valid:
            raise SourceError(f"{self.path}: both VHDX headers are corrupt (bad signature or checksum)")
        header = max(valid, key=lambda item: item.sequence_number)
        if header.version != 1:
            raise SourceError(f"{self.path}: unsupported VHDX version {header.version}")
        return header

    def _regions(self) -> Dict[uuid.UUID, fmt.Region]:
        for offset in fmt.REGION_TABLE_OFFSETS:
            regions = fmt.parse_region_table(self._view.read(offset, fmt.REGION_TABLE_SIZE))
            if regions is not None:
                break
        else:
            raise SourceError(f"{self.path}: both VHDX region tables are corrupt")
        for guid, region in regions.items():
            if guid not in (fmt.BAT_GUID, fmt.METADATA_GUID) and region.required:
                raise SourceError(f"{self.path}: unsupported required VHDX region {guid}")
        for guid, name in ((fmt.BAT_GUID, "BAT"), (fmt.METADATA_GUID, "metadata")):
            region = regions.get(guid)
            if region is None:
                raise SourceError(f"{self.path}: the VHDX region table has no {name} region")
            if region.offset < fmt.MiB or region.offset % fmt.MiB or region.offset + region.length > self._view.size:
                raise SourceError(
                    f"{self.path}: the {name} region ({region.length} bytes at {region.offset}) lies outside the file"
                )
        return regions

    def _metadata(self, region: fmt.Region) -> Dict[uuid.UUID, bytes]:
        if region.length < fmt.METADATA_TABLE_SIZE:
            raise SourceError(f"{self.path}: the metadata region is smaller than its table")
        items = fmt.parse_metadata_table(self._view.read(region.offset, fmt.METADATA_TABLE_SIZE))
        if items is None:
            raise SourceError(f"{self.path}: the VHDX metadata table is corrupt")
        known = (
            fmt.FILE_PARAMETERS_GUID, fmt.VIRTUAL_DISK_SIZE_GUID, fmt.PAGE83_GUID, fmt.LOGICAL_SECTOR_SIZE_GUID,
            fmt.PHYSICAL_SECTOR_SIZE_GUID, fmt.PARENT_LOCATOR_GUID,
        )  # fmt: skip
        values: Dict[uuid.UUID, bytes] = {}
        for guid, item in items.items():
            if guid not in known:
                if item.flags & fmt.METADATA_IS_REQUIRED:
                    raise SourceError(f"{self.path}: unsupported required VHDX metadata item {guid}")
                continue
            inside = item.offset >= fmt.METADATA_TABLE_SIZE and item.offset + item.length <= region.length
            if item.length and (not inside or item.length > MAX_LOCATOR_SIZE):
                raise SourceError(f"{self.path}: VHDX metadata item {guid} lies outside the metadata region")
            values[guid] = self._view.read(region.offset + item.offset, item.length)
        return values

    def _apply_metadata(self, values: Dict[uuid.UUID, bytes]) -> None:
        def number(guid: uuid.UUID, size: int, name: str) -> int:
            raw = values.get(guid, b"")
            if len(raw) < size:
                raise SourceError(f"{self.path}: VHDX metadata has no valid {name}")
            return int.from_bytes(raw[:size], "little")

        parameters = number(fmt.FILE_PARAMETERS_GUID, 8, "file parameters")
        self.block_size = parameters & 0xFFFFFFFF
        self.has_parent = bool((parameters >> 33) & 1)
        self.virtual_size = number(fmt.VIRTUAL_DISK_SIZE_GUID, 8, "virtual disk size")
        self.logical_sector_size = number(fmt.LOGICAL_SECTOR_SIZE_GUID, 4, "logical sector size")
        self.physical_sector_size = number(fmt.PHYSICAL_SECTOR_SIZE_GUID, 4, "physical sector size")
        size = self.block_size
        if size < fmt.MIN_BLOCK_SIZE or size > fmt.MAX_BLOCK_SIZE or size & (size - 1):
            raise SourceError(f"{self.path}: invalid VHDX block size {size} (must be a power of two, 1-256 MiB)")
        if self.logical_sector_size not in (512, 4096) or self.physical_sector_size not in (512, 4096):
            raise SourceError(
                f"{self.path}: invalid VHDX sector sizes {self.logical_sector_size}/{self.physical_sector_size}"
            )
        if not 0 < self.virtual_size <= fmt.MAX_VIRTUAL_SIZE or self.virtual_size % self.logical_sector_size:
            raise SourceError(f"{self.path}: invalid VHDX virtual disk size {self.virtual_size}")
        self._ratio = fmt.chunk_ratio(self.block_size, self.logical_sector_size)
        self._block_count = -(-self.virtual_size // self.block_size)

    def _load_bat(self, region: fmt.Region) -> array.array:
        count = fmt.bat_entry_count(self.virtual_size, self.block_size, self.logical_sector_size, self.has_parent)
        if region.length < count * 8:
            raise SourceError(f"{self.path}: the BAT ({region.length} bytes) is too small for {count} entries")
        table = array.array("Q")
        if table.itemsize != 8:  # pragma: no cover - every CPython platform has an 8-byte "Q"
            raise SourceError("this Python has no 64-bit array type")
        table.frombytes(self._view.read(region.offset, count * 8))
        if sys.byteorder == "big":  # pragma: no cover
            table.byteswap()
        return table

    def _check_bat(self) -> bytes:
        """Validate every BAT entry; return the payload blocks' states, one byte per block."""
        states = self._bat.tobytes()[0 if sys.byteorder == "little" else 7 :: 8].translate(_STATE_OF_BYTE)
        step = self._ratio + 1
        payload = b"".join(states[start : start + self._ratio] for start in range(0, len(states), step))
        payload = payload[: self._block_count]
        allowed = b"\x00\x01\x02\x03\x05\x06\x07" if self.has_parent else b"\x00\x01\x02\x03\x05\x06"
        bad = payload.translate(None, allowed)
        if bad:
            raise SourceError(f"{self.path}: the BAT holds an invalid payload block state {bad[0]}")
        for match in re.finditer(b"[\x06\x07]", payload):
            block = match.start()
            used = min(self.block_size, self.virtual_size - block * self.block_size)  # the last block may be short
            self._check_offset(self._bat[fmt.payload_entry_index(block, self._ratio)], used)
        if self.has_parent:
            bitmaps = states[self._ratio :: step]
            if bitmaps.translate(None, b"\x00\x06"):
                raise SourceError(f"{self.path}: the BAT holds an invalid sector bitmap state")
            for match in re.finditer(b"\x06", bitmaps):
                self._check_offset(self._bat[fmt.bitmap_entry_index(match.start(), self._ratio)], fmt.MiB)
        return payload

    def _check_offset(self, entry: int, length: int) -> None:
        offset = (entry >> _MB_SHIFT) << _MB_SHIFT
        if offset < fmt.MiB or offset + length > self._view.size:
            raise SourceError(f"{self.path}: a BAT entry points outside the file (offset {offset})")

    # --- differencing chain --------------------------------------------------------------------------------------
    def _open_parent(self, values: Dict[uuid.UUID, bytes], children: Tuple[str, ...]) -> VhdxSource:
        locator = fmt.parse_parent_locator(values.get(fmt.PARENT_LOCATOR_GUID, b""))
        if locator is None:
            raise SourceError(f"{self.path}: differencing disk without a valid parent locator")
        chain = (*children, os.path.realpath(self.path))
        if len(chain) > MAX_CHAIN_DEPTH:
            raise SourceError(f"{self.path}: differencing chain deeper than {MAX_CHAIN_DEPTH} disks")
        candidates = _parent_candidates(self.path, locator)
        found = [path for path in map(_existing_file, candidates) if path is not None]
        if not found:
            raise SourceError(f"{self.path}: parent disk not found (tried: {', '.join(candidates) or 'no path'})")
        if os.path.realpath(found[0]) in chain:
            raise SourceError(f"{self.path}: differencing chain loops back to {found[0]}")
        parent = VhdxSource(found[0], _children=chain)
        try:
            self._check_linkage(parent, locator)
        except SourceError:
            parent.close()
            raise
        return parent

    def _check_linkage(self, parent: VhdxSource, locator: Dict[str, str]) -> None:
        expected = {_guid(locator.get(key, "")) for key in ("parent_linkage", "parent_linkage2")} - {None}
        if parent.header.data_write_guid not in expected:
            raise SourceError(
                f"{self.path}: parent {parent.path} does not match (linkage {locator.get('parent_linkage')}, "
                f"parent data write GUID {{{parent.header.data_write_guid}}}): the parent was modified or replaced"
            )
        if parent.virtual_size != self.virtual_size:
            raise SourceError(f"{self.path}: parent {parent.path} has a different virtual size")

    @property
    def chain(self) -> List[str]:
        """Paths of this file and its parents, child first."""
        return [self.path] + (self.parent.chain if self.parent is not None else [])

    # --- allocation map --------------------------------------------------------------------------------------------
    def extents(self) -> Iterator[Extent]:
        return merge_extents(self._ranges(0, self.virtual_size))

    def _ranges(self, start: int, end: int) -> Iterator[Extent]:
        """Resolved extents of [start, end), through the parents."""
        for offset, stop, kind in self._local_ranges(start, end):
            if kind is not PARENT:
                yield Extent(offset, stop - offset, kind)
            elif self.parent is not None:
                yield from self.parent._ranges(offset, stop)
            else:
                yield Extent(offset, stop - offset, ExtentKind.UNALLOCATED)

    def _local_ranges(self, start: int, end: int) -> Iterator[Tuple[int, int, Optional[ExtentKind]]]:
        size = self.block_size
        first, last = start // size, -(-end // size)
        for run in _RUNS.finditer(self._payload_states, first, last):
            state = run.group()[0]
            run_start, run_end = max(run.start() * size, start), min(run.end() * size, end)
            if state == fmt.PAYLOAD_BLOCK_PARTIALLY_PRESENT:
                for block in range(run.start(), run.end()):
                    low, high = max(block * size, run_start), min((block + 1) * size, run_end)
                    yield from self._partial_ranges(block, low, high)
            else:
                yield run_start, run_end, _KIND_OF_STATE[state]

    def _partial_ranges(self, block: int, start: int, end: int) -> Iterator[Tuple[int, int, Optional[ExtentKind]]]:
        for low, high, present in self._bitmap_runs(block, start, end):
            yield low, high, ExtentKind.DATA if present else PARENT

    def _bitmap_runs(self, block: int, start: int, end: int) -> Iterator[Tuple[int, int, bool]]:
        """(start, end, present-in-this-file) byte runs of a partially present block, from its sector bitmap."""
        sector = self.logical_sector_size
        chunk, index_in_chunk = divmod(block, self._ratio)
        entry = self._bat[fmt.bitmap_entry_index(chunk, self._ratio)]
        if entry & 7 != fmt.SB_BLOCK_PRESENT:
            raise SourceError(f"{self.path}: block {block} is partially present but has no sector bitmap")
        first_sector = start // sector
        last_sector = -(-end // sector)
        base_sector = block * (self.block_size // sector)
        bit = (index_in_chunk * (self.block_size // sector)) + (first_sector - base_sector)
        count = last_sector - first_sector
        bitmap = self._view.read(((entry >> _MB_SHIFT) << _MB_SHIFT) + bit // 8, (bit % 8 + count + 7) // 8)
        for low, high, present in bit_runs(bitmap, bit % 8, count):
            yield max(start, (first_sector + low) * sector), min(end, (first_sector + high) * sector), present

    # --- reading -------------------------------------------------------------------------------------------------
    def _readinto(self, offset: int, buffer: memoryview) -> None:
        size, bat, ratio = self.block_size, self._bat, self._ratio
        position, total = 0, len(buffer)
        while position < total:
            virtual = offset + position
            block, within = divmod(virtual, size)
            step = min(total - position, size - within)
            piece = buffer[position : position + step]
            entry = bat[block + block // ratio]
            state = entry & 7
            if state == fmt.PAYLOAD_BLOCK_FULLY_PRESENT:
                self._view.readinto(((entry >> _MB_SHIFT) << _MB_SHIFT) + within, piece)
            elif state == fmt.PAYLOAD_BLOCK_PARTIALLY_PRESENT:
                self._read_partial(block, entry, virtual, piece)
            elif state == fmt.PAYLOAD_BLOCK_NOT_PRESENT and self.parent is not None:
                self.parent._readinto(virtual, piece)
            else:
                fill_zero(piece)
            position += step

    def _read_partial(self, block: int, entry: int, virtual: int, piece: memoryview) -> None:
        block_start = ((entry >> _MB_SHIFT) << _MB_SHIFT) - block * self.block_size
        for low, high, present in self._bitmap_runs(block, virtual, virtual + len(piece)):
            part = piece[low - virtual : high - virtual]
            if present:
                self._view.readinto(block_start + low, part)
            elif self.parent is not None:
                self.parent._readinto(low, part)
            else:
                fill_zero(part)

    def close(self) -> None:
        parent, self.parent = getattr(self, "parent", None), None
        if parent is not None:
            parent.close()
        fd, self._fd = getattr(self, "_fd", -1), -1
        if fd >= 0:
            os.close(fd)


_KIND_OF_STATE: Dict[int, Optional[ExtentKind]] = {
    fmt.PAYLOAD_BLOCK_NOT_PRESENT: PARENT,
    fmt.PAYLOAD_BLOCK_FULLY_PRESENT: ExtentKind.DATA,
    **{state: ExtentKind.ZERO for state in fmt.ZERO_STATES},
}


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


def _guid(text: str) -> Optional[uuid.UUID]:
    try:
        return uuid.UUID(text.strip())
    except ValueError:
        return None


def _parent_candidates(child: str, locator: Dict[str, str]) -> List[str]:
    """Where the parent may be: the relative path (from the child's folder) first, then the absolute paths."""
    folder = os.path.dirname(os.path.abspath(child))
    candidates = []
    relative = locator.get("relative_path", "").replace("\\", "/")
    if relative:
        candidates.append(os.path.normpath(os.path.join(folder, relative)))
    for key in ("absolute_win32_path", "volume_path"):
        value = locator.get(key, "")
        if value.startswith("/") or (os.sep == "\\" and value):  # Windows paths only mean something on Windows
            candidates.append(value)
    return candidates


def _existing_file(path: str) -> Optional[str]:
    """`path` if it is a file, else a file in the same folder whose name differs only in case (as on Windows)."""
    if os.path.isfile(path):
        return path
    folder, name = os.path.split(path)
    try:
        names = os.listdir(folder or ".")
    except OSError:
        return None
    matches = sorted(entry for entry in names if entry.lower() == name.lower())
    return os.path.join(folder, matches[0]) if matches and os.path.isfile(os.path.join(folder, matches[0])) else None
