"""Partial chunks: a chunk the changed ranges (Hyper-V RCT) touch only in part is read from the source only there.

Scattered small writes touch many chunks a little each: reading those chunks whole would read the source many
times over what changed (the SAN load an off-host backup exists to keep low). So for a chunk to read that the
ranges do not cover in full, the worker starts from the chunk's content in the baseline, its chunk in the
repository (read, authenticated, decompressed and re-hashed as a restore does) or zeros when the baseline chunk
was zero or unallocated, then reads the ranges from the source over it; the result is hashed and stored like
any chunk read whole. The ranges are trusted as much as for the chunks they leave out entirely: Windows
promises a superset of what changed
(https://learn.microsoft.com/windows/win32/hyperv_v2/msvm-imagemanagementservice-getvirtualdiskchanges).

A baseline chunk that fails its check is never used: the chunk is read whole from the source instead, and the
disk's ``incremental.partial_fallbacks`` says so.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import DefaultDict, Dict, Iterable, List, NamedTuple, Optional, Tuple

from ansible_collections.backup.hyperv.plugins.module_utils.datamover.base.errors import CorruptionError
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.disk.source import Readable, fill_zero
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.run import fallbacks
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.run.audit import SHOWN_OFFSETS
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.run.values import Range
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.compress import Codec
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.repository import Repository
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.snapshot import ChunkList
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.spans import Spans, contains, merged

# Reads of the source are rounded out to 4 KiB, the largest sector size of a virtual disk (a VHDX's logical and
# physical sector sizes are 512 or 4096 bytes, [MS-VHDX] 2.6.2.4 and 2.6.2.5,
# https://learn.microsoft.com/openspecs/windows_protocols/ms-vhdx/): a range costs its sectors, not its chunk.
SECTOR = 4096
Span = Tuple[int, int]  # [start, end) in disk bytes


@dataclass(frozen=True)
class PartialChunk:
    """A chunk to read that the ranges touch only in part: the pieces to read, and what holds the rest."""

    pieces: Tuple[Range, ...]  # (offset, length) in disk bytes inside the chunk: sorted, apart, sector-aligned
    baseline_id: Optional[bytes]  # the baseline chunk's id; None: it was zero or unallocated (the rest is zeros)

    @property
    def length(self) -> int:
        return sum(length for _offset, length in self.pieces)


class Filled(NamedTuple):
    """How a worker got a chunk's content."""

    source_bytes: int  # read from the source
    baseline_bytes: int  # stored bytes read from the repository
    partial: bool  # only the ranges came from the source
    fallback: Optional[str] = None  # why a partial chunk was read whole after all


def whole(length: int) -> Filled:
    return Filled(length, 0, False)


def partial_chunks(
    ranges: Iterable[Range], chunks: ChunkList, to_read: Spans, baseline: ChunkList
) -> Dict[int, PartialChunk]:
    """The chunks to read (in ``to_read``) that the ranges touch but do not cover; the others stay whole reads."""
    pieces, covered = _cut(ranges, chunks.size, chunks.chunk_size)
    found = {}
    for number, byte_spans in pieces.items():
        start, length = chunks.chunk_range(number)
        joined = merged(byte_spans)
        if not contains(to_read, number) or joined == [(start, start + length)] or contains(covered, number):
            continue
        found[number] = PartialChunk(tuple((s, e - s) for s, e in joined), baseline.id_of(number))
    return found


def _cut(ranges: Iterable[Range], size: int, chunk_size: int) -> Tuple[DefaultDict[int, List[Span]], List[Span]]:
    """Each range rounded out to sectors and clipped to the disk: its pieces in its first and last chunk, and
    the chunk numbers [first, end) it covers in full between them (a large range costs two pieces, not a
    piece per chunk)."""
    pieces: DefaultDict[int, List[Span]] = defaultdict(list)
    covered: List[Span] = []
    for offset, length in ranges:
        start, end = max(0, offset) // SECTOR * SECTOR, min(size, -(-(offset + length) // SECTOR) * SECTOR)
        if start >= end:
            continue
        first, last = start // chunk_size, (end - 1) // chunk_size
        pieces[first].append((start, min(end, (first + 1) * chunk_size)))
        if last > first:
            pieces[last].append((last * chunk_size, end))
            covered.append((first + 1, last))
    return pieces, merged(covered)


class BaselineChunks:
    """Baseline chunks from the repository, checked as a restore checks them; safe from worker threads."""

    def __init__(self, repo: Repository) -> None:
        self.repo = repo
        self.codec = Codec(0)  # decompression only

    def load(self, chunk_id: bytes) -> Tuple[bytes, int]:
        """The verified plaintext and the stored bytes read; a missing or damaged chunk is a CorruptionError."""
        location = self.repo.index.lookup(chunk_id)
        data = self.repo.load_chunk(chunk_id, self.codec)  # raises for a missing location too
        return data, location.stored_length if location is not None else 0

    def prefetch(self, chunk_id: bytes) -> None:
        """Start reading the chunk's stored bytes from the disk now, for a ``load`` soon (a hint, never fails)."""
        location = self.repo.index.lookup(chunk_id)
        if location is not None:
            self.repo.prefetch_blob(location.pack_id, location.offset, location.stored_length)


def fill_partial(
    view: memoryview, offset: int, partial: PartialChunk, source: Readable, baseline: BaselineChunks
) -> Filled:
    """Fill ``view``, the chunk at ``offset``, with its content now: the baseline's, then the ranges over it."""
    stored = 0
    if partial.baseline_id is None:
        fill_zero(view)
    else:
        try:
            data, stored = baseline.load(partial.baseline_id)
            if len(data) != len(view):
                raise CorruptionError(f"the baseline chunk has {len(data)} bytes, the chunk {len(view)}")
        except (CorruptionError, OSError) as exc:  # a damaged or unreadable baseline chunk is never used
            source.readinto(offset, view)
            return Filled(len(view), 0, False, fallbacks.baseline_chunk_failed(f"offset {offset}: {exc}"))
        view[:] = data
    for start, length in partial.pieces:
        source.readinto(start, view[start - offset : start - offset + length])
    return Filled(partial.length, stored, True)


def record_fill(incremental: dict, offset: int, filled: Filled) -> None:
    """Count a partial chunk in its disk's ``incremental`` entry, or note why it was read whole."""
    if filled.partial:
        incremental["partial_chunks"] = incremental.get("partial_chunks", 0) + 1
    if filled.fallback is None:
        return
    noted = incremental.setdefault("partial_fallbacks", {"chunks": 0, "offsets": [], "reason": filled.fallback})
    noted["chunks"] += 1
    if len(noted["offsets"]) < SHOWN_OFFSETS:
        noted["offsets"].append(offset)
