"""Which chunks of a disk a backup must read: from the source's extents, the changed ranges and a baseline.

Words: the *grid* is the disk cut into ``chunk_size`` pieces from offset 0; a chunk's *kind* is DATA if any
allocated data extent touches it, else ZERO if a zero extent does, else UNALLOCATED. Kinds, changed chunks and
chunks to read are runs and spans (store/spans.py), never one flag per chunk: planning a 64 TiB disk costs what
it holds. *Changed ranges* (Hyper-V RCT) mark the chunks they touch as changed (of which partial.py reads only
the ranges). The *baseline* is the same disk in the previous restore point.
"""

from __future__ import annotations

import bisect
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

from ansible_collections.backup.hyperv.plugins.module_utils.datamover.disk.extents import Extent, ExtentKind
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.run import fallbacks
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.chunk_runs import ChunkList, RunBuilder
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.constants import (
    KIND_DATA,
    KIND_UNALLOCATED,
    KIND_ZERO,
)
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.index import Index
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.spans import (
    Span,
    Spans,
    complement,
    intersection,
    merged,
)

KindRuns = List[Tuple[int, int, int]]  # (start, end, kind) covering the grid in order


def _chunk_span(offset: int, length: int, size: int, chunk_size: int) -> Optional[Span]:
    end = min(size, offset + length)
    if length <= 0 or offset >= end:
        return None
    return offset // chunk_size, (end - 1) // chunk_size + 1


def chunk_kinds(extents: Iterable[Extent], size: int, chunk_size: int) -> KindRuns:
    """Kind of every chunk on the grid, as runs; DATA wins over ZERO, ZERO over UNALLOCATED."""
    count = -(-size // chunk_size)
    found: Dict[ExtentKind, List[Span]] = {ExtentKind.DATA: [], ExtentKind.ZERO: []}
    for extent in extents:
        span = _chunk_span(extent.offset, extent.length, size, chunk_size)
        if span is not None and extent.kind in found:
            found[extent.kind].append(span)
    data = merged(found[ExtentKind.DATA])
    zero = intersection(merged(found[ExtentKind.ZERO]), complement(data, count))
    marked = sorted([(s, e, KIND_DATA) for s, e in data] + [(s, e, KIND_ZERO) for s, e in zero])
    runs: KindRuns = []
    position = 0
    for start, end, kind in marked:
        if start > position:
            runs.append((position, start, KIND_UNALLOCATED))
        runs.append((start, end, kind))
        position = end
    if position < count:
        runs.append((position, count, KIND_UNALLOCATED))
    return runs


def changed_spans(ranges: Sequence[Tuple[int, int]], size: int, chunk_size: int) -> Spans:
    """The chunks the changed ranges touch (ranges aligned out to the grid)."""
    touched = (_chunk_span(int(offset), int(length), size, chunk_size) for offset, length in ranges)
    return merged(span for span in touched if span is not None)


def baseline_problem(baseline: Optional[ChunkList], size: int, chunk_size: int, index: Index) -> Optional[str]:
    """Why ``baseline`` cannot serve an incremental backup, or None when it can."""
    if baseline is None:
        return fallbacks.NO_SUCH_DISK
    if baseline.size != size:
        return fallbacks.size_changed(baseline.size, size)
    if baseline.chunk_size != chunk_size:
        return fallbacks.chunk_size_changed(baseline.chunk_size, chunk_size)
    if not index.contains_all(chunk_id for _ignored, chunk_id in baseline.blob_refs()):
        return fallbacks.MISSING_CHUNKS
    return None


def _clipped(runs: KindRuns, start: int, end: int) -> KindRuns:
    """The runs over [start, end), clipped to it."""
    at = max(0, bisect.bisect_right(runs, (start, float("inf"), 0)) - 1)
    pieces = []
    while at < len(runs) and runs[at][0] < end:
        low, high = max(runs[at][0], start), min(runs[at][1], end)
        if low < high:
            pieces.append((low, high, runs[at][2]))
        at += 1
    return pieces


def _add_unread(builder: RunBuilder, runs: KindRuns) -> None:
    """Runs as planned before reading: a DATA chunk stays UNALLOCATED until its read is recorded."""
    for start, end, kind in runs:
        builder.add(start, end, KIND_UNALLOCATED if kind == KIND_DATA else kind)


def plan_reads(chunks: ChunkList, kinds: KindRuns, baseline: Optional[ChunkList], changed: Optional[Spans]) -> Spans:
    """Fill ``chunks`` with every entry known without reading; return the spans of chunks to read.

    With a baseline and changed spans, unchanged chunks copy the baseline entry; otherwise every DATA chunk is
    read. The list is built in one pass in disk order, run by run: the cost is the runs', not the grid's.
    """
    builder = RunBuilder()
    data = [(start, end) for start, end, kind in kinds if kind == KIND_DATA]
    if baseline is None or changed is None:
        _add_unread(builder, kinds)
        chunks.adopt(builder)
        return data
    unchanged = complement(changed, chunks.count)
    for start, end, is_changed in _sections(changed, unchanged):
        if is_changed:
            _add_unread(builder, _clipped(kinds, start, end))
        else:
            for entry in baseline.entries(start, end):
                builder.add(*entry)
    chunks.adopt(builder)
    return intersection(data, changed)


def _sections(changed: Spans, unchanged: Spans) -> List[Tuple[int, int, bool]]:
    """The grid cut into changed and unchanged spans, in order."""
    return sorted([(s, e, True) for s, e in changed] + [(s, e, False) for s, e in unchanged])
