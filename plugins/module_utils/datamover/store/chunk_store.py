"""The write side of one backup: appends new chunks to packs and commits them (packs, then an index file).

The disk never makes the caller wait while there is room: new blobs are appended to the pack on a thread
of their own (append_queue.py, up to ``StoreLimits.queued_bytes`` waiting), and a full pack is made durable
(fsync, rename, directory fsync) on another, so writes and fsyncs overlap with hashing and compressing the
next chunks. A chunk stays "pending" (known for dedup) from ``store`` until its pack is durable. ``commit``
waits for every blob and pack before writing the index file, keeping the commit order.

The shared in-memory index (a job keeps one for all its VMs) learns a session's packs only at ``commit``,
once its index file is durable: until then they are the session's own (``known`` still finds their chunks
for this session). So a VM backed up at the same time as others (a job's ``slots``) never deduplicates
against another VM's packs that an abort could still delete. Commits of sessions running at once take
turns (the repository's ``commit_lock``): the index and the repository's unindexed packs change under it.

On failure ``abort`` drops the unfinished pack and deletes the packs this session finished (no index,
restore point or other session names them yet), so the repository and the shared index are left as they
were. A crash instead of an abort leaves finished packs behind, which the next writer indexes and reuses; so
does an abort after the session's writer lost its lock (the next writer may be indexing them already).
"""

from __future__ import annotations

import contextlib
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Deque, Dict, Iterable, List, Optional, Tuple

from ansible_collections.backup.hyperv.plugins.module_utils.datamover.base.diskio import PACK_STAGE_SIZE
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.base.fsutil import remove_quietly
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.base.protocol import Protocol
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.append_queue import AppendQueue
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.constants import (
    INDEX_DIR,
    MAX_PACKS_IN_FLUSH,
    PACK_TARGET_SIZE,
)
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.index import Index
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.pack import PackEntry, PackWriter
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.repository import Repository


@dataclass(frozen=True)
class StoreLimits:
    """How large a pack grows before it is closed, how many closed packs are flushed at once (more wait:
    this bounds the dirty data, not the memory), and how many bytes of new blobs may wait for their append
    (the memory the overlap costs: four direct writes' worth). Tests pass small ones to get many packs from a
    small disk."""

    pack_target: int = PACK_TARGET_SIZE
    packs_in_flush: int = MAX_PACKS_IN_FLUSH
    queued_bytes: int = 4 * PACK_STAGE_SIZE


DEFAULT_LIMITS = StoreLimits()  # frozen, so one instance serves as every default


class ChunkIndex(Protocol):
    """What a store session needs of an index: the repository's `Index`, or prune's index of the repacked."""

    def __contains__(self, chunk_id: bytes) -> bool:
        """True when the chunk is stored in an indexed pack."""

    def add_pack(self, pack_id: bytes, entries: Iterable[PackEntry]) -> None:
        """Index a pack made durable and named by a durable index file."""


class StoreSession:
    """Dedup-aware chunk store; ``repository`` None means check mode (count, write nothing)."""

    def __init__(
        self, repository: Optional[Repository], index: ChunkIndex, limits: StoreLimits = DEFAULT_LIMITS
    ) -> None:
        self.repository = repository
        self.index = index
        self.limits = limits
        self._pending: Dict[bytes, None] = {}  # chunks written but not yet durable (check mode: "would store")
        self._writer: Optional[PackWriter] = None
        self._flushing: Deque[Tuple[PackWriter, Future]] = deque()
        self._flusher: Optional[ThreadPoolExecutor] = None
        self.finished: Dict[bytes, List[PackEntry]] = {}
        self._finished_index = Index()  # the chunks of ``finished``: durable packs no index file names yet
        self._appends = AppendQueue(self._append, limits.queued_bytes, PACK_STAGE_SIZE, "datamover-append")

    def known(self, chunk_id: bytes) -> bool:
        """True when the chunk is stored already or queued in this session (safe from worker threads)."""
        return chunk_id in self.index or chunk_id in self._pending or chunk_id in self._finished_index

    def store(self, chunk_id: bytes, stored: bytes, raw_length: int, flags: int) -> bool:
        """Append a new chunk; False if it turned out to be known (two workers met the same new chunk)."""
        if self.known(chunk_id):
            return False
        self._pending[chunk_id] = None
        if self.repository is not None:
            # A blob stored as read (incompressible, unencrypted) is a view of the caller's read buffer, which
            # the caller reuses once this returns: the append, later, needs bytes of its own.
            blob = stored if isinstance(stored, bytes) else bytes(stored)
            self._appends.put((chunk_id, blob, raw_length, flags), len(blob))
        return True

    def _append(self, blob: Tuple[bytes, bytes, int, int]) -> None:
        """Add a blob to the open pack, closing the pack once full (on the append thread)."""
        if self._writer is None:
            self._writer = self.repository.new_pack_writer()
        self._writer.add(*blob)
        if self._writer.size >= self.limits.pack_target:
            self._finish_pack()

    def _finish_pack(self) -> None:
        writer, self._writer = self._writer, None
        if self._flusher is None:
            self._flusher = ThreadPoolExecutor(max_workers=1, thread_name_prefix="datamover-flush")
        self._flushing.append((writer, self._flusher.submit(writer.finish)))
        self._collect(wait_for=len(self._flushing) - self.limits.packs_in_flush)

    def _collect(self, wait_for: int = 0) -> None:
        """Index packs whose flush is done; wait for the oldest ``wait_for`` ones. Re-raises flush errors."""
        while self._flushing and (wait_for > 0 or self._flushing[0][1].done()):
            writer, future = self._flushing.popleft()
            entries = future.result()
            self.finished[writer.pack_id] = entries
            self._finished_index.add_pack(writer.pack_id, entries)
            for entry in entries:
                self._pending.pop(entry.chunk_id, None)
            wait_for -= 1

    def commit(self) -> None:
        """Make everything durable and indexed: the last pack, then one index file for the session's packs
        and for packs an interrupted run left unindexed."""
        if self.repository is None:
            return
        self._appends.drain()  # the append thread is idle from here on: this thread finishes the last pack
        if self._writer is not None and len(self._writer):
            self._finish_pack()
        elif self._writer is not None:
            self._writer.abort()
            self._writer = None
        self._collect(wait_for=len(self._flushing))
        self._stop_flusher()
        with self.repository.commit_lock:
            self._publish_index()
        self.finished = {}  # indexed now: an abort after this point must not delete them
        self._finished_index = Index()

    def _publish_index(self) -> None:
        """One index file for the session's packs and those an interrupted run left unindexed; then, and only
        then, the shared index names them (so no other session dedups against packs an abort may delete)."""
        repository = self.repository
        to_index = dict(repository.unindexed)
        to_index.update(self.finished)
        if not to_index:
            return
        repository.write_index(to_index)
        repository.unindexed.clear()
        for name in repository.damaged_index_files:  # their packs were unindexed, so now indexed anew
            repository.remove(INDEX_DIR, name)
        repository.damaged_index_files.clear()
        for pack_id, entries in self.finished.items():
            self.index.add_pack(pack_id, entries)

    def abort(self) -> None:
        """Undo what this session wrote (nothing durable names it yet)."""
        self._appends.close()  # after the blob being appended, if any: nothing else touches the pack from here
        if self._writer is not None:
            self._writer.abort()
            self._writer = None
        while self._flushing:
            writer, future = self._flushing.popleft()
            with contextlib.suppress(Exception):
                self.finished[writer.pack_id] = future.result()
            writer.abort()
        self._stop_flusher()
        # a run that lost its lock leaves them, as a crashed one does
        if self.repository is not None and self.repository.holds_lock():
            for pack_id in self.finished:
                remove_quietly(self.repository.pack_path(pack_id))
        self.finished.clear()
        self._finished_index = Index()
        self._pending.clear()

    def _stop_flusher(self) -> None:
        self._appends.close()
        if self._flusher is not None:
            self._flusher.shutdown(wait=True)
            self._flusher = None
