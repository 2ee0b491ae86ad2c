"""Restore points: the chunk list of each disk/file and the small JSON record that publishes them.

A chunk list is compact (one kind byte and a 32-byte id slot per chunk, no per-chunk objects). A restore
point is two files in ``points/``: ``<id>.chunks`` (all its chunk lists) and, written last, ``<id>.point``
(JSON: VM, time, disks, files, stats, and the SHA-256 of the chunk list file). The set of ``.point``
files is the catalog: a restore point exists exactly when its record does.
"""

from __future__ import annotations

import re
import struct
from functools import lru_cache
from typing import Iterator, List, Optional, Pattern, Tuple, Union

from ansible_collections.backup.hyperv.plugins.module_utils.datamover.base.errors import CorruptionError
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.constants import (
    CHUNK_ID_SIZE,
    KIND_DATA,
    KIND_UNALLOCATED,
    STREAM_HEADER,
)

STREAM_COUNT = struct.Struct("<I")
# What a disk's record says of a VHDX's identity (run/streams.py); null in records written before it was kept.
IDENTITY_KEYS = ("disk_id", "vhd_type", "parent_locator")
ByteFlags = Union[bytes, bytearray]


@lru_cache(maxsize=None)
def _run_pattern(value: int) -> Pattern[bytes]:
    return re.compile(re.escape(bytes([value])) + b"+")


def runs_of(flags: ByteFlags, value: int) -> Iterator[Tuple[int, int]]:
    """(start, end) of every maximal run of ``value`` in ``flags`` (one byte per chunk).

    Whole-disk passes go run by run instead of chunk by chunk: a disk of a million chunks is a few runs
    of unchanged, zero or unallocated chunks, found at the speed of a byte scan.
    """
    return (match.span() for match in _run_pattern(value).finditer(flags))


def id_span(start: int, end: int) -> slice:
    """Where the ids of chunks ``start`` to ``end`` (excluded) sit in a chunk list's id array."""
    return slice(start * CHUNK_ID_SIZE, end * CHUNK_ID_SIZE)


class ChunkList:
    """Kinds and ids of the chunks of one stream (a disk or a file) on a fixed grid of ``chunk_size``."""

    def __init__(self, size: int, chunk_size: int) -> None:
        self.size = size
        self.chunk_size = chunk_size
        self.count = -(-size // chunk_size)
        self.kinds = bytearray([KIND_UNALLOCATED]) * self.count
        self.ids = bytearray(self.count * CHUNK_ID_SIZE)

    def chunk_range(self, number: int) -> Tuple[int, int]:
        """Byte offset and length of chunk ``number`` (the last one may be short)."""
        offset = number * self.chunk_size
        return offset, min(self.chunk_size, self.size - offset)

    def set(self, number: int, kind: int, chunk_id: Optional[bytes] = None) -> None:
        self.kinds[number] = kind
        if kind == KIND_DATA:
            self.ids[id_span(number, number + 1)] = chunk_id

    def numbers(self, flags: ByteFlags, value: int) -> Iterator[int]:
        """The chunk numbers whose entry in ``flags`` (one byte per chunk) is ``value``, in disk order."""
        for start, end in runs_of(flags, value):
            yield from range(start, end)

    def data_chunks(self) -> Iterator[Tuple[int, bytes]]:
        """(chunk number, id) of every stored chunk, in disk order."""
        ids = self.ids
        for number in self.numbers(self.kinds, KIND_DATA):
            yield number, bytes(ids[id_span(number, number + 1)])

    def copy_span(self, other: ChunkList, start: int, end: int) -> None:
        """Take the entries of chunks ``start`` to ``end`` (excluded) from ``other``, a list on the same grid."""
        self.kinds[start:end] = other.kinds[start:end]
        self.ids[id_span(start, end)] = other.ids[id_span(start, end)]

    def covered_bytes(self, flags: ByteFlags, value: int) -> int:
        """Bytes of the chunks whose entry in ``flags`` (one byte per chunk) is ``value``."""
        covered = flags.count(value) * self.chunk_size
        if covered and flags[-1] == value:  # the last chunk may be short
            covered -= self.count * self.chunk_size - self.size
        return covered

    def encode(self) -> bytes:
        data_ids = b"".join(self.ids[id_span(start, end)] for start, end in runs_of(self.kinds, KIND_DATA))
        return STREAM_HEADER.pack(self.size, self.chunk_size, 0) + bytes(self.kinds) + data_ids


def decode_stream(payload: memoryview, position: int, name: str) -> Tuple[ChunkList, int]:
    """Decode one stream at ``position``; return it and the position after it."""
    try:
        size, chunk_size, _ignored = STREAM_HEADER.unpack_from(payload, position)
    except struct.error as exc:
        raise CorruptionError(f"chunk list {name} is truncated") from exc
    if chunk_size == 0:
        raise CorruptionError(f"chunk list {name} has chunk size 0")
    chunks = ChunkList(size, chunk_size)
    position += STREAM_HEADER.size
    chunks.kinds[:] = payload[position : position + chunks.count]
    if len(chunks.kinds) != chunks.count:
        raise CorruptionError(f"chunk list {name} is truncated")
    position += chunks.count
    for start, end in runs_of(chunks.kinds, KIND_DATA):
        length = (end - start) * CHUNK_ID_SIZE
        run_ids = payload[position : position + length]
        if len(run_ids) != length:
            raise CorruptionError(f"chunk list {name} is truncated")
        chunks.ids[id_span(start, end)] = run_ids
        position += length
    return chunks, position


def encode_chunk_lists(streams: List[ChunkList]) -> bytes:
    return STREAM_COUNT.pack(len(streams)) + b"".join(stream.encode() for stream in streams)


def decode_chunk_lists(payload: bytes, name: str) -> List[ChunkList]:
    view = memoryview(payload)
    if len(view) < STREAM_COUNT.size:
        raise CorruptionError(f"chunk list {name} is truncated")
    (count,) = STREAM_COUNT.unpack_from(view)
    position = STREAM_COUNT.size
    streams = []
    for _ignored in range(count):
        stream, position = decode_stream(view, position, name)
        streams.append(stream)
    if position != len(view):
        raise CorruptionError(f"chunk list {name} has trailing bytes")
    return streams


def summary(point: dict) -> dict:
    """The catalog view of a restore point record (what list_restore_points returns)."""
    return {
        "id": point["id"],
        "time": point["time"],
        "disks": [
            {
                **{k: d[k] for k in ("name", "source", "format", "virtual_size", "chunk_size")},
                **{k: d.get(k) for k in ("change_id", *IDENTITY_KEYS)},
            }
            for d in point["disks"]
        ],
        "files": [{k: f[k] for k in ("name", "source", "size")} for f in point["files"]],
        "stats": point.get("stats", {}),
        "incremental": point.get("incremental", {}),  # per disk how it was read, and why a full read
    }


def baseline_summary(point: Optional[dict]) -> dict:
    """What the next incremental of a VM needs of its latest restore point (``baselines``): the RCT id recorded
    for each disk (null when none was given, or the point predates change ids) and its virtual size."""
    if point is None:
        return {"restore_point": None, "time": None, "disks": {}}
    disks = {d["name"]: {"change_id": d.get("change_id"), "size": d["virtual_size"]} for d in point["disks"]}
    return {"restore_point": point["id"], "time": point["time"], "disks": disks}
