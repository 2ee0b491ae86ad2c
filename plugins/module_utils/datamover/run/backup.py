"""Backup of one VM: plan each disk and file, run the chunk pipeline, commit, publish the restore point.

Worker threads read their chunks themselves (ZERO/UNALLOCATED chunks are never read; a chunk the changed ranges
touch only in part is read only there, and stored as a patch over its baseline content or rebuilt over it:
partial.py), check for zeros, hash, look the id up, and compress + seal only new chunks (a patched chunk's
pieces each as a chunk of their own); the calling thread records each `ChunkResult` in its chunk list, in disk
order, and appends new blobs to the pack. See pipeline.py for the memory bound
and store/chunk_store.py for the commit order.
"""

from __future__ import annotations

import os
import socket
from concurrent.futures import Executor
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Callable, Iterable, Iterator, List, NamedTuple, Optional, Tuple

from ansible_collections.backup.hyperv.plugins.module_utils.datamover.base.errors import (
    CorruptionError,
    SourceUnavailableError,
)
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.run.audit import ContentId
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.run.partial import (
    BaselineChunks,
    Filled,
    PartialChunk,
    fill_partial,
    read_pieces,
    record_fill,
    whole,
)
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.run.pipeline import BufferPool, ordered_map
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.run.stats import Stats
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.run.streams import (
    Baseline,
    Stream,
    for_stream,
    plan_stream,
    record_audits,
)
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.run.values import ChangeIds, Ranges
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.blob import encode_blob
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.catalog import chunk_lists, latest_point
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.chunk_store import (
    DEFAULT_LIMITS,
    StoreLimits,
    StoreSession,
)
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.compress import Codec
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.constants import (
    FORMAT_VERSION,
    KIND_DATA,
    KIND_PATCHED,
    KIND_ZERO,
)
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.crypto import Sealer
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.hashing import Digest
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.index import Index
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.patches import Extent, Patch
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.repository import Repository
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.snapshot import encode_chunk_lists
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.spans import numbers

Progress = Optional[Callable[[int, int], None]]
UNREADABLE = b"unreadable"  # an audit's content id for a patched chunk it cannot read: equals no real id
IN_FLIGHT_BUDGET = 48 << 20  # bytes of chunks being hashed/compressed at once (bounds peak memory)


class Piece(NamedTuple):
    """One piece of a patched chunk, made a chunk of its own."""

    extent: Extent  # where it lies in the chunk, and its blob (None: the piece is all zero)
    stored: Optional[bytes]  # the new blob; None: zero, or known already (dedup)
    flags: int


class ChunkResult(NamedTuple):
    """What a worker made of one chunk."""

    stream_no: int
    number: int  # the chunk's number in its stream
    size: int  # the chunk's length
    chunk_id: Optional[bytes]  # None: the chunk is all zero
    stored: Optional[bytes]  # the new blob; None: zero, or known already (dedup)
    flags: int  # BLOB_FLAG_* of ``stored``
    buffer: bytearray  # the pool buffer read into, to hand back once the result is recorded
    filled: Filled  # what was read from the source and the repository to get the chunk's content
    pieces: Optional[Tuple[Piece, ...]] = None  # a patched chunk's pieces (its ``chunk_id`` is then None)


@dataclass
class ChunkWork:
    """What a worker needs to turn a chunk number into a result: shared, read-only during the run.

    The worker reads the chunk itself, into a buffer of ``pool``: reads of the chunks in flight overlap each
    other and the hashing, and no thread hands data over to another before the result.
    """

    digest: Digest
    codec: Codec
    sealer: Optional[Sealer]
    session: StoreSession
    streams: List[Stream]
    pool: BufferPool
    baseline: Optional[BaselineChunks] = None  # fills partial chunks; None: no repository, no partial chunk

    def __call__(self, item: Tuple[int, int]) -> ChunkResult:
        stream_no, number = item
        data, buffer, filled = self._read(stream_no, number)
        size = len(data)
        if filled.patched:
            stream = self.streams[stream_no]
            pieces = self._pieces(data, stream.partial[number], stream.chunks.chunk_range(number)[0])
            return ChunkResult(stream_no, number, size, None, None, 0, buffer, filled, pieces)
        # bytearray == bytes is a memcmp; a memoryview comparison would go item by item
        if buffer == self.pool.zero if size == self.pool.size else bytes(data) == bytes(size):
            return ChunkResult(stream_no, number, size, None, None, 0, buffer, filled)
        chunk_id, stored, flags = self._blob(data)
        return ChunkResult(stream_no, number, size, chunk_id, stored, flags, buffer, filled)

    def _blob(self, data: memoryview) -> Tuple[bytes, Optional[bytes], int]:
        """The id of ``data`` (not all zero), and its blob when the repository does not hold it yet."""
        chunk_id = self.digest(data)
        if self.session.known(chunk_id):  # dedup before compressing: known chunks cost a hash only
            return chunk_id, None, 0
        stored, flags = encode_blob(data, chunk_id, self.codec, self.sealer)
        return chunk_id, stored, flags

    def _pieces(self, data: memoryview, partial: PartialChunk, offset: int) -> Tuple[Piece, ...]:
        """Each piece read of a patched chunk (``data``, at ``offset`` in its disk) as a chunk of its own."""
        pieces = []
        for start, length in partial.pieces:
            within = start - offset
            piece = data[within : within + length]
            if bytes(piece) == bytes(length):
                pieces.append(Piece(Extent(within, length, None), None, 0))
                continue
            chunk_id, stored, flags = self._blob(piece)
            pieces.append(Piece(Extent(within, length, chunk_id), stored, flags))
        return tuple(pieces)

    def ahead(self, items: Iterable[Tuple[int, int]]) -> Iterator[Tuple[int, int]]:
        """``items`` as the pipeline takes them, each one's reads hinted on the way: the pipeline takes an item a
        window of chunks before a worker reads it, so the disks read that many ahead."""
        for item in items:
            self._hint(*item)
            yield item

    def _hint(self, stream_no: int, number: int) -> None:
        """Start the reads of an incremental's chunk: its baseline blob (packs are written with direct I/O, not
        left in the page cache), and its bytes in the source, scattered where a full read is sequential."""
        stream = self.streams[stream_no]
        if self.baseline is None or stream.incremental.get("mode") != "changed_ranges":
            return
        partial = stream.partial.get(number)
        if partial is not None and partial.baseline is not None and not partial.patched:
            self.baseline.prefetch(partial.baseline)  # a patched chunk reads nothing of its baseline
        prefetch = getattr(stream.source, "prefetch", None)  # disks have it; VM files are read in full anyway
        if prefetch is not None:
            for offset, length in partial.pieces if partial is not None else (stream.chunks.chunk_range(number),):
                prefetch(offset, length)

    def _read(self, stream_no: int, number: int) -> Tuple[memoryview, bytearray, Filled]:
        """The chunk's content, in a pool buffer: read whole, or only its ranges over the baseline's content."""
        stream = self.streams[stream_no]
        offset, length = stream.chunks.chunk_range(number)
        partial = stream.partial.get(number) if self.baseline is not None else None
        buffer = self.pool.get()
        view = memoryview(buffer)[:length]
        try:
            if partial is None or self.baseline is None:
                stream.source.readinto(offset, view)
                filled = whole(length)
            elif partial.patched:
                filled = read_pieces(view, offset, partial, stream.source)
            else:
                filled = fill_partial(view, offset, partial, stream.source, self.baseline)
        except BaseException as exc:
            self.pool.put(buffer)
            if isinstance(exc, OSError):  # the readers raise SourceError; guard against a raw OS error too
                raise SourceUnavailableError(f"reading {stream.path} at offset {offset} failed: {exc}") from exc
            raise
        return view, buffer, filled


def chunks_to_read(streams: List[Stream]) -> Iterator[Tuple[int, int]]:
    """(stream, chunk number) of every chunk to read, in disk order."""
    for stream_no, stream in enumerate(streams):
        for number in numbers(stream.to_read):
            yield stream_no, number


def in_flight(workers: int, chunk_size: int) -> int:
    """How many chunks are read, hashed and compressed at once: the memory bound."""
    return max(workers + 1, min(workers * 6, IN_FLIGHT_BUDGET // chunk_size))


def buffer_pool(workers: int, chunk_size: int) -> BufferPool:
    """A buffer for every chunk in flight and the one being recorded (a job reuses its pools for all its VMs;
    each VM running at once has a pool of its own, so no VM's reads wait for another VM's results)."""
    return BufferPool(in_flight(workers, chunk_size) + 2, chunk_size)


def run_streams(work: ChunkWork, threads: Tuple[int, Optional[Executor]], stats: Stats, progress: Progress) -> None:
    """Push every chunk to read through the pipeline and record the results in the chunk lists.
    ``threads``: (workers, shared executor or None)."""
    workers, executor = threads
    streams = work.streams
    total = sum(s.chunks.size for s in streams)
    done = total - sum(s.chunks.bytes_of(s.to_read) for s in streams)
    window = in_flight(workers, work.pool.size)
    results = ordered_map(work.ahead(chunks_to_read(streams)), work, workers, window, executor=executor)
    try:
        for result in results:
            done += record_result(streams, result, work.session, stats)
            work.pool.put(result.buffer)  # the blob is in the pack now: the buffer can be read into again
            if progress is not None:
                progress(done, total)
    finally:
        results.close()  # on failure: no chunk work (nor read) left running when the store session aborts


def record_result(streams: List[Stream], result: ChunkResult, session: StoreSession, stats: Stats) -> int:
    """Store a worker's result in its chunk list (and a new blob in the pack); return the bytes covered."""
    stream, size = streams[result.stream_no], result.size
    chunks = stream.chunks
    stats.bytes_read += result.filled.source_bytes
    stats.bytes_read_baseline += result.filled.baseline_bytes
    record_fill(stream.incremental, result.number * chunks.chunk_size, result.filled)
    if result.pieces is not None:
        return record_patch(stream, result, session, stats)
    if result.chunk_id is None:
        chunks.set(result.number, KIND_ZERO)
        stats.bytes_zero += size
        return size
    chunks.set(result.number, KIND_DATA, result.chunk_id)
    if result.stored is not None and session.store(result.chunk_id, result.stored, size, result.flags):
        stats.chunks_new += 1
        stats.bytes_stored += len(result.stored)
    else:
        stats.chunks_reused += 1
        stats.bytes_deduplicated += size
    return size


def record_patch(stream: Stream, result: ChunkResult, session: StoreSession, stats: Stats) -> int:
    """Store a patched chunk's new pieces and record the chunk as its baseline content with them laid over it;
    the part of the chunk the pieces leave is carried from the baseline (deduplicated)."""
    extents = []
    for piece in result.pieces or ():
        extent = piece.extent
        extents.append(extent)
        if extent.blob is None:
            stats.bytes_zero += extent.length
        elif piece.stored is not None and session.store(extent.blob, piece.stored, extent.length, piece.flags):
            stats.chunks_new += 1
            stats.bytes_stored += len(piece.stored)
        else:
            stats.chunks_reused += 1
            stats.bytes_deduplicated += extent.length
    patch = stream.partial[result.number].patch(tuple(extents))
    carried = result.size - sum(extent.length for extent in extents)  # the rest of the chunk, as it was
    zero = result.size - patch.patched_bytes if patch.base is None else 0  # what no extent covers over zeros
    stats.bytes_zero += zero
    stats.bytes_deduplicated += carried - zero
    stream.chunks.set(result.number, KIND_PATCHED, patch=patch)
    return result.size


def patch_content_id(repo: Optional[Repository], digest: Digest) -> ContentId:
    """How an audit compares a patched baseline chunk: its content read back and hashed (None: all zero). One
    that cannot be read counts as changed: nothing proves it unchanged."""
    codec = Codec(0)

    def content_id(patch: Patch, length: int) -> Optional[bytes]:
        if repo is None:
            return UNREADABLE
        try:
            data = repo.load_content(patch, length, codec)
        except CorruptionError:
            return UNREADABLE
        return None if data == bytes(length) else digest(data)

    return content_id


def new_point_id() -> str:
    return datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S.%fZ") + "-" + os.urandom(4).hex()


def point_record(point_id: str, vm: str, streams: List[Stream], stats: Stats) -> dict:
    disks = [s.record(n) for n, s in enumerate(streams) if s.is_disk]
    files = [s.record(n) for n, s in enumerate(streams) if not s.is_disk]
    return {
        "id": point_id,
        "vm": vm,
        "time": datetime.now(timezone.utc).isoformat(),
        "format_version": FORMAT_VERSION,
        "host": socket.gethostname(),
        "disks": disks,
        "files": files,
        "stats": stats.to_dict(),
        # a file given changed ranges (a legacy .vhd) says why it was read whole, as a disk does
        "incremental": {s.name: s.incremental for s in streams if s.is_disk or "fallback_reason" in s.incremental},
    }


@dataclass
class BackupJob:
    """One backup run: plan every stream, push the chunks through the pipeline, commit, publish the point."""

    vm: str
    streams: List[Stream]
    codec: Codec
    changed_ranges: Optional[Ranges]
    progress: Progress
    workers: int
    check_mode: bool
    executor: Optional[Executor] = None  # a pool shared by the VMs of a job; None: one for this run
    buffers: Optional[BufferPool] = None  # chunk buffers shared by the VMs of a job (same chunk size)
    limits: StoreLimits = DEFAULT_LIMITS  # pack size and flush bound
    change_ids: Optional[ChangeIds] = None  # the RCT id of each disk, recorded in the restore point

    def run(self, repo: Optional[Repository], index: Index, digest: Digest) -> dict:
        """``repo`` None (check mode on a missing repository) or an opened, locked, indexed repository."""
        stats = Stats(bytes_logical=sum(s.chunks.size for s in self.streams))
        baseline = self._baseline(repo)
        for stream in self.streams:
            stream.change_id = for_stream(stream, self.change_ids) if stream.is_disk else None
            plan_stream(stream, baseline, index, for_stream(stream, self.changed_ranges), stats)
        session = StoreSession(None if self.check_mode else repo, index, self.limits)
        sealer = repo.sealer if repo is not None else None
        pool = self.buffers or buffer_pool(self.workers, self.streams[0].chunks.chunk_size)
        baseline_chunks = BaselineChunks(repo) if repo is not None else None
        work = ChunkWork(digest, self.codec, sealer, session, self.streams, pool, baseline_chunks)
        point_id = None if self.check_mode else new_point_id()
        try:
            run_streams(work, (self.workers, self.executor), stats, self.progress)
            record_audits(self.streams, patch_content_id(repo, digest))
            stats.stop()
            point = point_record(point_id or "check-mode", self.vm, self.streams, stats)
            if repo is not None and not self.check_mode:
                session.commit()
                repo.write_point(point, encode_chunk_lists([s.chunks for s in self.streams]))
        except BaseException:
            session.abort()
            raise
        return {
            "changed": not self.check_mode,
            "restore_point": point_id,
            "stats": stats.to_dict(),
            "disks": point["disks"],
            "files": point["files"],
            "incremental": point["incremental"],
        }

    def _baseline(self, repo: Optional[Repository]) -> Optional[Baseline]:
        """The VM's latest restore point, when changed ranges may let it spare reads."""
        # a damaged record is passed over, as baselines passes it over: both name the same newest readable point
        previous = latest_point(repo, self.vm, {}) if repo is not None and self.changed_ranges else None
        return Baseline.of(previous, chunk_lists(repo, previous) if repo is not None and previous else [])
