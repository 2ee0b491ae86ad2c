"""Patched chunks: a chunk held as its baseline content with the changed pieces laid over it (sub-chunk references).

Hyper-V RCT reports changes at a granularity finer than the data mover's chunks (the lab's tracking block is
256 KiB, the default chunk 1 MiB). Storing a changed chunk whole means reading its old content back from the
repository, rebuilding it and storing all of it again: a day-2 backup then writes about four times what
changed. A patched chunk instead names its *base* (the baseline's stored chunk, or zeros) and the *extents*
read from the source this time, each a slice of a blob of its own; nothing of the base is read or written.

A later incremental that changes the chunk again lays its pieces over the existing extents (the old extents
are trimmed, never reread: an extent says where in its blob it starts). So that a restore stays cheap, a chunk
is patched only while its extents cover at most half of it and number at most ``MAX_EXTENTS``; past that it is
rebuilt whole (run/partial.py). The encoding of a patch in a chunk list is in docs/datamover-format.md,
section 7; this module is the one place that lays it out and reads it back.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Callable, Dict, Iterator, List, Optional, Sequence, Tuple

from ansible_collections.backup.hyperv.plugins.module_utils.datamover.base.errors import CorruptionError
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.constants import CHUNK_ID_SIZE

MAX_EXTENTS = 64  # extents of one patched chunk; more and it is rebuilt whole (bounds a restore's blob reads)
PATCH_HEADER = struct.Struct("<BH")  # base flag (1: a base id follows, 0: the base is zeros), extent count
EXTENT_ENTRY = struct.Struct("<IIIB")  # start in the chunk, length, start in the blob, blob flag (0: zeros)


@dataclass(frozen=True)
class Extent:
    """Bytes [start, start + length) of the chunk are bytes [blob_offset, blob_offset + length) of ``blob``."""

    start: int
    length: int
    blob: Optional[bytes]  # the blob's chunk id; None: the bytes are zero (nothing stored)
    blob_offset: int = 0

    @property
    def end(self) -> int:
        return self.start + self.length

    def clipped(self, start: int, end: int) -> Extent:
        """The part of this extent inside [start, end) (which must overlap it)."""
        low, high = max(self.start, start), min(self.end, end)
        return Extent(low, high - low, self.blob, self.blob_offset + (low - self.start))


@dataclass(frozen=True)
class Patch:
    """A chunk's content: ``base`` (a stored chunk's id, or None for zeros) with ``extents`` laid over it."""

    base: Optional[bytes]
    extents: Tuple[Extent, ...]  # sorted, apart, non-empty

    def blob_ids(self) -> Iterator[bytes]:
        """Every stored chunk this content needs, the base first."""
        if self.base is not None:
            yield self.base
        for extent in self.extents:
            if extent.blob is not None:
                yield extent.blob

    @property
    def patched_bytes(self) -> int:
        return sum(extent.length for extent in self.extents)

    def over(self, pieces: Sequence[Extent]) -> Patch:
        """This content with ``pieces`` (sorted, apart) laid over it: they win where they overlap an extent."""
        return Patch(self.base, overlay(self.extents, pieces))

    def fits(self, chunk_length: int) -> bool:
        """Whether the content is worth keeping as a patch rather than rebuilt as a whole chunk."""
        return 0 < len(self.extents) <= MAX_EXTENTS and 2 * self.patched_bytes <= chunk_length


def overlay(old: Sequence[Extent], new: Sequence[Extent]) -> Tuple[Extent, ...]:
    """``old`` extents trimmed to what ``new`` leaves of them, with ``new`` added; sorted by start."""
    kept: List[Extent] = []
    for extent in old:
        pieces = [(extent.start, extent.end)]
        for cover in new:
            pieces = [part for low, high in pieces for part in _minus(low, high, cover.start, cover.end)]
        kept += [extent.clipped(low, high) for low, high in pieces]
    return tuple(sorted(kept + list(new), key=lambda extent: extent.start))


def _minus(low: int, high: int, cut_low: int, cut_high: int) -> List[Tuple[int, int]]:
    """[low, high) without [cut_low, cut_high): nothing, one or two spans."""
    if cut_high <= low or cut_low >= high:
        return [(low, high)]
    return [(a, b) for a, b in ((low, cut_low), (cut_high, high)) if a < b]


def assemble(patch: Patch, length: int, load: Callable[[bytes], bytes]) -> bytearray:
    """The chunk's plaintext (``length`` bytes): the base, then each extent from its blob. ``load`` returns a
    verified blob's plaintext (as a restore reads it); a blob too short for its extent is corruption."""
    content = bytearray(length)
    loaded: Dict[bytes, bytes] = {}
    if patch.base is not None:
        base = load(patch.base)
        if len(base) != length:
            raise CorruptionError(f"the base of a patched chunk has {len(base)} bytes, the chunk {length}")
        content[:] = base
    for extent in patch.extents:
        if extent.end > length:
            raise CorruptionError(f"an extent ends at {extent.end}, past the chunk's {length} bytes")
        if extent.blob is None:
            content[extent.start : extent.end] = bytes(extent.length)
            continue
        if extent.blob not in loaded:
            loaded[extent.blob] = load(extent.blob)
        blob = loaded[extent.blob]
        if extent.blob_offset + extent.length > len(blob):
            needs = f"{extent.blob_offset}+{extent.length}"
            raise CorruptionError(f"an extent needs bytes {needs} of a {len(blob)}-byte blob")
        content[extent.start : extent.end] = blob[extent.blob_offset : extent.blob_offset + extent.length]
    return content


def encode_patch(patch: Patch) -> bytes:
    """One patched chunk's entry in a chunk list (docs/datamover-format.md, section 7)."""
    if not patch.extents:
        raise ValueError("a patch without extents is its base: record the base instead")
    parts = [PATCH_HEADER.pack(patch.base is not None, len(patch.extents))]
    parts += [patch.base] if patch.base is not None else []
    for extent in patch.extents:
        parts.append(EXTENT_ENTRY.pack(extent.start, extent.length, extent.blob_offset, extent.blob is not None))
        parts += [extent.blob] if extent.blob is not None else []
    return b"".join(parts)


def decode_patch(payload: memoryview, position: int, chunk_size: int, name: str) -> Tuple[Patch, int]:
    """The patched chunk entry at ``position``, checked (extents sorted, apart, inside the chunk); and the
    position after it. Anything else is corruption: a patch read wrong would restore a disk that never was."""
    has_base, count = _unpack(PATCH_HEADER, payload, position, name)
    position += PATCH_HEADER.size
    base, position = _take_id(payload, position, has_base, name)
    extents: List[Extent] = []
    for _ignored in range(count):
        start, length, blob_offset, has_blob = _unpack(EXTENT_ENTRY, payload, position, name)
        blob, position = _take_id(payload, position + EXTENT_ENTRY.size, has_blob, name)
        if length == 0 or start + length > chunk_size or (extents and start < extents[-1].end):
            raise CorruptionError(f"chunk list {name} has a bad extent at {start}+{length} in a patched chunk")
        extents.append(Extent(start, length, blob, blob_offset))
    if not extents:
        raise CorruptionError(f"chunk list {name} has a patched chunk without extents")
    return Patch(base, tuple(extents)), position


def unpack(raw: bytes, chunk_size: int) -> Patch:
    """A patch a chunk list holds encoded (checked when it was read or made): a list keeps its patches as their
    encoding, about a fifth of the memory of the objects, and makes the objects when asked."""
    return decode_patch(memoryview(raw), 0, chunk_size, "in memory")[0]


def _unpack(layout: struct.Struct, payload: memoryview, position: int, name: str) -> tuple:
    try:
        return layout.unpack_from(payload, position)
    except struct.error as exc:
        raise CorruptionError(f"chunk list {name} is truncated") from exc


def _take_id(payload: memoryview, position: int, flag: int, name: str) -> Tuple[Optional[bytes], int]:
    """An id at ``position`` when ``flag`` is 1, none when 0; anything else is corruption."""
    if flag not in (0, 1):
        raise CorruptionError(f"chunk list {name} has a bad flag {flag} in a patched chunk")
    if not flag:
        return None, position
    piece = bytes(payload[position : position + CHUNK_ID_SIZE])
    if len(piece) != CHUNK_ID_SIZE:
        raise CorruptionError(f"chunk list {name} is truncated")
    return piece, position + CHUNK_ID_SIZE
