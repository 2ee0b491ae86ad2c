"""Partial chunks: a chunk the changed ranges (Hyper-V RCT) touch only in part is read from the source only there.

Scattered small writes touch many chunks a little each: reading those chunks whole would read the source many
times over what changed (the SAN load an off-host backup exists to keep low). So for a chunk to read that the
ranges do not cover in full, only the ranges are read from the source, and the chunk is stored one of two ways:

- **patched** (store/patches.py): the pieces read are stored as blobs of their own and the chunk names its
  baseline content (the baseline's chunk, or zeros) as its base, with the pieces laid over it. Nothing of the
  baseline is read, and only what changed is stored: the day-2 cost follows the changed blocks, not the chunks
  they fall in. A chunk stays patched while its extents (this run's and earlier ones') cover at most half of it.
- **rebuilt**: past that bound, the worker starts from the chunk's baseline content, read from the repository
  (authenticated, decompressed and re-hashed as a restore does; zeros when the baseline chunk was zero or
  unallocated), reads the ranges over it, and the result is hashed and stored like any chunk read whole.

The ranges are trusted as much as for the chunks they leave out entirely: Windows promises a superset of what
changed (https://learn.microsoft.com/windows/win32/hyperv_v2/msvm-imagemanagementservice-getvirtualdiskchanges).
A baseline chunk that fails its check is never used: the chunk is read whole from the source instead, and the
disk's ``incremental.partial_fallbacks`` says so.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import DefaultDict, Dict, Iterable, List, NamedTuple, Optional, Tuple, Union

from ansible_collections.backup.hyperv.plugins.module_utils.datamover.base.errors import CorruptionError
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.disk.source import Readable, fill_zero
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.run import fallbacks
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.run.audit import SHOWN_OFFSETS
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.run.values import Range
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.chunk_runs import Reference
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.compress import Codec
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.patches import Extent, Patch
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.repository import Repository
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.snapshot import ChunkList
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.spans import Spans, contains, merged

# Reads of the source are rounded out to 4 KiB, the largest sector size of a virtual disk (a VHDX's logical and
# physical sector sizes are 512 or 4096 bytes, [MS-VHDX] 2.6.2.4 and 2.6.2.5,
# https://learn.microsoft.com/openspecs/windows_protocols/ms-vhdx/): a range costs its sectors, not its chunk.
SECTOR = 4096
Span = Tuple[int, int]  # [start, end) in disk bytes


@dataclass(frozen=True)
class PartialChunk:
    """A chunk to read that the ranges touch only in part: the pieces to read, what holds the rest, and whether
    the chunk is stored as a patch over it (else rebuilt whole)."""

    pieces: Tuple[Range, ...]  # (offset, length) in disk bytes inside the chunk: sorted, apart, sector-aligned
    baseline: Reference  # the baseline chunk's id or patch; None: it was zero or unallocated (the rest is zeros)
    patched: bool = False

    @property
    def length(self) -> int:
        return sum(length for _offset, length in self.pieces)

    def patch(self, extents: Tuple[Extent, ...]) -> Patch:
        """The chunk as a patch: its baseline content with ``extents`` (the pieces, stored) laid over it."""
        return patch_base(self.baseline).over(extents)


def patch_base(baseline: Reference) -> Patch:
    """The patch a changed chunk's pieces are laid over: its baseline's own patch, or its baseline chunk (or
    zeros) with nothing over it yet."""
    return baseline if isinstance(baseline, Patch) else Patch(baseline, ())


def _patchable(pieces: Tuple[Range, ...], baseline: Reference, chunk_start: int, chunk_length: int) -> bool:
    """Whether the chunk, with the pieces laid over its baseline content, is still worth keeping as a patch."""
    extents = tuple(Extent(offset - chunk_start, length, None) for offset, length in pieces)
    return patch_base(baseline).over(extents).fits(chunk_length)


class Filled(NamedTuple):
    """How a worker got a chunk's content."""

    source_bytes: int  # read from the source
    baseline_bytes: int  # stored bytes read from the repository
    partial: bool  # only the ranges came from the source
    fallback: Optional[str] = None  # why a partial chunk was read whole after all
    patched: bool = False  # stored as a patch over its baseline content (nothing of the baseline read)


def whole(length: int) -> Filled:
    return Filled(length, 0, False)


def partial_chunks(
    ranges: Iterable[Range], chunks: ChunkList, to_read: Spans, baseline: ChunkList
) -> Dict[int, PartialChunk]:
    """The chunks to read (in ``to_read``) that the ranges touch but do not cover; the others stay whole reads."""
    pieces, covered = _cut(ranges, chunks.size, chunks.chunk_size)
    found = {}
    for number, byte_spans in pieces.items():
        start, length = chunks.chunk_range(number)
        joined = merged(byte_spans)
        if not contains(to_read, number) or joined == [(start, start + length)] or contains(covered, number):
            continue
        pieces_read = tuple((s, e - s) for s, e in joined)
        reference = baseline.reference_of(number)
        found[number] = PartialChunk(pieces_read, reference, _patchable(pieces_read, reference, start, length))
    return found


def _cut(ranges: Iterable[Range], size: int, chunk_size: int) -> Tuple[DefaultDict[int, List[Span]], List[Span]]:
    """Each range rounded out to sectors and clipped to the disk: its pieces in its first and last chunk, and
    the chunk numbers [first, end) it covers in full between them (a large range costs two pieces, not a
    piece per chunk)."""
    pieces: DefaultDict[int, List[Span]] = defaultdict(list)
    covered: List[Span] = []
    for offset, length in ranges:
        start, end = max(0, offset) // SECTOR * SECTOR, min(size, -(-(offset + length) // SECTOR) * SECTOR)
        if start >= end:
            continue
        first, last = start // chunk_size, (end - 1) // chunk_size
        pieces[first].append((start, min(end, (first + 1) * chunk_size)))
        if last > first:
            pieces[last].append((last * chunk_size, end))
            covered.append((first + 1, last))
    return pieces, merged(covered)


class BaselineChunks:
    """Baseline chunks from the repository, checked as a restore checks them; safe from worker threads."""

    def __init__(self, repo: Repository) -> None:
        self.repo = repo
        self.codec = Codec(0)  # decompression only

    def load(self, reference: Union[bytes, Patch], length: int) -> Tuple[bytes, int]:
        """The verified plaintext of a chunk of ``length`` bytes and the stored bytes read; a missing or damaged
        part is a CorruptionError."""
        data = self.repo.load_content(reference, length, self.codec)  # raises for a missing location too
        return data, sum(location.stored_length for location in self.repo.locations_of(reference))

    def prefetch(self, reference: Union[bytes, Patch]) -> None:
        """Start reading the chunk's stored bytes from the disk now, for a ``load`` soon (a hint, never fails)."""
        for location in self.repo.locations_of(reference):
            self.repo.prefetch_blob(location.pack_id, location.offset, location.stored_length)


def fill_partial(
    view: memoryview, offset: int, partial: PartialChunk, source: Readable, baseline: BaselineChunks
) -> Filled:
    """Fill ``view``, the chunk at ``offset``, with its content now: the baseline's, then the ranges over it."""
    stored = 0
    if partial.baseline is None:
        fill_zero(view)
    else:
        try:
            data, stored = baseline.load(partial.baseline, len(view))
            if len(data) != len(view):
                raise CorruptionError(f"the baseline chunk has {len(data)} bytes, the chunk {len(view)}")
        except (CorruptionError, OSError) as exc:  # a damaged or unreadable baseline chunk is never used
            source.readinto(offset, view)
            return Filled(len(view), 0, False, fallbacks.baseline_chunk_failed(f"offset {offset}: {exc}"))
        view[:] = data
    for start, length in partial.pieces:
        source.readinto(start, view[start - offset : start - offset + length])
    return Filled(partial.length, stored, True)


def read_pieces(view: memoryview, offset: int, partial: PartialChunk, source: Readable) -> Filled:
    """Read only the pieces of a chunk stored as a patch into ``view`` (the chunk at ``offset``): the rest of it
    stays as it was, and nothing of the baseline is read."""
    for start, length in partial.pieces:
        source.readinto(start, view[start - offset : start - offset + length])
    return Filled(partial.length, 0, True, patched=True)


def record_fill(incremental: dict, offset: int, filled: Filled) -> None:
    """Count a partial chunk (and a patched one) in its disk's ``incremental`` entry, or note why it was read
    whole."""
    if filled.partial:
        incremental["partial_chunks"] = incremental.get("partial_chunks", 0) + 1
    if filled.patched:
        incremental["patched_chunks"] = incremental.get("patched_chunks", 0) + 1
    if filled.fallback is None:
        return
    noted = incremental.setdefault("partial_fallbacks", {"chunks": 0, "offsets": [], "reason": filled.fallback})
    noted["chunks"] += 1
    if len(noted["offsets"]) < SHOWN_OFFSETS:
        noted["offsets"].append(offset)
