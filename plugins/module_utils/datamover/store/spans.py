"""Spans of chunk numbers: sorted, disjoint ``(start, end)`` pairs (end excluded) on a disk's chunk grid.

Planning passes spans around instead of one flag per chunk, so a pass costs what the disk holds or what changed,
never its virtual size: a 64 TiB disk is 67 million 1 MiB chunks, a handful of spans.
"""

from __future__ import annotations

import bisect
from typing import Iterable, Iterator, List, Sequence, Tuple

Span = Tuple[int, int]
Spans = List[Span]


def merged(spans: Iterable[Span]) -> Spans:
    """``spans`` sorted, empty ones dropped, overlapping or touching ones joined."""
    joined: Spans = []
    for start, end in sorted(span for span in spans if span[1] > span[0]):
        if joined and start <= joined[-1][1]:
            joined[-1] = (joined[-1][0], max(joined[-1][1], end))
        else:
            joined.append((start, end))
    return joined


def complement(spans: Sequence[Span], count: int) -> Spans:
    """The chunk numbers in [0, count) outside ``spans``."""
    gaps: Spans = []
    position = 0
    for start, end in spans:
        if start > position:
            gaps.append((position, start))
        position = max(position, end)
    if position < count:
        gaps.append((position, count))
    return gaps


def intersection(first: Sequence[Span], second: Sequence[Span]) -> Spans:
    """The chunk numbers in both (one walk over the two sorted lists)."""
    both: Spans = []
    i = j = 0
    while i < len(first) and j < len(second):
        start, end = max(first[i][0], second[j][0]), min(first[i][1], second[j][1])
        if start < end:
            both.append((start, end))
        if first[i][1] < second[j][1]:
            i += 1
        else:
            j += 1
    return both


def total(spans: Iterable[Span]) -> int:
    """How many chunk numbers the spans hold."""
    return sum(end - start for start, end in spans)


def contains(spans: Sequence[Span], number: int) -> bool:
    """Whether ``number`` lies in one of the spans."""
    at = bisect.bisect_right(spans, (number, float("inf"))) - 1
    return at >= 0 and spans[at][0] <= number < spans[at][1]


def numbers(spans: Iterable[Span]) -> Iterator[int]:
    """Every chunk number of the spans, in order."""
    for start, end in spans:
        yield from range(start, end)
