"""The machine limit: how long both cores need for the unavoidable work of a full backup, and nothing else.

That work is: look at every allocated chunk (1 MiB) of every disk, skip the all-zero ones, hash the rest
with BLAKE3, and zstd-compress each distinct chunk once (same level as the data mover's default). Reading is
done beforehand, in batches, and not timed; there is no storing, encryption or bookkeeping. The data mover
reaching a large share of this rate means its own overhead is small.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import blake3
import zstandard

import tools

tools.use_collection()
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.disk.extents import ExtentKind  # noqa: E402
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.run.opener import open_disk  # noqa: E402
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.run.pipeline import (  # noqa: E402
    keep_freed_buffers,
)
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.constants import (  # noqa: E402
    COMPRESSION_LEVELS,
    DEFAULT_CHUNK_SIZE,
)

BATCH = 128  # chunks read per batch (128 MiB): large enough to keep both cores busy
ZERO = bytes(DEFAULT_CHUNK_SIZE)


def data_chunks(path: str):  # noqa: ANN201 - generator of chunk bytes
    """Every chunk-grid chunk of the disk that touches a DATA extent, in disk order."""
    with open_disk(path) as disk:
        wanted = set()
        for extent in disk.extents():
            if extent.kind is ExtentKind.DATA:
                wanted.update(range(extent.offset // DEFAULT_CHUNK_SIZE, (extent.end - 1) // DEFAULT_CHUNK_SIZE + 1))
        for number in sorted(wanted):
            offset = number * DEFAULT_CHUNK_SIZE
            yield disk.read(offset, min(DEFAULT_CHUNK_SIZE, disk.virtual_size - offset))


def allocated_bytes(paths: list) -> int:
    """Bytes of the chunks a block-level reader must look at (the denominator of every MB/s figure)."""
    total = 0
    for path in paths:
        with open_disk(path) as disk:
            total += sum(e.length for e in disk.extents() if e.kind is ExtentKind.DATA)
    return total


class _Worker:
    def __init__(self, level: int) -> None:
        self.level, self.seen, self.lock, self.local = level, set(), threading.Lock(), threading.local()
        self.stored = 0

    def __call__(self, chunk: bytes) -> None:
        if len(chunk) == len(ZERO) and chunk == ZERO:
            return
        digest = blake3.blake3(chunk).digest()
        with self.lock:
            if digest in self.seen:
                return
            self.seen.add(digest)
        compressor = getattr(self.local, "compressor", None) or zstandard.ZstdCompressor(level=self.level)
        self.local.compressor = compressor
        size = len(compressor.compress(chunk))
        with self.lock:
            self.stored += size


def measure(paths: list, workers: int = 2, compression: str = "default") -> dict:
    """Seconds both cores need for the paths' chunks (timed only while hashing and compressing)."""
    keep_freed_buffers()  # the allocator setting the data mover's command line uses: same conditions
    work = _Worker(COMPRESSION_LEVELS[compression])
    seconds, cpu, chunks = 0.0, 0.0, 0
    with ThreadPoolExecutor(workers) as pool:
        for path in paths:
            batch: list = []
            for chunk in data_chunks(path):
                batch.append(chunk)
                if len(batch) == BATCH:
                    wall, used = _timed(pool, work, batch)
                    seconds, cpu, chunks, batch = seconds + wall, cpu + used, chunks + len(batch), []
            wall, used = _timed(pool, work, batch)
            seconds, cpu, chunks = seconds + wall, cpu + used, chunks + len(batch)
    return {"seconds": seconds, "cpu": cpu, "chunks": chunks, "compressed_bytes": work.stored, "workers": workers}


def _timed(pool: ThreadPoolExecutor, work: _Worker, batch: list) -> tuple:
    """(wall seconds, CPU seconds of this process) spent on one batch."""
    started, cpu = time.perf_counter(), time.process_time()
    list(pool.map(work, batch))
    return time.perf_counter() - started, time.process_time() - cpu
