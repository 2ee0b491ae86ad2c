"""Public entry points of the data mover: init, backup, restore, verify, list and prune a repository.

The Ansible module and the command line call only these functions. ``open_session`` opens a repository
once for a job of several VMs (see run/session.py); ``backup``, ``restore`` and ``verify`` are
one-operation sessions. Each takes the lock it needs (exclusive to write, shared to read) and returns a
plain dict. ``disk_opener`` (backup only) is how disks are opened: ``disk.opener.open_disk`` unless a
caller, such as a test, gives another.
"""

from __future__ import annotations

from typing import Callable, Mapping, Optional, Sequence, Tuple

from ansible_collections.backup.hyperv.plugins.module_utils.datamover.base.errors import DataMoverError
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.disk.source import DiskOpener
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.run.prune import prune
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.run.restore import FORMATS
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.run.session import Session
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.run.stats import Stats
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.catalog import points_by_vm
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.constants import DEFAULT_CHUNK_SIZE
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.repository import Repository, init_layout
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.snapshot import summary

__all__ = [
    "Session",
    "Stats",
    "backup",
    "init_repository",
    "list_restore_points",
    "open_session",
    "prune",
    "restore",
    "verify",
]

Progress = Optional[Callable[[int, int], None]]


def init_repository(
    repository: str,
    *,
    passphrase: Optional[str] = None,
    encryption: Optional[str] = None,
    hash_algorithm: str = "blake3",
    kdf: str = "scrypt",
) -> dict:
    config = init_layout(
        repository, passphrase=passphrase, encryption=encryption, hash_algorithm=hash_algorithm, kdf=kdf
    )
    return {"changed": True, "repository": repository, "config": config}


def list_restore_points(repository: str, *, vm: Optional[str] = None, passphrase: Optional[str] = None) -> dict:
    """Catalog of restore points; lock-free, since a record appears and disappears atomically."""
    repo = Repository(repository, passphrase)
    grouped = points_by_vm(repo, vm)
    return {"vms": {name: [summary(p) for p in points] for name, points in sorted(grouped.items())}}


def open_session(
    repository: str,
    *,
    passphrase: Optional[str] = None,
    lock_timeout: float = 0,
    workers: Optional[int] = None,
    write: bool = True,
    check_mode: bool = False,
    init: bool = True,
    encryption: Optional[str] = None,
    hash_algorithm: str = "blake3",
    kdf: str = "scrypt",
    disk_opener: Optional[DiskOpener] = None,
) -> Session:
    """Open ``repository`` once for several backups, restores and verifications (a job): one key unlock, one
    lock held until ``close()`` (exclusive when ``write``, else shared), one index, one worker pool.
    ``encryption``, ``hash_algorithm`` and ``kdf`` apply when the first backup creates the repository."""
    return Session(
        repository,
        passphrase=passphrase,
        lock_timeout=lock_timeout,
        workers=workers,
        write=write,
        check_mode=check_mode,
        init=init,
        encryption=encryption,
        hash_algorithm=hash_algorithm,
        kdf=kdf,
        disk_opener=disk_opener,
    )


def backup(
    repository: str,
    vm: str,
    sources: Sequence[str],
    *,
    passphrase: Optional[str] = None,
    block_size: int = DEFAULT_CHUNK_SIZE,
    compression: str = "default",
    hash_algorithm: str = "blake3",
    changed_ranges: Optional[Mapping[str, Sequence[Tuple[int, int]]]] = None,
    check_mode: bool = False,
    lock_timeout: float = 0,
    progress: Progress = None,
    workers: Optional[int] = None,
    init: bool = True,
    encryption: Optional[str] = None,
    kdf: str = "scrypt",
    disk_opener: Optional[DiskOpener] = None,
) -> dict:
    """Back up ``sources`` of ``vm`` as a new restore point; in check mode estimate and write nothing."""
    opened = open_session(
        repository,
        passphrase=passphrase,
        lock_timeout=lock_timeout,
        workers=workers,
        check_mode=check_mode,
        init=init,
        encryption=encryption,
        hash_algorithm=hash_algorithm,
        kdf=kdf,
        disk_opener=disk_opener,
    )
    with opened as session:
        return session.backup(
            vm,
            sources,
            block_size=block_size,
            compression=compression,
            changed_ranges=changed_ranges,
            progress=progress,
        )


def restore(
    repository: str,
    vm: Optional[str],
    destination: str,
    *,
    restore_point: str = "latest",
    format: str = "vhdx",
    passphrase: Optional[str] = None,
    overwrite: bool = False,
    progress: Progress = None,
    lock_timeout: float = 0,
    workers: Optional[int] = None,
) -> dict:
    """Restore ``restore_point`` of ``vm`` into the folder ``destination``."""
    if format not in FORMATS:
        raise DataMoverError(f"unknown restore format {format!r}; choose one of {', '.join(FORMATS)}")
    opened = open_session(repository, passphrase=passphrase, lock_timeout=lock_timeout, workers=workers, write=False)
    with opened as session:
        return session.restore(
            vm, destination, restore_point=restore_point, format=format, overwrite=overwrite, progress=progress
        )


def verify(
    repository: str,
    *,
    vm: Optional[str] = None,
    restore_point: Optional[str] = None,
    passphrase: Optional[str] = None,
    progress: Progress = None,
    lock_timeout: float = 0,
    workers: Optional[int] = None,
) -> dict:
    """Verify restore points, a VM, or the whole repository (``ok`` is false when damage is found)."""
    opened = open_session(repository, passphrase=passphrase, lock_timeout=lock_timeout, workers=workers, write=False)
    with opened as session:
        return session.verify(vm=vm, restore_point=restore_point, progress=progress)
