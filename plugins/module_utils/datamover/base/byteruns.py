"""Runs of one byte value in a byte string (a kind or a state per chunk or block), found at a byte scan's speed.

Each run's end is the next byte of another value, found by a character-class search in C. (A back-referencing
pattern such as ``(.)\\1*`` would do it in one expression, but Python's regular expression engine keeps state
for every repetition of it: about 70 bytes per byte scanned, 4.4 GB for a 64 TiB disk's VHDX BAT.)
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Iterator, Pattern, Tuple, Union

Flags = Union[bytes, bytearray, memoryview]


@lru_cache(maxsize=None)
def _other_than(value: int) -> Pattern[bytes]:
    return re.compile(b"[^" + re.escape(bytes([value])) + b"]")


def byte_runs(flags: Flags, start: int = 0, end: int = -1) -> Iterator[Tuple[int, int, int]]:
    """(start, end, value) of every maximal run of one value in ``flags[start:end]`` (end -1: to the end)."""
    stop = len(flags) if end < 0 else min(end, len(flags))
    position = start
    while position < stop:
        value = flags[position]
        other = _other_than(value).search(flags, position, stop)
        run_end = other.start() if other is not None else stop
        yield position, run_end, value
        position = run_end
