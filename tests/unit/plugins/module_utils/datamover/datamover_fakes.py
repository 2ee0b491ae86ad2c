"""Test helpers for the data mover engine: a minimal fake DiskSource and image builders.

The real reader (datamover.source) is written by another contributor; these fakes follow its interface
(path, format, virtual_size, sector sizes, block_size, extents(), read(), close()) closely enough for the
engine: extents come from the raw file's holes (SEEK_DATA/SEEK_HOLE) or are given explicitly.
"""

from __future__ import annotations

import enum
import os
import random
from dataclasses import dataclass
from typing import List, Optional


class ExtentKind(enum.Enum):
    DATA = "data"
    ZERO = "zero"
    UNALLOCATED = "unallocated"


@dataclass(frozen=True)
class Extent:
    offset: int
    length: int
    kind: ExtentKind


class FakeDisk:
    """A raw image file seen as a DiskSource; counts the bytes it is asked to read."""

    bytes_read_total = 0

    def __init__(self, path: str, extents: Optional[List[Extent]] = None, block_size: int = 1 << 20) -> None:
        self.path = path
        self.format = "raw"
        self.logical_sector_size = 512
        self.physical_sector_size = 4096
        self.block_size = block_size
        self._fd = os.open(path, os.O_RDONLY)
        self.virtual_size = os.fstat(self._fd).st_size
        self._extents = extents

    def extents(self) -> List[Extent]:
        if self._extents is not None:
            return list(self._extents)
        return hole_extents(self._fd, self.virtual_size)

    def read(self, offset: int, length: int) -> bytes:
        FakeDisk.bytes_read_total += length
        data = os.pread(self._fd, length, offset)
        return data + bytes(length - len(data))

    def close(self) -> None:
        os.close(self._fd)

    def __enter__(self) -> FakeDisk:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def hole_extents(fd: int, size: int) -> List[Extent]:
    extents, position = [], 0
    while position < size:
        try:
            data = os.lseek(fd, position, os.SEEK_DATA)
        except OSError:
            data = size
        if data > position:
            extents.append(Extent(position, data - position, ExtentKind.UNALLOCATED))
        if data >= size:
            break
        hole = min(os.lseek(fd, data, os.SEEK_HOLE), size)
        extents.append(Extent(data, hole - data, ExtentKind.DATA))
        position = hole
    return extents


def open_fake_disk(path: str) -> FakeDisk:
    if not os.path.exists(path):
        raise FileNotFoundError(path)
    return FakeDisk(path)


def make_image(
    path: str, size: int, seed: int, *, data_every: int = 1, chunk: int = 1 << 20, hole_every: int = 0
) -> bytes:
    """Write a sparse raw image of ``size`` bytes: random chunks, compressible chunks, zero chunks and holes.

    Returns the full logical content (for comparisons) -- keep sizes small in tests.
    """
    rng = random.Random(seed)
    content = bytearray(size)
    with open(path, "wb") as handle:
        handle.truncate(size)
        for number in range(-(-size // chunk)):
            offset = number * chunk
            length = min(chunk, size - offset)
            if hole_every and number % hole_every == hole_every - 1:
                continue  # a hole: unallocated
            if number % 5 == 3:
                piece = bytes(length)  # allocated but zero
            elif number % 2:
                piece = (b"text block %d " % rng.randrange(1000)) * (length // 10 + 1)
                piece = piece[:length]
            else:
                piece = rng.randbytes(length)
            if number % data_every == 0:
                handle.seek(offset)
                handle.write(piece)
                content[offset : offset + length] = piece
    return bytes(content)


def read_tree(folder: str) -> dict:
    """{relative path: bytes} of every file under ``folder``."""
    found = {}
    for root, _ignored, names in os.walk(folder):
        for name in names:
            path = os.path.join(root, name)
            with open(path, "rb") as handle:
                found[os.path.relpath(path, folder)] = handle.read()
    return found
