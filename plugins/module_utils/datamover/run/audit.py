"""Audit of Hyper-V RCT ranges: read a disk in full and check that nothing changed outside the ranges.

Windows promises that GetVirtualDiskChanges reports a superset of what changed since an RCT id
(https://learn.microsoft.com/windows/win32/hyperv_v2/msvm-imagemanagementservice-getvirtualdiskchanges), and the
data mover proves everything around that answer (the baseline's RCT id, the size, the chunks). What it cannot
prove without reading is the answer itself: a host that under-reports (a filter driver, a bug, a restored
.rct file) would make every incremental since carry stale chunks. An audited backup reads the disk in full, as
a full backup does (so its restore point is right whatever the ranges said), and compares each chunk the
ranges called unchanged with the baseline's: any difference is a change RCT did not report.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import List

from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.constants import KIND_DATA
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.snapshot import ChunkList, id_span

SHOWN_OFFSETS = 16  # the first missed chunks named in the result; the count says how many in all


@dataclass(frozen=True)
class RangeAudit:
    """The baseline of one disk and the chunks its changed ranges touch (1) or leave alone (0)."""

    baseline: ChunkList
    changed: bytearray


def _same(read: ChunkList, base: ChunkList, number: int) -> bool:
    """Whether chunk ``number`` holds the same content in both lists (zero and unallocated read alike)."""
    read_data, base_data = read.kinds[number] == KIND_DATA, base.kinds[number] == KIND_DATA
    if read_data != base_data:
        return False
    return not read_data or read.ids[id_span(number, number + 1)] == base.ids[id_span(number, number + 1)]


def audit_result(read: ChunkList, audit: RangeAudit) -> dict:
    """``{chunks_checked, chunks_missed, missed_offsets}``: the chunks outside the ranges, and those that changed."""
    unchanged = list(read.numbers(audit.changed, 0))
    missed: List[int] = [number for number in unchanged if not _same(read, audit.baseline, number)]
    return {
        "chunks_checked": len(unchanged),
        "chunks_missed": len(missed),
        "missed_offsets": [read.chunk_range(number)[0] for number in missed[:SHOWN_OFFSETS]],
    }
