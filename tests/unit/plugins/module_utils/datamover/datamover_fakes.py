"""Test helpers for the data mover engine: a minimal fake DiskSource and image builders.

FakeDisk follows the narrow interface a backup reads disks through (``disk.source.Readable``, plus the
geometry a restore point records) closely enough for the engine, and counts the bytes it is asked to read:
extents come from the raw file's holes (SEEK_DATA/SEEK_HOLE) or are given explicitly. Tests hand it to the
engine as the ``disk_opener`` (see conftest.py).
"""

from __future__ import annotations

import os
import random
from typing import List, Optional

from ansible_collections.backup.hyperv.plugins.module_utils.datamover.disk.extents import Extent, ExtentKind
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.repository import Repository


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

    def readinto(self, offset: int, view: memoryview) -> None:
        view[:] = self.read(offset, len(view))

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


def write_at(path, offset: int, data: bytes) -> None:
    """Change a disk image in place, as a guest write would."""
    with open(path, "r+b") as handle:
        handle.seek(offset)
        handle.write(data)


def read_tree(folder: str) -> dict:
    """{relative path: bytes} of every file under ``folder``."""
    found = {}
    for root, _ignored, names in os.walk(folder):
        for name in names:
            path = os.path.join(root, name)
            with open(path, "rb") as handle:
                found[os.path.relpath(path, folder)] = handle.read()
    return found


def damage_stored_chunk(repo: str, chunk: bytes, passphrase: Optional[str] = None) -> None:
    """Flip one byte in the middle of the stored blob of the chunk whose plaintext is ``chunk``."""
    opened = Repository(str(repo), passphrase)
    opened.load_index()
    location = opened.index.lookup(opened.digest(chunk))
    with open(opened.pack_path(location.pack_id), "r+b") as handle:
        handle.seek(location.offset + location.stored_length // 2)
        byte = handle.read(1)
        handle.seek(-1, 1)
        handle.write(bytes([byte[0] ^ 0xFF]))
