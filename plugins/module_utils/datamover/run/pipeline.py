"""Parallel chunk processing with bounded memory.

The calling thread names the work items (which chunk), a pool of worker threads turns each item into a
result (read, hash, compress, encrypt; or read, decrypt, decompress, verify), and the calling thread
consumes results in order (it appends to the pack or writes the output). Workers read for themselves, so
reads overlap one another and the hashing with no thread handing data to another on the way. At most
``window`` items are in flight, so peak memory is about ``window`` chunks whatever the disk size. The C
libraries doing the work (blake3, hashlib, zstandard, cryptography) release the GIL, so threads scale.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import queue
import sys
import threading
from collections import deque
from concurrent.futures import Executor, Future, ThreadPoolExecutor, wait
from typing import Callable, Deque, Iterable, Iterator, Optional, TypeVar

T = TypeVar("T")
R = TypeVar("R")


# glibc mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3


def keep_freed_buffers() -> bool:
    """Ask glibc to keep freed chunk-sized blocks in the process instead of returning each to the kernel.

    By default every ~1 MiB compression or encryption output is mmap'd or trimmed away when freed, and the
    next chunk faults fresh zeroed pages in: about 100,000 page faults per 3 GB backed up. Peak memory does
    not change (the chunks in flight bound it). A process-wide setting, so only entry points call it (the
    command line, the benchmark's machine limit). Returns False where it does not apply (not glibc).
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # a C library without mallopt (musl)
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(_M_MMAP_THRESHOLD, 32 << 20) and mallopt(_M_TRIM_THRESHOLD, 128 << 20))


def default_workers(workers: Optional[int]) -> int:
    return max(1, workers or os.cpu_count() or 1)


def ordered_map(
    items: Iterable[T],
    work: Callable[[T], R],
    workers: int,
    window: Optional[int] = None,
    executor: Optional[Executor] = None,
) -> Iterator[R]:
    """Yield ``work(item)`` for each item, in input order, computing up to ``window`` of them in parallel.

    ``executor``: a pool that outlives this call (a job reuses one for every VM); by default a pool is made
    for the call. Either way, when the consumer stops early no work of this call is left running.
    """
    window = window or max(8, workers * 6)  # slack so one slow chunk does not idle the other workers
    if workers <= 1:
        for item in items:
            yield work(item)
        return
    with contextlib.ExitStack() as stack:
        if executor is None:
            executor = stack.enter_context(ThreadPoolExecutor(max_workers=workers, thread_name_prefix="datamover"))
        pending: Deque[Future] = deque()
        try:
            for item in items:
                pending.append(executor.submit(work, item))
                if len(pending) >= window:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            for future in pending:
                future.cancel()
            wait(pending)  # a shared pool keeps running: let this call's started items end first


def worker_pool(workers: int) -> ThreadPoolExecutor:
    """A pool for ``ordered_map`` that several calls share (shut it down when done)."""
    return ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="datamover")


class BufferPool:
    """A bounded set of reusable chunk buffers: reading into them saves an allocation and a copy per chunk,
    and taking one blocks while all ``count`` are in use, which bounds memory. Buffers are made on first
    need, so a small incremental backup does not pay for zeroing buffers it never uses."""

    def __init__(self, count: int, size: int) -> None:
        self.size = size
        self.zero = bytes(size)  # a whole buffer compared with this is a memcmp: the all-zero chunk test
        self._free: queue.Queue[bytearray] = queue.Queue()
        self._unmade = count
        self._lock = threading.Lock()

    def get(self) -> bytearray:
        with contextlib.suppress(queue.Empty):
            return self._free.get_nowait()
        with self._lock:
            if self._unmade > 0:
                self._unmade -= 1
                return bytearray(self.size)
        return self._free.get()

    def put(self, buffer: bytearray) -> None:
        self._free.put(buffer)
