"""Audit of Hyper-V RCT ranges: read a disk in full and check that nothing changed outside the ranges.

Windows promises that GetVirtualDiskChanges reports a superset of what changed since an RCT id
(https://learn.microsoft.com/windows/win32/hyperv_v2/msvm-imagemanagementservice-getvirtualdiskchanges), and the
data mover proves everything around that answer (the baseline's RCT id, the size, the chunks). What it cannot
prove without reading is the answer itself: a host that under-reports (a filter driver, a bug, a restored
.rct file) would make every incremental since carry stale chunks. An audited backup reads the disk in full, as
a full backup does (so its restore point is right whatever the ranges said), and compares each chunk the
ranges called unchanged with the baseline's: any difference is a change RCT did not report. A patched baseline
chunk (store/patches.py) has no id of its content: it is read back and hashed to be compared.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterator, List, Optional, Tuple, Union

from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.chunk_runs import Entry, Ids, payload_slice
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.constants import CHUNK_ID_SIZE
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.patches import Patch, unpack
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.snapshot import ChunkList
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.spans import Spans, complement, total

SHOWN_OFFSETS = 16  # the first missed chunks named in the result; the count says how many in all
Slice = Union[Ids, List[bytes], None]  # a piece's ids (DATA), encoded patches (PATCHED), or None (zero, unallocated)
Piece = Tuple[int, int, Slice, Slice]  # start, end, what each list holds there
ContentId = Callable[[Patch, int], Optional[bytes]]  # a patched chunk's content id (None: all zero) by its length


@dataclass(frozen=True)
class RangeAudit:
    """The baseline of one disk and the chunks its changed ranges touch."""

    baseline: ChunkList
    changed: Spans


def _ids_in(entry: Entry, start: int, end: int) -> Slice:
    ids = entry[3]
    if ids is None:
        return None
    return payload_slice(entry[2], ids, start - entry[0], end - entry[0])  # type: ignore[return-value]


def _pieces(read: Iterator[Entry], base: Iterator[Entry]) -> Iterator[Piece]:
    """The two lists' runs over one span, cut where either changes kind."""
    one, other = next(read, None), next(base, None)
    while one is not None and other is not None:
        start, end = max(one[0], other[0]), min(one[1], other[1])
        yield start, end, _ids_in(one, start, end), _ids_in(other, start, end)
        if one[1] == end:
            one = next(read, None)
        if other[1] == end:
            other = next(base, None)


def _missed(piece: Piece, content_id: Callable[[bytes, int], Optional[bytes]]) -> Iterator[int]:
    """The chunks of ``piece`` whose content differs (zero and unallocated read alike): only DATA is compared,
    and a patched chunk by its content's id (``content_id(encoded patch, chunk number)``)."""
    start, end, read_ids, base_ids = piece
    if isinstance(read_ids, list) or isinstance(base_ids, list):
        for at, number in enumerate(range(start, end)):
            if _id_at(read_ids, at, number, content_id) != _id_at(base_ids, at, number, content_id):
                yield number
        return
    if read_ids is None and base_ids is None:
        return
    if read_ids is None or base_ids is None:
        yield from range(start, end)
        return
    if bytes(read_ids) == bytes(base_ids):
        return
    for number in range(start, end):
        at = slice((number - start) * CHUNK_ID_SIZE, (number - start + 1) * CHUNK_ID_SIZE)
        if read_ids[at] != base_ids[at]:
            yield number


def _id_at(ids: Slice, at: int, number: int, content_id: Callable[[bytes, int], Optional[bytes]]) -> Optional[bytes]:
    """The content id of the piece's chunk ``at`` (number ``number``): None when zero or unallocated."""
    if ids is None:
        return None
    if isinstance(ids, list):
        return content_id(ids[at], number)
    return bytes(ids[at * CHUNK_ID_SIZE : (at + 1) * CHUNK_ID_SIZE])


def audit_result(read: ChunkList, audit: RangeAudit, content_id: ContentId) -> dict:
    """``{chunks_checked, chunks_missed, missed_offsets}``: the chunks outside the ranges, and those that changed.
    ``content_id(patch, length)``: the id of a patched chunk's content, None when it is all zero."""
    unchanged = complement(audit.changed, read.count)
    missed_count, shown = 0, []

    def by_number(raw: bytes, number: int) -> Optional[bytes]:
        return content_id(unpack(raw, read.chunk_size), read.chunk_range(number)[1])

    for start, end in unchanged:
        for piece in _pieces(read.entries(start, end), audit.baseline.entries(start, end)):
            for number in _missed(piece, by_number):
                missed_count += 1
                if len(shown) < SHOWN_OFFSETS:
                    shown.append(read.chunk_range(number)[0])
    return {"chunks_checked": total(unchanged), "chunks_missed": missed_count, "missed_offsets": shown}
