"""A session: one opened repository serving several operations, as a job backing up many VMs needs.

Opening a repository costs a scrypt key unlock, a lock, loading the index and starting worker threads; a
session pays that once and then backs up, restores or verifies any number of VMs. It holds its lock until
``close``: exclusive for a writing session (so no other writer or reader slips in between two VMs of the
job), shared for a reading one. Each backup is still its own restore point with its own commit: a backup
that fails leaves no restore point and no data behind (see store/chunk_store.py), and the session stays usable.

Several backups of one writing session may run at once (a job's ``slots``, run/jobs.py), each on its own
thread with its own chunk store session and buffers, sharing the worker pool, the key and the index: what
is made on first need (the repository, the index, the pool) is made under the session's guard, and commits
take turns (store/chunk_store.py).

A writing session creates a missing repository at its first backup, after that backup's sources opened,
so a job whose sources are all missing writes nothing. A writing session that lost its lock (store/lock.py)
publishes nothing more: each later backup of the job fails at once with the same message.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Dict, List, Optional, Tuple

from ansible_collections.backup.hyperv.plugins.module_utils.datamover.base.errors import (
    DataMoverError,
    RepositoryExistsError,
)
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.disk.source import DiskOpener
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.run import backup as _backup
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.run.opener import open_disk
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.run.pipeline import (
    BufferPool,
    default_workers,
    worker_pool,
)
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.run.restore import restore_into
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.run.streams import close_streams, open_streams
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.run.values import (
    AS_CONFIGURED,
    DEFAULT_CHUNKING,
    BackupEntry,
    Chunking,
    NewRepository,
    RepositoryAccess,
    RestoreEntry,
)
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.run.verify import verify_in
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.chunk_store import (
    DEFAULT_LIMITS,
    StoreLimits,
)
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.compress import Codec, compression_level
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.constants import (
    CONFIG_FILE,
    MAX_CHUNK_SIZE,
    MIN_CHUNK_SIZE,
)
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.hashing import make_chunk_hasher
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.index import Index
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.layout import create_layout
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.lock import RepositoryLock
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.lock_holder import STALE_AFTER
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.repository import Repository

Progress = Optional[Callable[[int, int], None]]


def check_chunk_size(block_size: int) -> None:
    if not MIN_CHUNK_SIZE <= block_size <= MAX_CHUNK_SIZE or block_size & (block_size - 1):
        raise DataMoverError(
            f"block_size {block_size} is invalid: use a power of two from {MIN_CHUNK_SIZE} to {MAX_CHUNK_SIZE} bytes"
        )


class Session:
    """An opened (or, for a writer, about to be created) repository, as ``access`` says; a writer creates a
    missing one as ``new`` says. ``operation`` names the session's lock holder (backup when writing, else
    read unless given). Tests inject ``disk_opener``, ``limits`` (small packs) and ``stale_after`` (a lock
    that is lost in a moment)."""

    def __init__(
        self,
        access: RepositoryAccess,
        new: NewRepository = AS_CONFIGURED,
        *,
        write: bool = True,
        check_mode: bool = False,
        init: bool = True,
        disk_opener: Optional[DiskOpener] = None,
        operation: Optional[str] = None,
        limits: StoreLimits = DEFAULT_LIMITS,
        stale_after: float = STALE_AFTER,
    ) -> None:
        self.path = repository = access.path
        self.write, self.check_mode = write and not check_mode, check_mode
        self._holder = (operation or ("backup" if write else "read"), stale_after)  # the lock's operation, stale time
        self._limits = limits
        self.workers = default_workers(access.workers)
        self._passphrase, self._lock_timeout, self._init = access.passphrase, access.lock_timeout, init
        self._new = new
        self._opener = disk_opener or open_disk  # tests give their own opener
        self.repo: Optional[Repository] = None
        self._lock: Optional[RepositoryLock] = None
        self._indexed = False
        self._executor: Optional[ThreadPoolExecutor] = None
        self._buffers: Dict[int, List[BufferPool]] = {}  # free pools by chunk size, reused by the next backups
        self._guard = threading.Lock()  # what backups running at once make on first need, and the free pools
        exists = os.path.exists(os.path.join(repository, CONFIG_FILE))
        if exists or not write:  # a reader of a missing repository fails here, with the reason
            self._attach(Repository(repository, access.passphrase))

    # --- life cycle -------------------------------------------------------------------------------------------
    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop the workers, release the lock, close the pack files (idempotent)."""
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor: Optional[ThreadPoolExecutor] = None
        try:
            if self._lock is not None:
                self._lock.release()
                self._lock = None
        finally:
            if self.repo is not None:
                self.repo.close()

    def _attach(self, repo: Repository) -> None:
        """Lock ``repo`` for the rest of the session (exclusive when writing)."""
        operation, stale_after = self._holder
        lock = repo.lock(self.write, self._lock_timeout, operation, stale_after)
        try:
            lock.acquire()
            if self.write:
                repo.clean_tmp()  # leftovers of interrupted writers, now that no writer can be running
        except BaseException:
            lock.release()
            repo.close()
            raise
        self.repo, self._lock = repo, lock

    def _writable_repository(self) -> Optional[Repository]:
        """The repository a backup writes to; created now if missing. None: check mode, no repository yet."""
        if self.repo is None and not self.check_mode:
            if not self._init:
                raise DataMoverError(f"no repository at {self.path} and init is false")
            new = {"encryption": self._new.cipher, "hash_algorithm": self._new.hash, "kdf": self._new.kdf}
            try:
                _config, master = create_layout(
                    self.path, passphrase=self._passphrase, lock_timeout=self._lock_timeout, **new
                )
            except RepositoryExistsError:  # another writer made it meanwhile: back up into it, as it is
                master = None
            self._attach(Repository(self.path, self._passphrase, master=master))
        return self.repo

    def _index(self, repo: Repository) -> Index:
        """The in-memory index, loaded once; every backup of the session keeps it up to date."""
        if not self._indexed:
            repo.load_index()
            self._indexed = True
        return repo.index

    def _pool(self) -> Tuple[int, Optional[ThreadPoolExecutor]]:
        if self._executor is None and self.workers > 1:
            self._executor = worker_pool(self.workers)
        return self.workers, self._executor

    def _reader(self) -> Repository:
        if self.repo is None:
            raise DataMoverError(f"no repository at {self.path}")
        return self.repo

    # --- operations -------------------------------------------------------------------------------------------
    def backup(self, entry: BackupEntry, chunking: Chunking = DEFAULT_CHUNKING, progress: Progress = None) -> dict:
        """Back up ``entry`` (its ranges keyed by source) as a new restore point; in check mode estimate and write
        nothing. Safe to call from several threads at once."""
        vm, sources, block_size = entry.vm, entry.sources, chunking.block_size
        if not self.write and not self.check_mode:
            raise DataMoverError("this session was opened for reading: it cannot back up")
        if not vm:
            raise DataMoverError("a VM name is required")
        if not sources:
            raise DataMoverError("no sources given: name at least one disk or VM file")
        check_chunk_size(block_size)
        if self.write and self.repo is not None:
            self.repo.ensure_held()  # lost with an earlier VM of the job: fail before reading anything
        codec = Codec(compression_level(chunking.compression))
        streams = open_streams(sources, block_size, self._opener, entry.parents)
        try:
            with self._guard:
                repo = self._writable_repository()
                index = Index() if repo is None else self._index(repo)
                workers, executor = self._pool()
                buffers = self._take_buffers(block_size, workers)
            job = _backup.BackupJob(
                vm=vm,
                streams=streams,
                codec=codec,
                changed_ranges=entry.changed_ranges,
                change_ids=entry.change_ids,
                progress=progress,
                workers=workers,
                check_mode=self.check_mode,
                executor=executor,
                buffers=buffers,
                limits=self._limits,
            )
            # ``repo`` None: check mode against a repository that does not exist yet
            result = job.run(repo, index, make_chunk_hasher(self._new.hash) if repo is None else repo.digest)
            with self._guard:  # all returned: a failed run may have lost some, so not then
                self._buffers.setdefault(block_size, []).append(buffers)
            return result
        finally:
            close_streams(streams)

    def _take_buffers(self, block_size: int, workers: int) -> BufferPool:
        """A free pool of chunk buffers (under the guard); a backup running beside others gets one of its own."""
        free = self._buffers.get(block_size)
        return free.pop() if free else _backup.buffer_pool(workers, block_size)

    def restore(self, entry: RestoreEntry, progress: Progress = None) -> dict:
        """Write the disks and files of ``entry``'s restore point into its destination folder."""
        repo = self._reader()
        self._index(repo)
        workers, executor = self._pool()
        return restore_into(repo, entry, progress=progress, workers=workers, executor=executor)

    def verify(
        self, *, vm: Optional[str] = None, restore_point: Optional[str] = None, progress: Progress = None
    ) -> dict:
        """Check the structure and every chunk of the selected restore points (all by default)."""
        repo = self._reader()
        self._index(repo)  # first, so that packs an interrupted run left unindexed are still noted as such
        workers, executor = self._pool()
        return verify_in(
            repo, vm=vm, restore_point=restore_point, progress=progress, workers=workers, executor=executor
        )
