"""Backup of one VM: plan each disk and file, run the chunk pipeline, commit, publish the restore point.

The calling thread reads chunks in disk order (ZERO/UNALLOCATED chunks are never read); worker threads
check for zeros, hash, look the id up, and compress + seal only new chunks; the calling thread appends
new blobs to the pack. See pipeline.py for the memory bound and store.py for the commit order.
"""

from __future__ import annotations

import os
import socket
from concurrent.futures import Executor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Callable, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple

from ansible_collections.backup.hyperv.plugins.module_utils.datamover.blob import encode_blob
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.catalog import chunk_lists, latest_point
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.compress import Codec
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.constants import (
    FORMAT_VERSION,
    KIND_DATA,
    KIND_ZERO,
)
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.crypto import Sealer
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.errors import SourceUnavailableError
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.hashing import Digest
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.index import Index
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.pipeline import BufferPool, ordered_map
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.plan import (
    baseline_problem,
    changed_mask,
    chunk_kinds,
    plan_reads,
)
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.snapshot import ChunkList, encode_chunk_lists
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.stats import Stats
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store import StoreSession

Progress = Optional[Callable[[int, int], None]]
IN_FLIGHT_BUDGET = 48 << 20  # bytes of chunks being hashed/compressed at once (bounds peak memory)


@dataclass
class Stream:
    """One disk or VM file being backed up."""

    name: str
    path: str
    source: object  # DiskSource or OpaqueFile
    is_disk: bool
    chunks: ChunkList
    to_read: bytearray = field(default_factory=bytearray)
    incremental: dict = field(default_factory=dict)

    def record(self, number: int) -> dict:
        src = self.source
        if not self.is_disk:
            return {
                "name": self.name,
                "source": self.path,
                "size": self.chunks.size,
                "chunk_size": self.chunks.chunk_size,
                "stream": number,
            }
        return {
            "name": self.name,
            "source": self.path,
            "format": getattr(src, "format", "raw"),
            "virtual_size": self.chunks.size,
            "logical_sector_size": getattr(src, "logical_sector_size", 512),
            "physical_sector_size": getattr(src, "physical_sector_size", 512),
            "block_size": getattr(src, "block_size", self.chunks.chunk_size),
            "chunk_size": self.chunks.chunk_size,
            "stream": number,
        }


def ranges_for(stream: Stream, changed_ranges: Optional[Mapping[str, Sequence[Tuple[int, int]]]]) -> Optional[list]:
    """The changed ranges given for this disk: keyed by its path as given, the same file by another
    spelling of its path (relative, absolute, through symlinks), or its file name."""
    if not changed_ranges:
        return None
    for key in (stream.path, stream.name):
        if key in changed_ranges:
            return list(changed_ranges[key])
    wanted = os.path.realpath(stream.path)
    for key, ranges in changed_ranges.items():
        if os.path.realpath(key) == wanted:
            return list(ranges)
    return None


def plan_stream(stream: Stream, baseline: Optional[dict], index: Index, ranges: Optional[list], stats: Stats) -> None:
    """Decide what to read for ``stream``; note in ``stream.incremental`` how and why."""
    chunks = stream.chunks
    kinds = chunk_kinds(stream.source.extents(), chunks.size, chunks.chunk_size)
    base_chunks, mask, mode, reason = None, None, "full", None
    if ranges is not None and stream.is_disk:
        if baseline is None:
            reason = "no previous restore point of this VM: full read"
        else:
            base_chunks = baseline["streams"].get(stream.name)
            problem = baseline_problem(base_chunks, chunks.size, chunks.chunk_size, index)
            if problem is None:
                mask, mode = changed_mask(ranges, chunks.size, chunks.chunk_size), "changed_ranges"
            else:
                base_chunks, reason = None, f"{problem}: full read"
    stream.to_read = plan_reads(chunks, kinds, base_chunks, mask)
    stream.incremental = {"mode": mode, "baseline": baseline["id"] if mode != "full" else None}
    if reason:
        stream.incremental["fallback_reason"] = reason
    # after planning, DATA entries are exactly the chunks carried over; every other chunk not read is empty
    carried = chunks.covered_bytes(chunks.kinds, KIND_DATA)
    stats.chunks_reused += chunks.kinds.count(KIND_DATA)
    stats.bytes_deduplicated += carried
    stats.bytes_zero += chunks.size - carried - chunks.covered_bytes(stream.to_read, 1)


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

    def __call__(self, item: Tuple[int, int]) -> tuple:
        stream_no, number = item
        data, buffer = self._read(stream_no, number)
        size = len(data)
        # bytearray == bytes is a memcmp; a memoryview comparison would go item by item
        if buffer == self.pool.zero if size == self.pool.size else bytes(data) == bytes(size):
            return stream_no, number, size, None, None, 0, buffer
        chunk_id = self.digest(data)
        if self.session.known(chunk_id):  # dedup before compressing: known chunks cost a hash only
            return stream_no, number, size, chunk_id, None, 0, buffer
        stored, flags = encode_blob(data, chunk_id, self.codec, self.sealer)
        return stream_no, number, size, chunk_id, stored, flags, buffer

    def _read(self, stream_no: int, number: int) -> Tuple[memoryview, bytearray]:
        stream = self.streams[stream_no]
        offset, length = stream.chunks.chunk_range(number)
        buffer = self.pool.get()
        view = memoryview(buffer)[:length]
        try:
            read_into(stream.source, offset, view)
        except BaseException as exc:
            self.pool.put(buffer)
            if isinstance(exc, OSError):  # the readers raise SourceError; guard against a raw OS error too
                raise SourceUnavailableError(f"reading {stream.path} at offset {offset} failed: {exc}") from exc
            raise
        return view, buffer


def read_into(source: object, offset: int, view: memoryview) -> None:
    """Fill ``view`` from ``source`` without an intermediate copy when the source supports readinto."""
    readinto = getattr(source, "readinto", None)
    if readinto is not None:
        readinto(offset, view)
    else:
        view[:] = source.read(offset, len(view))


def chunks_to_read(streams: List[Stream]) -> Iterator[Tuple[int, int]]:
    """(stream, chunk number) of every chunk to read, in disk order."""
    for stream_no, stream in enumerate(streams):
        for number in stream.chunks.numbers(stream.to_read, 1):
            yield stream_no, number


def in_flight(workers: int, chunk_size: int) -> int:
    """How many chunks are read, hashed and compressed at once: the memory bound."""
    return max(workers + 1, min(workers * 6, IN_FLIGHT_BUDGET // chunk_size))


def buffer_pool(workers: int, chunk_size: int) -> BufferPool:
    """A buffer for every chunk in flight and the one being recorded (a job reuses one pool for all its VMs)."""
    return BufferPool(in_flight(workers, chunk_size) + 2, chunk_size)


def run_streams(work: ChunkWork, threads: Tuple[int, Optional[Executor]], stats: Stats, progress: Progress) -> None:
    """Push every chunk to read through the pipeline and record the results in the chunk lists.
    ``threads``: (workers, shared executor or None)."""
    workers, executor = threads
    streams = work.streams
    total = sum(s.chunks.size for s in streams)
    done = total - sum(s.chunks.covered_bytes(s.to_read, 1) for s in streams)
    window = in_flight(workers, work.pool.size)
    results = ordered_map(chunks_to_read(streams), work, workers, window, executor=executor)
    try:
        for result in results:
            done += record_result(streams, result, work.session, stats)
            work.pool.put(result[-1])  # the blob is in the pack now: the buffer can be read into again
            if progress is not None:
                progress(done, total)
    finally:
        results.close()  # on failure: no chunk work (nor read) left running when the store session aborts


def record_result(streams: List[Stream], result: tuple, session: StoreSession, stats: Stats) -> int:
    """Store a worker's result in its chunk list (and a new blob in the pack); return the bytes covered."""
    stream_no, number, size, chunk_id, stored, flags, _ignored = result
    chunks = streams[stream_no].chunks
    stats.bytes_read += size
    if chunk_id is None:
        chunks.set(number, KIND_ZERO)
        stats.bytes_zero += size
        return size
    chunks.set(number, KIND_DATA, chunk_id)
    if stored is not None and session.store(chunk_id, stored, size, flags):
        stats.chunks_new += 1
        stats.bytes_stored += len(stored)
    else:
        stats.chunks_reused += 1
        stats.bytes_deduplicated += size
    return size


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
        "incremental": {s.name: s.incremental for s in streams if s.is_disk},
    }


def baseline_view(point: Optional[dict], chunk_lists: List[ChunkList]) -> Optional[dict]:
    """The previous restore point as {"id", "streams": {disk name: ChunkList}}."""
    if point is None:
        return None
    streams: Dict[str, ChunkList] = {d["name"]: chunk_lists[d["stream"]] for d in point["disks"]}
    return {"id": point["id"], "streams": streams}


@dataclass
class BackupJob:
    """One backup run: plan every stream, push the chunks through the pipeline, commit, publish the point."""

    vm: str
    streams: List[Stream]
    codec: Codec
    changed_ranges: Optional[Mapping[str, Sequence[Tuple[int, int]]]]
    progress: Progress
    workers: int
    check_mode: bool
    executor: Optional[Executor] = None  # a pool shared by the VMs of a job; None: one for this run
    buffers: Optional[BufferPool] = None  # chunk buffers shared by the VMs of a job (same chunk size)

    def run(self, repo: Optional[object], index: Index, digest: Digest) -> dict:
        """``repo`` None (check mode on a missing repository) or an opened, locked, indexed repository."""
        stats = Stats(bytes_logical=sum(s.chunks.size for s in self.streams))
        previous = latest_point(repo, self.vm) if repo is not None and self.changed_ranges else None
        baseline = baseline_view(previous, chunk_lists(repo, previous) if previous else [])
        for stream in self.streams:
            plan_stream(stream, baseline, index, ranges_for(stream, self.changed_ranges), stats)
        session = StoreSession(None if self.check_mode else repo, index)
        sealer = repo.sealer if repo is not None else None
        pool = self.buffers or buffer_pool(self.workers, self.streams[0].chunks.chunk_size)
        work = ChunkWork(digest, self.codec, sealer, session, self.streams, pool)
        point_id = None if self.check_mode else new_point_id()
        try:
            run_streams(work, (self.workers, self.executor), stats, self.progress)
            stats.stop()
            point = point_record(point_id or "check-mode", self.vm, self.streams, stats)
            if not self.check_mode:
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
