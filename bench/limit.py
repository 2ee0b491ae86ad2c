"""The machine limit: how long both cores need for the unavoidable work of a full backup, and nothing else.

It is meant as the ceiling of a full backup, so it does everything a full backup cannot skip up to the
point of storing: read every allocated chunk (1 MiB) of every disk through the data mover's own disk reader
(from the page cache, warm as for every tool), skip the all-zero ones, hash the rest with BLAKE3,
zstd-compress each distinct chunk once (the data mover's default level) and seal it with AES-256-GCM (the
data mover's Sealer, as its default repository encryption does). The reading overlaps with the other work,
as the data mover's does. Left out, because a ceiling must not depend on the disk the repository sits on:
writing packs, making them durable, and the index and restore point. The data mover reaching a large share
of this rate means its own overhead (pipeline, bookkeeping, writes) is small.
"""

from __future__ import annotations

import os
import threading
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor

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
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.crypto import Sealer  # noqa: E402

# What the limit's time covers, printed under the table and written to the JSON record.
INCLUDES = "read (warm page cache), zero check, BLAKE3, zstd once per distinct chunk, AES-256-GCM; no writes"
STEP = "read+hash+zstd+AES"  # its row in the table
CIPHER = "aes-256-gcm"  # the data mover's default encryption
IN_FLIGHT_PER_WORKER = 4  # chunks read ahead per worker: enough to keep both cores busy, 8 MiB of memory
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
    """Everything done to one chunk after it is read: zero check, hash, compress and seal if not seen yet."""

    def __init__(self, level: int) -> None:
        self.level, self.seen, self.lock, self.local = level, set(), threading.Lock(), threading.local()
        self.sealer = Sealer(CIPHER, os.urandom(32))
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
        size = len(self.sealer.seal(compressor.compress(chunk), digest))
        with self.lock:
            self.stored += size


def measure(paths: list, workers: int = 2, compression: str = "default") -> dict:
    """Wall and CPU seconds of one pass over the paths' chunks: reading, hashing, compressing, sealing."""
    keep_freed_buffers()  # the allocator setting the data mover's command line uses: same conditions
    work = _Worker(COMPRESSION_LEVELS[compression])
    started, cpu, chunks = time.perf_counter(), time.process_time(), 0
    with ThreadPoolExecutor(workers) as pool:
        pending: deque[Future] = deque()
        for path in paths:
            for chunk in data_chunks(path):
                pending.append(pool.submit(work, chunk))
                chunks += 1
                if len(pending) >= IN_FLIGHT_PER_WORKER * workers:
                    pending.popleft().result()
        for future in pending:
            future.result()
    seconds, used = time.perf_counter() - started, time.process_time() - cpu
    return {"seconds": seconds, "cpu": used, "chunks": chunks, "sealed_bytes": work.stored, "workers": workers}
