"""Streams: the disks and VM files of one backup, opened before anything is written, then planned.

A *stream* is one source (a disk or a VM file) with the chunk list being filled for it. Planning decides
which chunks to read: every DATA chunk of the source's extents, or, with *changed ranges* (Hyper-V RCT)
and a usable *baseline* (the same disk in the VM's previous restore point), only the changed ones; the
others are carried over from the baseline (see plan.py), and a changed chunk the ranges touch only in part is
read only there, the rest taken from the baseline (see partial.py).
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field
from typing import Dict, List, Mapping, Optional, Sequence, Tuple, TypeVar

from ansible_collections.backup.hyperv.plugins.module_utils.datamover.base.errors import DataMoverError
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.disk.source import (
    DiskOpener,
    DiskSource,
    Readable,
)
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.disk.vm_files import OpaqueFile, is_disk
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.run import fallbacks
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.run.audit import (
    ContentId,
    RangeAudit,
    audit_result,
)
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.run.opener import open_disk_checked
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.run.partial import PartialChunk, partial_chunks
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.run.plan import (
    baseline_problem,
    changed_spans,
    chunk_kinds,
    plan_reads,
)
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.run.stats import Stats
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.run.values import DiskChanges, Parents
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.constants import KIND_DATA, KIND_PATCHED
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.index import Index
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.snapshot import ChunkList
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.spans import Spans

Value = TypeVar("Value")
Plan = Tuple[Optional[ChunkList], Optional[Spans], Optional[str]]  # baseline chunks, changed chunks, reason


@dataclass(frozen=True)
class DiskShape:
    """What a restore point records of a disk besides its chunks, to write it back alike."""

    format: str
    logical_sector_size: int
    physical_sector_size: int
    block_size: int
    disk_id: Optional[str] = None  # a VHDX's identity (see DiskSource); None for a raw image
    vhd_type: Optional[str] = None
    parent_locator: Optional[Dict[str, str]] = None

    @classmethod
    def of(cls, source: DiskSource) -> DiskShape:
        sizes = (source.logical_sector_size, source.physical_sector_size, source.block_size)
        # An opener may give any disk with DiskSource's reads and geometry; identity is what a VHDX adds.
        disk_id, locator = getattr(source, "disk_id", None), getattr(source, "parent_locator", None)
        identity = (str(disk_id) if disk_id else None, getattr(source, "vhd_type", None), locator and dict(locator))
        return cls(source.format, *sizes, *identity)


@dataclass
class Stream:
    """One disk (``disk`` set) or VM file (``disk`` None) being backed up."""

    name: str
    path: str
    source: Readable
    chunks: ChunkList
    disk: Optional[DiskShape] = None
    to_read: Spans = field(default_factory=list)  # the chunks to read
    partial: Dict[int, PartialChunk] = field(default_factory=dict)  # chunks to read only in part, by number
    incremental: dict = field(default_factory=dict)  # how the chunks to read were chosen, and why
    change_id: Optional[str] = None  # a disk's RCT id at the time of the backup (the caller's), recorded
    audit: Optional[RangeAudit] = None  # set when the ranges are audited: the disk is read in full

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
            "disk_id": self.disk.disk_id,
            "vhd_type": self.disk.vhd_type,
            "parent_locator": self.disk.parent_locator,
            "change_id": self.change_id,
        }
        return {**common, **shape, **sizes}


@dataclass(frozen=True)
class Baseline:
    """The VM's previous restore point, as an incremental backup uses it."""

    point_id: str
    vm: str
    streams: Dict[str, ChunkList]  # the chunk lists of its disks, by disk name
    change_ids: Dict[str, Optional[str]]  # the RCT id it recorded for each disk (None: none, or an older point)
    disk_ids: Dict[str, Optional[str]] = field(default_factory=dict)  # each VHDX's virtual disk id it recorded

    @classmethod
    def of(cls, point: Optional[dict], chunk_lists: List[ChunkList]) -> Optional[Baseline]:
        if point is None:
            return None
        disks = point["disks"]
        streams = {disk["name"]: chunk_lists[disk["stream"]] for disk in disks}
        change_ids = {disk["name"]: disk.get("change_id") for disk in disks}
        return cls(point["id"], point["vm"], streams, change_ids, {disk["name"]: disk.get("disk_id") for disk in disks})


def open_streams(
    sources: Sequence[str], chunk_size: int, opener: DiskOpener, parents: Optional[Parents] = None
) -> List[Stream]:
    """Open every source before anything is written; any failure closes what was opened and raises. ``parents``:
    the parent files of differencing disks, by source (``BackupEntry.parents``)."""
    streams: List[Stream] = []
    try:
        for path in sources:
            name = os.path.basename(path.rstrip("/\\")) or path
            streams.append(_open_stream(path, name, chunk_size, opener, (parents or {}).get(path, ())))
            same = [s.path for s in streams[:-1] if s.name == streams[-1].name]
            if same:
                raise DataMoverError(
                    f"two sources share the file name {streams[-1].name!r} ({same[0]}, {path}); a restore point names "
                    "a VM's files by their names, so each disk needs its own: rename one (with the VM off, rename "
                    "the file and attach it again with Set-VMHardDiskDrive -Path)"
                )
    except BaseException:
        close_streams(streams)
        raise
    streams.sort(key=lambda s: not s.is_disk)  # disks first, then files, each in the given order
    return streams


def _open_stream(path: str, name: str, chunk_size: int, opener: DiskOpener, parents: Tuple[str, ...]) -> Stream:
    if not is_disk(path):
        if parents:
            raise DataMoverError(f"parents are given for {path}, which is not a disk")
        source = OpaqueFile(path)
        return Stream(name, path, source, ChunkList(source.size, chunk_size))
    disk = open_disk_checked(path, opener, parents)
    return Stream(name, path, disk, ChunkList(disk.virtual_size, chunk_size), DiskShape.of(disk))


def record_audits(streams: List[Stream], content_id: ContentId) -> None:
    """After the reads: each audited disk's check of its ranges, in its ``incremental`` entry (``content_id``:
    a patched baseline chunk's content id, see audit.py)."""
    for stream in streams:
        if stream.audit is not None:
            stream.incremental["rct_audit"] = audit_result(stream.chunks, stream.audit, content_id)


def close_streams(streams: List[Stream]) -> None:
    for stream in streams:
        with contextlib.suppress(Exception):  # closing a read-only source cannot lose data
            stream.source.close()


def for_stream(stream: Stream, by_source: Optional[Mapping[str, Value]]) -> Optional[Value]:
    """What ``by_source`` (changed ranges, change ids) gives for this stream: keyed by its path as given, the
    same file by another spelling of its path (relative, absolute, through symlinks), or its file name."""
    if not by_source:
        return None
    for key in (stream.path, stream.name):
        if key in by_source:
            return by_source[key]
    wanted = os.path.realpath(stream.path)
    for key, value in by_source.items():
        if os.path.realpath(key) == wanted:
            return value
    return None


def plan_stream(
    stream: Stream, baseline: Optional[Baseline], index: Index, changes: Optional[DiskChanges], stats: Stats
) -> None:
    """Decide what to read for ``stream``; note in ``stream.incremental`` how and why."""
    chunks = stream.chunks
    kinds = chunk_kinds(stream.source.extents(), chunks.size, chunks.chunk_size)
    base_chunks, mask, reason = _usable_baseline(stream, baseline, index, changes)
    if changes is not None and changes.audit and base_chunks is not None and mask is not None:
        stream.audit = RangeAudit(base_chunks, mask)
        base_chunks, mask, reason = None, None, fallbacks.AUDITED
    stream.to_read = plan_reads(chunks, kinds, base_chunks, mask)
    incremental = mask is not None and baseline is not None
    stream.incremental = {
        "mode": "changed_ranges" if incremental else "full",
        "baseline": baseline.point_id if incremental else None,
        "change_id": stream.change_id,
    }
    if base_chunks is not None and changes is not None and changes.ranges is not None:  # the ranges are used
        stream.partial = partial_chunks(changes.ranges, chunks, stream.to_read, base_chunks)
        stream.incremental["partial_chunks"] = 0  # counted as they are filled (partial.record_fill)
    if reason:
        stream.incremental["fallback_reason"] = reason
    _count_planned(stream, stats)


def _usable_baseline(
    stream: Stream, baseline: Optional[Baseline], index: Index, changes: Optional[DiskChanges]
) -> Plan:
    """The baseline's chunks and the changed mask when the ranges can be trusted, else why not (a full read).

    Ranges that say where they start (``since``) must start at the RCT id the baseline recorded for this disk:
    ranges from another reference point could miss a change, and an incremental on a wrong baseline would
    restore a disk that never existed."""
    if changes is None:
        return None, None, None
    if not stream.is_disk:  # a legacy .vhd is kept as a file: read whole, and the caller's reason recorded
        return None, None, changes.reason or fallbacks.NOT_A_DISK
    if changes.ranges is None:
        return None, None, changes.reason or fallbacks.NO_RANGES
    if baseline is None:
        return None, None, fallbacks.NO_BASELINE
    if changes.since is not None:
        recorded = baseline.change_ids.get(stream.name)
        if recorded != changes.since:
            return (
                None,
                None,
                fallbacks.other_baseline(baseline.point_id, baseline.vm, stream.name, recorded, changes.since),
            )
    recorded_id, disk_id = baseline.disk_ids.get(stream.name), stream.disk.disk_id if stream.disk else None
    if recorded_id and disk_id and recorded_id != disk_id:  # ranges of one disk never describe another
        return None, None, fallbacks.other_disk(recorded_id, disk_id)
    base_chunks = baseline.streams.get(stream.name)
    chunks = stream.chunks
    problem = baseline_problem(base_chunks, chunks.size, chunks.chunk_size, index)
    if problem is not None:
        return None, None, problem
    # A range that ends past the disk is clipped (a tracking block rounded out over a disk's end); one that starts
    # there was not asked of this disk (GetVirtualDiskChanges answers within the area asked, this disk's).
    outside = next((int(offset) for offset, _length in changes.ranges if int(offset) >= chunks.size), None)
    if outside is not None:
        return None, None, fallbacks.range_past_the_end(outside, chunks.size)
    return base_chunks, changed_spans(changes.ranges, chunks.size, chunks.chunk_size), None


def _count_planned(stream: Stream, stats: Stats) -> None:
    """After planning, DATA and PATCHED entries are exactly the chunks carried over; every other chunk not read is
    empty."""
    chunks = stream.chunks
    carried = chunks.covered_bytes(KIND_DATA) + chunks.covered_bytes(KIND_PATCHED)
    stats.chunks_reused += chunks.count_of(KIND_DATA) + chunks.count_of(KIND_PATCHED)
    stats.bytes_deduplicated += carried
    stats.bytes_zero += chunks.size - carried - chunks.bytes_of(stream.to_read)
