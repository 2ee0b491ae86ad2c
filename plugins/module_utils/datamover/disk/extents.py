"""The allocation map of a disk: ordered extents, each DATA, ZERO or UNALLOCATED.

DATA must be read; ZERO is stated to be zero by the format; UNALLOCATED is not stored anywhere (nor in
any parent) and reads as zero. The data mover skips ZERO and UNALLOCATED without reading them, so a
reader never calls stored bytes ZERO/UNALLOCATED, nor unstored bytes DATA.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Iterable, Iterator, Optional


class ExtentKind(enum.Enum):
    DATA = "data"
    ZERO = "zero"
    UNALLOCATED = "unallocated"


@dataclass(frozen=True)
class Extent:
    offset: int
    length: int
    kind: ExtentKind

    @property
    def end(self) -> int:
        return self.offset + self.length


def merge_extents(extents: Iterable[Extent]) -> Iterator[Extent]:
    """Join adjacent extents of the same kind and drop empty ones."""
    pending: Optional[Extent] = None
    for extent in extents:
        if extent.length <= 0:
            continue
        if pending is not None and pending.kind is extent.kind and pending.end == extent.offset:
            pending = Extent(pending.offset, pending.length + extent.length, pending.kind)
            continue
        if pending is not None:
            yield pending
        pending = extent
    if pending is not None:
        yield pending
