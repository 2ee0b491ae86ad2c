"""Parallel chunk processing with bounded memory.

The calling thread produces work items (it does the sequential reading of the source), a pool of worker
threads turns each item into a result (hash, compress, encrypt; or read, decrypt, decompress, verify),
and the calling thread consumes results in order (it appends to the pack or writes the output). At most
``window`` items are in flight, so peak memory is about ``window`` chunks whatever the disk size. The C
libraries doing the work (blake3, hashlib, zstandard, cryptography) release the GIL, so threads scale.
"""

from __future__ import annotations

import contextlib
import os
import queue
import threading
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Deque, Iterable, Iterator, Optional, TypeVar

T = TypeVar("T")
R = TypeVar("R")


def default_workers(workers: Optional[int]) -> int:
    return max(1, workers or os.cpu_count() or 1)


def ordered_map(items: Iterable[T], work: Callable[[T], R], workers: int, window: Optional[int] = None) -> Iterator[R]:
    """Yield ``work(item)`` for each item, in input order, computing up to ``window`` of them in parallel."""
    window = window or max(8, workers * 6)  # slack so one slow chunk does not idle the other workers
    if workers <= 1:
        for item in items:
            yield work(item)
        return
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="datamover") as pool:
        pending: Deque = deque()
        try:
            for item in items:
                pending.append(pool.submit(work, item))
                if len(pending) >= window:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            for future in pending:
                future.cancel()


_DONE = object()


def prefetch(items: Iterable[T], depth: int) -> Iterator[T]:
    """Produce ``items`` on a background thread, at most ``depth`` ahead of the consumer.

    The backup reads its source this way, so a slow disk read overlaps with the pack writes and fsyncs of
    the calling thread. An exception of the producer is re-raised in the consumer.
    """
    slots: queue.Queue = queue.Queue(maxsize=max(1, depth))
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        slots.put((item, None), timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            slots.put((_DONE, None))
        except BaseException as exc:  # handed to the consumer, which re-raises it
            slots.put((_DONE, exc))

    thread = threading.Thread(target=produce, name="datamover-reader", daemon=True)
    thread.start()
    try:
        while True:
            item, error = slots.get()
            if item is _DONE:
                if error is not None:
                    raise error
                return
            yield item
    finally:
        stop.set()
        while thread.is_alive():  # unblock a producer waiting on a full queue, then let it end
            with contextlib.suppress(queue.Empty):
                slots.get(timeout=0.1)
        thread.join()


class BufferPool:
    """A fixed set of reusable chunk buffers: reading into them saves an allocation and a copy per chunk,
    and taking one blocks while all are in use, which bounds memory."""

    def __init__(self, count: int, size: int) -> None:
        self._free: queue.Queue[bytearray] = queue.Queue()
        for _ignored in range(count):
            self._free.put(bytearray(size))

    def get(self) -> bytearray:
        return self._free.get()

    def put(self, buffer: bytearray) -> None:
        self._free.put(buffer)
