"""The VHDX log (MS-VHDX 2.3): its entries, and their replay into a view of the file, in memory only.

A *log entry* records writes (data sectors or zero runs) at file offsets; the *active sequence* is the run
of consecutive entries with the highest sequence number whose head names a tail inside the run. Replaying
it gives the file as it was meant to be after the last flush. The file itself is never written: it may
be a shadow copy, so the replayed writes overlay its bytes in a `FileView`.
"""

from __future__ import annotations

import struct
import uuid
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

from ansible_collections.backup.hyperv.plugins.module_utils.datamover.disk.source import (
    SourceError,
    fill_zero,
    pread_exact,
)
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.disk.vhdx import structures as fmt
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.disk.vhdx.checksum import checksum_valid

# signature[4] checksum u32 entry_length u32 tail u32 sequence u64 descriptor_count u32 reserved u32
# log_guid[16] flushed_file_offset u64 last_file_offset u64.
LOG_ENTRY_HEADER = struct.Struct("<4sIIIQII16sQQ")
LOG_DESCRIPTOR = struct.Struct("<4sIQQQ")  # signature, trailing/reserved, leading/zero_length, file_offset, sequence
LOG_DATA_SECTOR = struct.Struct("<4sI4084sI")  # signature, sequence_high, data, sequence_low
MAX_LOG_SIZE = 256 * fmt.MiB


@dataclass(frozen=True)
class LogEntry:
    """One valid log entry; `writes` are (file_offset, length, 4 KiB data or None for zeros), in order."""

    position: int
    length: int
    tail: int
    sequence: int
    flushed_file_offset: int
    last_file_offset: int
    writes: tuple


def _circular(log: bytes, position: int, length: int) -> bytes:
    """`length` bytes of the circular log from `position`, wrapping at its end."""
    data = log[position : position + length]
    return data if len(data) == length else data + log[: length - len(data)]


def _log_writes(entry: bytes, sequence: int, count: int, first_data_sector: int) -> Optional[tuple]:
    writes = []
    data_sector = first_data_sector
    for index in range(count):
        signature, trailing, leading, file_offset, desc_sequence = LOG_DESCRIPTOR.unpack_from(entry, 64 + 32 * index)
        if desc_sequence != sequence or file_offset % fmt.LOG_SECTOR_SIZE:
            return None
        if signature == b"zero":
            if leading % fmt.LOG_SECTOR_SIZE:
                return None
            writes.append((file_offset, leading, None))
        elif signature == b"desc":
            if (data_sector + 1) * fmt.LOG_SECTOR_SIZE > len(entry):
                return None
            data_signature, high, data, low = LOG_DATA_SECTOR.unpack_from(entry, data_sector * fmt.LOG_SECTOR_SIZE)
            if data_signature != b"data" or (high << 32 | low) != sequence:
                return None
            writes.append(
                (file_offset, fmt.LOG_SECTOR_SIZE, struct.pack("<Q", leading) + data + struct.pack("<I", trailing))
            )
            data_sector += 1
        else:
            return None
    if data_sector * fmt.LOG_SECTOR_SIZE != len(entry):  # one data sector per data descriptor, nothing more
        return None
    return tuple(writes)


def parse_log_entry(log: bytes, position: int, log_guid: uuid.UUID) -> Optional[LogEntry]:
    """The log entry at `position` of the circular log, or None unless it is valid for `log_guid`."""
    size = len(log)
    head = _circular(log, position, LOG_ENTRY_HEADER.size)
    signature, _ignored, length, tail, sequence, count, _ignored, guid, flushed, last = LOG_ENTRY_HEADER.unpack(head)
    if signature != b"loge" or not 0 < length <= size or length % fmt.LOG_SECTOR_SIZE or sequence == 0:
        return None
    if tail % fmt.LOG_SECTOR_SIZE or tail >= size or uuid.UUID(bytes_le=guid) != log_guid:
        return None
    if flushed % fmt.MiB or last % fmt.MiB:
        return None
    descriptor_sectors = (count + 2 + 127) // 128  # the 64-byte header takes two descriptor slots
    if descriptor_sectors * fmt.LOG_SECTOR_SIZE > length:
        return None
    entry = _circular(log, position, length)
    if not checksum_valid(entry):
        return None
    writes = _log_writes(entry, sequence, count, descriptor_sectors)
    if writes is None:
        return None
    return LogEntry(position, length, tail, sequence, flushed, last, writes)


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
            entry = parse_log_entry(log, position, header.log_guid)
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


def _active_sequence(entries: Dict[int, LogEntry], log_length: int) -> List[LogEntry]:
    """The run of consecutive entries with the highest head sequence whose head's tail lies inside the run."""
    successor = {}
    for position, entry in entries.items():
        following = entries.get((position + entry.length) % log_length)
        if following is not None and following.sequence == entry.sequence + 1:
            successor[position] = following
    continued = {id(entry) for entry in successor.values()}
    best: List[LogEntry] = []
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
