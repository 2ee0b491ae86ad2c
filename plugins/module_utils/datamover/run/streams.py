"""Streams: the disks and VM files of one backup, opened before anything is written, then planned.

A *stream* is one source (a disk or a VM file) with the chunk list being filled for it. Planning decides
which chunks to read: every DATA chunk of the source's extents, or, with *changed ranges* (Hyper-V RCT)
and a usable *baseline* (the same disk in the VM's previous restore point), only the changed ones; the
others are carried over from the baseline (see plan.py).
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

from ansible_collections.backup.hyperv.plugins.module_utils.datamover.base.errors import DataMoverError
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.disk.source import (
    DiskOpener,
    DiskSource,
    Readable,
)
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.disk.vm_files import OpaqueFile, is_disk
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.run.opener import open_disk_checked
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.run.plan import (
    baseline_problem,
    changed_mask,
    chunk_kinds,
    plan_reads,
)
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.run.stats import Stats
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.constants import KIND_DATA
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.index import Index
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.snapshot import ChunkList

Ranges = Mapping[str, Sequence[Tuple[int, int]]]  # source path (or file name) -> changed (offset, length)


@dataclass(frozen=True)
class DiskShape:
    """What a restore point records of a disk besides its chunks, to write it back alike."""

    format: str
    logical_sector_size: int
    physical_sector_size: int
    block_size: int

    @classmethod
    def of(cls, source: DiskSource) -> DiskShape:
        return cls(source.format, source.logical_sector_size, source.physical_sector_size, source.block_size)


@dataclass
class Stream:
    """One disk (``disk`` set) or VM file (``disk`` None) being backed up."""

    name: str
    path: str
    source: Readable
    chunks: ChunkList
    disk: Optional[DiskShape] = None
    to_read: bytearray = field(default_factory=bytearray)  # 1 for each chunk to read
    incremental: dict = field(default_factory=dict)  # how the chunks to read were chosen, and why

    @property
    def is_disk(self) -> bool:
        return self.disk is not None

    def record(self, number: int) -> dict:
        """The stream's entry in the restore point record (``number``: its chunk list in the point)."""
        common = {"name": self.name, "source": self.path}
        sizes = {"chunk_size": self.chunks.chunk_size, "stream": number}
        if self.disk is None:
            return {**common, "size": self.chunks.size, **sizes}
        shape = {
            "format": self.disk.format,
            "virtual_size": self.chunks.size,
            "logical_sector_size": self.disk.logical_sector_size,
            "physical_sector_size": self.disk.physical_sector_size,
            "block_size": self.disk.block_size,
        }
        return {**common, **shape, **sizes}


@dataclass(frozen=True)
class Baseline:
    """The VM's previous restore point, as an incremental backup uses it."""

    point_id: str
    streams: Dict[str, ChunkList]  # the chunk lists of its disks, by disk name

    @classmethod
    def of(cls, point: Optional[dict], chunk_lists: List[ChunkList]) -> Optional[Baseline]:
        if point is None:
            return None
        return cls(point["id"], {disk["name"]: chunk_lists[disk["stream"]] for disk in point["disks"]})


def open_streams(sources: Sequence[str], chunk_size: int, opener: DiskOpener) -> List[Stream]:
    """Open every source before anything is written; any failure closes what was opened and raises."""
    streams: List[Stream] = []
    try:
        for path in sources:
            streams.append(_open_stream(path, os.path.basename(path.rstrip("/\\")) or path, chunk_size, opener))
            if any(s.name == streams[-1].name for s in streams[:-1]):
                name = streams[-1].name
                raise DataMoverError(f"two sources share the file name {name!r}; restore points name files by it")
    except BaseException:
        close_streams(streams)
        raise
    streams.sort(key=lambda s: not s.is_disk)  # disks first, then files, each in the given order
    return streams


def _open_stream(path: str, name: str, chunk_size: int, opener: DiskOpener) -> Stream:
    if not is_disk(path):
        source = OpaqueFile(path)
        return Stream(name, path, source, ChunkList(source.size, chunk_size))
    disk = open_disk_checked(path, opener)
    return Stream(name, path, disk, ChunkList(disk.virtual_size, chunk_size), DiskShape.of(disk))


def close_streams(streams: List[Stream]) -> None:
    for stream in streams:
        with contextlib.suppress(Exception):  # closing a read-only source cannot lose data
            stream.source.close()


def ranges_for(stream: Stream, changed_ranges: Optional[Ranges]) -> Optional[list]:
    """The changed ranges given for this disk: keyed by its path as given, the same file by another
    spelling of its path (relative, absolute, through symlinks), or its file name."""
    if not changed_ranges:
        return None
    for key in (stream.path, stream.name):
        if key in changed_ranges:
            return list(changed_ranges[key])
    wanted = os.path.realpath(stream.path)
    for key, ranges in changed_ranges.items():
        if os.path.realpath(key) == wanted:
            return list(ranges)
    return None


def plan_stream(
    stream: Stream, baseline: Optional[Baseline], index: Index, ranges: Optional[list], stats: Stats
) -> None:
    """Decide what to read for ``stream``; note in ``stream.incremental`` how and why."""
    chunks = stream.chunks
    kinds = chunk_kinds(stream.source.extents(), chunks.size, chunks.chunk_size)
    base_chunks, mask, reason = None, None, None
    if ranges is not None and stream.is_disk:
        if baseline is None:
            reason = "no previous restore point of this VM: full read"
        else:
            base_chunks = baseline.streams.get(stream.name)
            problem = baseline_problem(base_chunks, chunks.size, chunks.chunk_size, index)
            if problem is None:
                mask = changed_mask(ranges, chunks.size, chunks.chunk_size)
            else:
                base_chunks, reason = None, f"{problem}: full read"
    stream.to_read = plan_reads(chunks, kinds, base_chunks, mask)
    incremental = mask is not None and baseline is not None
    stream.incremental = {
        "mode": "changed_ranges" if incremental else "full",
        "baseline": baseline.point_id if incremental else None,
    }
    if reason:
        stream.incremental["fallback_reason"] = reason
    _count_planned(stream, stats)


def _count_planned(stream: Stream, stats: Stats) -> None:
    """After planning, DATA entries are exactly the chunks carried over; every other chunk not read is empty."""
    chunks = stream.chunks
    carried = chunks.covered_bytes(chunks.kinds, KIND_DATA)
    stats.chunks_reused += chunks.kinds.count(KIND_DATA)
    stats.bytes_deduplicated += carried
    stats.bytes_zero += chunks.size - carried - chunks.covered_bytes(stream.to_read, 1)
