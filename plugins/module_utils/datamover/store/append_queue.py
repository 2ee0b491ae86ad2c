"""A bounded queue whose items one thread of its own appends in order: the pack writes of a backup.

Appending a blob to a pack writes to the disk (direct I/O, see base/diskio.py), and closing a full pack
waits for an fsync. On the thread that records the workers' results, each of those waits stopped the
whole pipeline once the workers' window was full: on a proxy whose disk is shared with other writers they
were 7-10 % of that thread's time (bench/busy_profile.py). Here the recording thread only queues a blob
and goes on; it waits only while ``limit`` bytes are queued already (the bound on the extra memory).

The appending thread is woken once ``wake_bytes`` are queued (about one direct write's worth), not for
every blob: fewer context switches on a machine where each wake-up waits for a core. ``drain`` wakes it
for whatever is left. The first error of an append is kept and raised to the queuing thread by its next
``put`` or ``drain``; items queued after it are dropped, never appended.
"""

from __future__ import annotations

import threading
from collections import deque
from typing import Any, Callable, Deque, Optional, Tuple


class AppendQueue:
    """``put`` items for ``append`` to run on a thread of its own, in order, ``limit`` bytes at most queued."""

    def __init__(self, append: Callable[[Any], None], limit: int, wake_bytes: int, name: str) -> None:
        self._append, self._limit, self._wake_bytes, self._name = append, limit, wake_bytes, name
        self._items: Deque[Tuple[Any, int]] = deque()
        self._queued = 0  # bytes of the items queued or being appended
        self._draining = False  # a drain or close waits: append everything, however little
        self._closed = False
        self._error: Optional[BaseException] = None
        self._ready = threading.Condition()
        self._thread: Optional[threading.Thread] = None

    def put(self, item: Any, size: int) -> None:
        """Queue ``item`` (``size`` bytes of it); wait while the queue is full; raise an append's error."""
        with self._ready:
            while self._queued and self._queued + size > self._limit and self._error is None:
                self._draining = True  # full: the appender must not wait for more before it starts
                self._ready.notify_all()
                self._ready.wait()
            self._draining = False
            self._raise_error()
            self._items.append((item, size))
            self._queued += size
            if self._queued >= self._wake_bytes:
                self._ready.notify_all()
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
            self._thread.start()

    def drain(self) -> None:
        """Wait until every queued item is appended; raise the first append error."""
        with self._ready:
            self._draining = True
            self._ready.notify_all()
            while self._queued and self._error is None:
                self._ready.wait()
            self._draining = False
            self._raise_error()

    def close(self) -> None:
        """Stop the thread after the item it is appending and drop the rest, errors included (idempotent); a
        later ``put`` starts afresh (a store session goes on after its commit)."""
        with self._ready:
            self._closed = True
            self._items.clear()
            self._ready.notify_all()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        self._queued, self._error, self._closed, self._draining = 0, None, False, False

    def _raise_error(self) -> None:
        if self._error is not None:
            raise self._error

    def _next(self) -> Optional[Tuple[Any, int]]:
        """The next item to append, waiting for enough of them; None once closed."""
        with self._ready:
            while not self._closed and (not self._items or (self._queued < self._wake_bytes and not self._draining)):
                self._ready.wait()
            return None if self._closed else self._items[0]

    def _run(self) -> None:
        while True:
            item = self._next()
            if item is None:
                return
            error = None
            try:
                self._append(item[0])
            except BaseException as exc:  # raised to the queuing thread, which aborts the backup
                error = exc
            with self._ready:
                if self._items and self._items[0] is item:
                    self._items.popleft()
                self._queued -= item[1]
                if error is not None and self._error is None:
                    self._error = error
                    self._queued -= sum(size for _item, size in self._items)
                    self._items.clear()
                self._ready.notify_all()
