"""Planning: chunk kinds from extents, changed ranges aligned out to the chunk grid."""

from __future__ import annotations

from hypothesis import example, given, settings
from hypothesis import strategies as st

from ansible_collections.backup.hyperv.plugins.module_utils.datamover.base.byteruns import byte_runs
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.disk.extents import Extent, ExtentKind
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.run.partial import partial_chunks
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.run.plan import (
    changed_spans,
    chunk_kinds,
    plan_reads,
)
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.constants import (
    KIND_DATA,
    KIND_UNALLOCATED,
    KIND_ZERO,
)
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.snapshot import ChunkList
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.spans import numbers

D, Z, U = KIND_DATA, KIND_ZERO, KIND_UNALLOCATED


def per_chunk(chunks: ChunkList) -> tuple:
    """(kind of each chunk, the id slot of each chunk: zeros when not DATA), as the list was once held."""
    kinds = [chunks.kind_of(number) for number in range(chunks.count)]
    ids = b"".join(chunks.id_of(number) or bytes(32) for number in range(chunks.count))
    return kinds, ids


def kinds_of(runs: list) -> list:
    return [kind for start, end, kind in runs for _ignored in range(start, end)]


def flags_of(spans: list, count: int) -> list:
    """1 for each chunk number in ``spans``."""
    inside = set(numbers(spans))
    return [int(number in inside) for number in range(count)]


def runs_of(flags: bytes, value: int) -> list:
    return [(start, end) for start, end, each in byte_runs(flags) if each == value]


def test_data_wins_over_zero_wins_over_unallocated():
    extents = [
        Extent(0, 1500, ExtentKind.DATA),
        Extent(1500, 1000, ExtentKind.ZERO),
        Extent(2500, 1500, ExtentKind.UNALLOCATED),
        Extent(4000, 1100, ExtentKind.ZERO),
        Extent(5100, 400, ExtentKind.DATA),
    ]
    assert kinds_of(chunk_kinds(extents, 5500, 1000)) == [D, D, Z, U, Z, D]
    assert chunk_kinds(extents, 5500, 1000) == [(0, 2, D), (2, 3, Z), (3, 4, U), (4, 5, Z), (5, 6, D)]


def test_changed_ranges_align_out_and_clip_to_the_disk():
    assert changed_spans([(999, 2), (3000, 1), (4500, 10_000), (9000, 5)], 5000, 1000) == [(0, 2), (3, 5)]
    assert changed_spans([(10, 0)], 3000, 1000) == []


KINDS = st.sampled_from([D, Z, U])


def reference_plan(kinds: bytes, baseline: ChunkList | None, mask: bytes | None) -> tuple:
    """plan_reads chunk by chunk, as the planning is specified: (kinds, ids, to_read) of the new list."""
    new_kinds, ids, to_read = [], [], []
    for number, kind in enumerate(kinds):
        carried = baseline is not None and mask is not None and not mask[number]
        new_kinds.append(baseline.kind_of(number) if carried else (U if kind == D else kind))
        ids.append((baseline.id_of(number) or bytes(32)) if carried else bytes(32))
        to_read.append(int(not carried and kind == D))
    return new_kinds, b"".join(ids), to_read


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(KINDS, KINDS, st.booleans()), min_size=1, max_size=60),
    st.booleans(),
    st.integers(min_value=1, max_value=999),
)
def test_plan_reads_matches_the_chunk_by_chunk_rule(rows, with_baseline, tail):
    """Run by run planning gives what deciding each chunk on its own gives, short last chunk included."""
    kinds = bytearray(kind for kind, _ignored, _changed in rows)
    size = (len(rows) - 1) * 1000 + tail
    baseline = ChunkList(size, 1000) if with_baseline else None
    mask = bytearray(int(changed) for _kind, _base, changed in rows) if with_baseline else None
    changed = runs_of(mask, 1) if mask is not None else None
    for number, (_kind, base_kind, _changed) in enumerate(rows):
        if baseline is not None:
            baseline.set(number, base_kind, bytes([number + 1]) * 32)
    chunks = ChunkList(size, 1000)
    to_read = plan_reads(chunks, [(s, e, k) for s, e, k in byte_runs(kinds)], baseline, changed)
    expected_kinds, expected_ids, expected_read = reference_plan(kinds, baseline, mask)
    assert (*per_chunk(chunks), flags_of(to_read, chunks.count)) == (expected_kinds, expected_ids, expected_read)
    read_bytes = sum(chunks.chunk_range(n)[1] for n in range(chunks.count) if expected_read[n])
    assert chunks.bytes_of(to_read) == read_bytes
    assert list(numbers(to_read)) == [n for n in range(chunks.count) if expected_read[n]]
    assert all(a != b for (_s, _e, a), (_t, _f, b) in zip(chunks.runs(), list(chunks.runs())[1:]))  # runs differ


def test_byte_runs_finds_each_maximal_run():
    flags = bytes([1, 1, 0, 1, 0, 0, 1])
    assert list(byte_runs(flags)) == [(0, 2, 1), (2, 3, 0), (3, 4, 1), (4, 6, 0), (6, 7, 1)]
    assert list(byte_runs(flags, 1, 5)) == [(1, 2, 1), (2, 3, 0), (3, 4, 1), (4, 5, 0)]
    assert list(byte_runs(b"")) == []


def test_covered_and_spanned_bytes_count_a_short_last_chunk_by_its_length():
    chunks = ChunkList(2500, 1000)  # chunks of 1000, 1000 and 500 bytes
    assert chunks.bytes_of([(0, 1), (2, 3)]) == 1500
    assert chunks.bytes_of([(0, 2)]) == 2000
    assert chunks.bytes_of([]) == 0
    chunks.set(2, D, b"x" * 32)
    assert (chunks.covered_bytes(D), chunks.covered_bytes(U), chunks.count_of(D)) == (500, 2000, 1)


SECTOR = 4096
SECTORS_PER_CHUNK = 4


def reference_partial(ranges: list, size: int, to_read: bytes) -> dict:
    """partial_chunks sector by sector: {chunk: pieces} for each chunk to read the rounded ranges touch, not all."""
    chunk_size, found = SECTOR * SECTORS_PER_CHUNK, {}
    touched = {s for o, n in ranges for s in range(o // SECTOR, -(-(o + n) // SECTOR)) if s * SECTOR < size}
    for number in range(-(-size // chunk_size)):
        mine = [s for s in range(number * SECTORS_PER_CHUNK, (number + 1) * SECTORS_PER_CHUNK) if s * SECTOR < size]
        hit = [s for s in mine if s in touched]
        if to_read[number] and hit and hit != mine:
            runs = [(start * SECTOR, end * SECTOR) for start, end in runs_of(bytes(s in touched for s in mine), 1)]
            base = number * chunk_size
            found[number] = tuple((base + a, min(base + b, size) - base - a) for a, b in runs)
    return found


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 20 * 4 * SECTOR), st.integers(1, 13 * SECTOR)), max_size=12),
    st.integers(1, 20 * 4 * SECTOR),
    st.integers(0, (1 << 20) - 1),
)
@example([(SECTOR, 12 * SECTOR), (5 * SECTOR, 100)], 20 * 4 * SECTOR, (1 << 20) - 1)  # one inside a covered chunk
def test_partial_chunks_are_the_sector_rounded_ranges_of_chunks_they_do_not_cover(ranges, size, read_bits):
    """Pieces per chunk from the ranges rounded out to sectors; a chunk they cover (by one range through it or
    by several together) is a whole read, as is a chunk not to read. The baseline's kind chooses the filler."""
    chunks, baseline = ChunkList(size, SECTOR * SECTORS_PER_CHUNK), ChunkList(size, SECTOR * SECTORS_PER_CHUNK)
    to_read = bytearray((read_bits >> (n % 20)) & 1 for n in range(chunks.count))
    for number in range(0, chunks.count, 2):
        baseline.set(number, D, bytes([number + 1]) * 32)
    found = partial_chunks(ranges, chunks, runs_of(to_read, 1), baseline)
    assert {n: p.pieces for n, p in found.items()} == reference_partial(ranges, size, to_read)
    assert all((p.baseline is None) == (n % 2 == 1) for n, p in found.items())
