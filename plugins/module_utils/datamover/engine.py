"""Public entry points of the data mover: init, backup, restore, verify, list and prune a repository.

The Ansible module and the command line call only these functions. Each opens the repository, takes the
lock it needs (exclusive to write, shared to read), does its work and returns a plain dict.
"""

from __future__ import annotations

import contextlib
import os
from typing import Callable, List, Mapping, Optional, Sequence, Tuple

from ansible_collections.backup.hyperv.plugins.module_utils.datamover import backup as _backup
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.catalog import (
    points_by_vm,
)
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.compress import Codec, compression_level
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.constants import (
    CONFIG_FILE,
    MAX_CHUNK_SIZE,
    MIN_CHUNK_SIZE,
)
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.errors import DataMoverError
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.files import (
    OpaqueFile,
    default_disk_opener,
    is_disk,
    open_disk_checked,
)
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.hashing import make_chunk_hasher
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.index import Index
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.pipeline import default_workers
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.prune import prune
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.repository import Repository, init_layout
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.restore import restore
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.snapshot import (
    ChunkList,
    summary,
)
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.stats import Stats
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.verify import verify

__all__ = ["Stats", "backup", "init_repository", "list_restore_points", "prune", "restore", "verify"]

# Tests and the command line may replace this with another DiskSource factory.
open_disk: Optional[Callable] = None


def init_repository(
    repository: str,
    *,
    passphrase: Optional[str] = None,
    encryption: Optional[str] = None,
    hash_algorithm: str = "blake3",
) -> dict:
    config = init_layout(repository, passphrase=passphrase, encryption=encryption, hash_algorithm=hash_algorithm)
    return {"changed": True, "repository": repository, "config": config}


def list_restore_points(repository: str, *, vm: Optional[str] = None, passphrase: Optional[str] = None) -> dict:
    """Catalog of restore points; lock-free, since a record appears and disappears atomically."""
    repo = Repository(repository, passphrase)
    grouped = points_by_vm(repo, vm)
    return {"vms": {name: [summary(p) for p in points] for name, points in sorted(grouped.items())}}


def _check_chunk_size(block_size: int) -> None:
    if not MIN_CHUNK_SIZE <= block_size <= MAX_CHUNK_SIZE or block_size & (block_size - 1):
        raise DataMoverError(
            f"block_size {block_size} is invalid: use a power of two from {MIN_CHUNK_SIZE} to {MAX_CHUNK_SIZE} bytes"
        )


def _open_streams(sources: Sequence[str], chunk_size: int) -> List[_backup.Stream]:
    """Open every source before anything is written; any failure closes what was opened and raises."""
    opener = open_disk or default_disk_opener()
    streams: List[_backup.Stream] = []
    try:
        for path in sources:
            disk = is_disk(path)
            source = open_disk_checked(path, opener) if disk else OpaqueFile(path)
            size = source.virtual_size if disk else source.size
            name = os.path.basename(path.rstrip("/\\")) or path
            if any(s.name == name for s in streams):
                raise DataMoverError(f"two sources share the file name {name!r}; restore points name files by it")
            streams.append(_backup.Stream(name, path, source, disk, ChunkList(size, chunk_size)))
    except BaseException:
        _close_streams(streams)
        raise
    streams.sort(key=lambda s: not s.is_disk)  # disks first, then files, each in the given order
    return streams


def _close_streams(streams: List[_backup.Stream]) -> None:
    for stream in streams:
        with contextlib.suppress(Exception):  # closing a read-only source cannot lose data
            stream.source.close()


def _open_for_backup(
    repository: str, passphrase: Optional[str], init: bool, check_mode: bool, **init_args: object
) -> Optional[Repository]:
    if not os.path.exists(os.path.join(repository, CONFIG_FILE)):
        if check_mode:
            return None
        if not init:
            raise DataMoverError(f"no repository at {repository} and init is false")
        init_layout(repository, passphrase=passphrase, **init_args)
    return Repository(repository, passphrase)


def backup(
    repository: str,
    vm: str,
    sources: Sequence[str],
    *,
    passphrase: Optional[str] = None,
    block_size: int = 1 << 20,
    compression: str = "default",
    hash_algorithm: str = "blake3",
    changed_ranges: Optional[Mapping[str, Sequence[Tuple[int, int]]]] = None,
    check_mode: bool = False,
    lock_timeout: float = 0,
    progress: Optional[Callable[[int, int], None]] = None,
    workers: Optional[int] = None,
    init: bool = True,
    encryption: Optional[str] = None,
) -> dict:
    """Back up ``sources`` of ``vm`` as a new restore point; in check mode estimate and write nothing."""
    if not vm:
        raise DataMoverError("a VM name is required")
    if not sources:
        raise DataMoverError("no sources given: name at least one disk or VM file")
    _check_chunk_size(block_size)
    codec = Codec(compression_level(compression))
    streams = _open_streams(sources, block_size)
    try:
        repo = _open_for_backup(
            repository, passphrase, init, check_mode, encryption=encryption, hash_algorithm=hash_algorithm
        )
        job = _backup.BackupJob(vm, streams, codec, changed_ranges, progress, default_workers(workers), check_mode)
        if repo is None:  # check mode against a repository that does not exist yet
            return job.run(None, Index(), make_chunk_hasher(hash_algorithm))
        try:
            with repo.lock(exclusive=not check_mode, timeout=lock_timeout):
                if not check_mode:
                    repo.clean_tmp()
                return job.run(repo, repo.load_index(), repo.digest)
        finally:
            repo.close()
    finally:
        _close_streams(streams)
