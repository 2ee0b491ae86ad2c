"""Which chunks of a disk a backup must read: from the source's extents, the changed ranges and a baseline.

Words: the *grid* is the disk cut into ``chunk_size`` pieces from offset 0; a chunk's *kind* is DATA if any
allocated data extent touches it, else ZERO if a zero extent does, else UNALLOCATED. *Changed ranges*
(Hyper-V RCT) mark the chunks they touch as changed (of which partial.py reads only the ranges). The *baseline*
is the same disk in the previous restore point.
"""

from __future__ import annotations

from typing import Iterable, Optional, Sequence, Tuple

from ansible_collections.backup.hyperv.plugins.module_utils.datamover.disk.extents import Extent, ExtentKind
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.run import fallbacks
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.constants import (
    KIND_DATA,
    KIND_UNALLOCATED,
    KIND_ZERO,
)
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.index import Index
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.snapshot import ChunkList, runs_of

_IS_DATA = bytes(int(kind == KIND_DATA) for kind in range(256))  # translate table: kind -> 1 if DATA
_DATA_AS_UNALLOCATED = bytes(KIND_UNALLOCATED if kind == KIND_DATA else kind for kind in range(256))


def _chunk_span(offset: int, length: int, size: int, chunk_size: int) -> Optional[Tuple[int, int]]:
    end = min(size, offset + length)
    if length <= 0 or offset >= end:
        return None
    return offset // chunk_size, (end - 1) // chunk_size + 1


def chunk_kinds(extents: Iterable[Extent], size: int, chunk_size: int) -> bytearray:
    """Kind of every chunk on the grid; DATA wins over ZERO, ZERO over UNALLOCATED."""
    count = -(-size // chunk_size)
    kinds = bytearray([KIND_UNALLOCATED]) * count
    data_spans = []
    for extent in extents:
        span = _chunk_span(extent.offset, extent.length, size, chunk_size)
        if span is None:
            continue
        if extent.kind is ExtentKind.DATA:
            data_spans.append(span)
        elif extent.kind is ExtentKind.ZERO:
            kinds[span[0] : span[1]] = bytes([KIND_ZERO]) * (span[1] - span[0])
    for first, last in data_spans:
        kinds[first:last] = bytes([KIND_DATA]) * (last - first)
    return kinds


def changed_mask(ranges: Sequence[Tuple[int, int]], size: int, chunk_size: int) -> bytearray:
    """1 for every chunk a changed range touches (ranges aligned out to the grid)."""
    mask = bytearray(-(-size // chunk_size))
    for offset, length in ranges:
        span = _chunk_span(int(offset), int(length), size, chunk_size)
        if span is not None:
            mask[span[0] : span[1]] = b"\x01" * (span[1] - span[0])
    return mask


def baseline_problem(baseline: Optional[ChunkList], size: int, chunk_size: int, index: Index) -> Optional[str]:
    """Why ``baseline`` cannot serve an incremental backup, or None when it can."""
    if baseline is None:
        return fallbacks.NO_SUCH_DISK
    if baseline.size != size:
        return fallbacks.size_changed(baseline.size, size)
    if baseline.chunk_size != chunk_size:
        return fallbacks.chunk_size_changed(baseline.chunk_size, chunk_size)
    if not index.contains_all(chunk_id for _ignored, chunk_id in baseline.data_chunks()):
        return fallbacks.MISSING_CHUNKS
    return None


def plan_reads(
    chunks: ChunkList, kinds: bytearray, baseline: Optional[ChunkList], mask: Optional[bytearray]
) -> bytearray:
    """Fill ``chunks`` with every entry known without reading; return 1 for each chunk to read.

    With a baseline and a mask, unchanged chunks copy the baseline entry; otherwise every DATA chunk is read.
    A chunk to read stays UNALLOCATED in ``chunks`` until its result is recorded.
    """
    chunks.kinds[:] = kinds.translate(_DATA_AS_UNALLOCATED)
    to_read = bytearray(kinds.translate(_IS_DATA))
    if baseline is not None and mask is not None:
        for start, end in runs_of(mask, 0):  # unchanged: the baseline's entries, nothing to read
            chunks.copy_span(baseline, start, end)
            to_read[start:end] = bytes(end - start)
    return to_read
