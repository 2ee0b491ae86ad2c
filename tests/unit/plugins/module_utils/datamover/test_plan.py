"""Planning: chunk kinds from extents, changed ranges aligned out to the chunk grid."""

from __future__ import annotations

from datamover_fakes import Extent, ExtentKind

from ansible_collections.backup.hyperv.plugins.module_utils.datamover.constants import (
    KIND_DATA,
    KIND_UNALLOCATED,
    KIND_ZERO,
)
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.plan import changed_mask, chunk_kinds

D, Z, U = KIND_DATA, KIND_ZERO, KIND_UNALLOCATED


def test_data_wins_over_zero_wins_over_unallocated():
    extents = [
        Extent(0, 1500, ExtentKind.DATA),
        Extent(1500, 1000, ExtentKind.ZERO),
        Extent(2500, 1500, ExtentKind.UNALLOCATED),
        Extent(4000, 1100, ExtentKind.ZERO),
        Extent(5100, 400, ExtentKind.DATA),
    ]
    assert list(chunk_kinds(extents, 5500, 1000)) == [D, D, Z, U, Z, D]


def test_changed_ranges_align_out_and_clip_to_the_disk():
    mask = changed_mask([(999, 2), (3000, 1), (4500, 10_000), (9000, 5)], 5000, 1000)
    assert list(mask) == [1, 1, 0, 1, 1]
    assert list(changed_mask([(10, 0)], 3000, 1000)) == [0, 0, 0]
