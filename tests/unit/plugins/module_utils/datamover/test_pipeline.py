"""The parallel helpers: results in order, bounded look-ahead, errors surface in the caller."""

from __future__ import annotations

import platform
import sys

from ansible_collections.backup.hyperv.plugins.module_utils.datamover.run.pipeline import (
    BufferPool,
    keep_freed_buffers,
    ordered_map,
)


def test_ordered_map_keeps_order_and_bounds_items_in_flight():
    produced = []

    def items():
        for n in range(50):
            produced.append(n)
            yield n

    results = []
    for value in ordered_map(items(), lambda n: n * n, workers=3, window=4):
        results.append(value)
        assert len(produced) - len(results) <= 4
    assert results == [n * n for n in range(50)]


def test_buffer_pool_makes_buffers_on_demand_and_never_more_than_its_count():
    pool = BufferPool(2, 16)
    first, second = pool.get(), pool.get()
    assert first is not second and len(first) == len(second) == 16
    pool.put(second)
    assert pool.get() is second  # the bound is reached: a freed buffer comes back instead of a new one


def test_the_allocator_is_told_to_keep_freed_buffers_on_glibc():
    assert keep_freed_buffers() is (sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc")
