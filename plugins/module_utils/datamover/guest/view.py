"""A stored disk as a read-only, random-access file: chunks fetched from the repository on demand.

A file-level restore reads a few metadata chunks and the chunks under the wanted files, never the whole disk.
Each chunk is loaded as a restore loads it (``Repository.load_chunk``: authenticated, decompressed and checked
against its id), kept in a small LRU cache (NTFS reads the same MFT and index chunks again and again), and
zero or unallocated chunks read as zeros without touching the repository. A chunk that fails its checks raises
``DamagedChunkError`` with its disk offset, so the caller can name the guest file it lies under.
"""

from __future__ import annotations

import io
from collections import OrderedDict
from dataclasses import dataclass
from typing import Optional, Union

from ansible_collections.backup.hyperv.plugins.module_utils.datamover.base.errors import CorruptionError
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.compress import Codec
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.patches import Patch
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.repository import Repository
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.snapshot import ChunkList

CACHED_CHUNKS = 8  # 8 MiB with the default 1 MiB chunk: an MFT stretch and a folder's index stay warm


class DamagedChunkError(CorruptionError):
    """A chunk of the disk is missing or fails its checks; ``start`` and ``end`` are its disk bytes."""

    def __init__(self, message: str, start: int, end: int) -> None:
        super().__init__(message)
        self.start, self.end = start, end


@dataclass
class ReadCounter:
    """What reading cost: chunks loaded from the repository, their stored (pack) and plain bytes."""

    chunks_fetched: int = 0
    bytes_read: int = 0  # stored bytes read from pack files (compressed, sealed)
    bytes_fetched: int = 0  # their plaintext

    def to_dict(self) -> dict:
        return {
            "chunks_fetched": self.chunks_fetched,
            "bytes_read": self.bytes_read,
            "bytes_fetched": self.bytes_fetched,
        }


class RandomAccessFile(io.RawIOBase):
    """A read-only file over ``read_at`` (what the NTFS library reads through: seek, then read)."""

    size = 0

    def __init__(self) -> None:
        super().__init__()
        self._position = 0

    def read_at(self, offset: int, length: int) -> bytes:
        raise NotImplementedError

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self.size}[whence]
        self._position = max(0, base + offset)
        return self._position

    def read(self, size: int = -1) -> bytes:
        length = self.size - self._position if size is None or size < 0 else size
        data = self.read_at(self._position, length)
        self._position += len(data)
        return data

    def readinto(self, buffer: bytearray) -> int:  # type: ignore[override]  # io takes any writable buffer
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


class DiskView(RandomAccessFile):
    """Random-access reads of one stored disk (``chunks``) of an opened, indexed repository."""

    def __init__(self, repo: Repository, chunks: ChunkList, label: str, counter: Optional[ReadCounter] = None) -> None:
        super().__init__()
        self.repo, self.chunks, self.label = repo, chunks, label
        self.size = chunks.size
        self.counter = counter or ReadCounter()
        self._codec = Codec(0)
        self._cache: OrderedDict = OrderedDict()

    # --- random access --------------------------------------------------------------------------------------
    def read_at(self, offset: int, length: int) -> bytes:
        """Up to ``length`` bytes from ``offset`` (fewer at the end of the disk)."""
        end = min(self.size, offset + max(0, length))
        parts = []
        while offset < end:
            number = offset // self.chunks.chunk_size
            start, _length = self.chunks.chunk_range(number)
            data = self._chunk(number)
            parts.append(data[offset - start : end - start])
            offset = start + len(data)
        return b"".join(parts)

    def _chunk(self, number: int) -> bytes:
        start, length = self.chunks.chunk_range(number)
        reference = self.chunks.reference_of(number)
        if reference is None:  # a zero or unallocated chunk
            return bytes(length)
        data = self._cache.get(number)
        if data is not None:
            self._cache.move_to_end(number)
            return data
        data = self._load(reference, start, length)
        self._cache[number] = data
        if len(self._cache) > CACHED_CHUNKS:
            self._cache.popitem(last=False)
        return data

    def _load(self, reference: Union[bytes, Patch], start: int, length: int) -> bytes:
        try:
            data = self.repo.load_content(reference, length, self._codec)
        except CorruptionError as exc:
            raise DamagedChunkError(f"{self.label} at offset {start}: {exc}", start, start + length) from exc
        self.counter.chunks_fetched += 1
        self.counter.bytes_read += sum(location.stored_length for location in self.repo.locations_of(reference))
        self.counter.bytes_fetched += len(data)
        return data


class Window(RandomAccessFile):
    """A stretch of a disk (a partition) as a file of its own: offsets count from its start."""

    def __init__(self, disk: DiskView, start: int, size: int) -> None:
        super().__init__()
        self.disk, self.start, self.size = disk, start, size

    def read_at(self, offset: int, length: int) -> bytes:
        length = max(0, min(length, self.size - offset))
        return self.disk.read_at(self.start + offset, length)
