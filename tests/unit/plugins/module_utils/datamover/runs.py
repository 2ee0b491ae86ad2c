"""The data mover as tests call it: options under the module's names, built into the options object.

Each call builds ``DataMoverOptions.from_params`` (as the module does) and runs the one entry point,
``operations.run``; ``open_session`` opens a session from the same object's repository values.
"""

from __future__ import annotations

from typing import Any, Optional, Sequence

from ansible_collections.backup.hyperv.plugins.module_utils.datamover import engine, operations
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.disk.source import DiskOpener
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.run.session import Session
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.run.values import RepositoryAccess
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.settings import DataMoverOptions
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.chunk_store import (
    DEFAULT_LIMITS,
    StoreLimits,
)
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.lock_holder import STALE_AFTER


def options(operation: str, repository: Any, check_mode: bool = False, **params: Any) -> DataMoverOptions:
    return DataMoverOptions.from_params(dict(params, operation=operation, repository=str(repository)), check_mode)


def run(
    operation: str,
    repository: Any,
    *,
    check_mode: bool = False,
    progress: Any = None,
    disk_opener: Optional[DiskOpener] = None,
    **params: Any,
) -> dict:
    return operations.run(options(operation, repository, check_mode, **params), progress, disk_opener)


def backup(repository: Any, vm: str, sources: Sequence[str], **params: Any) -> dict:
    return run("backup", repository, vm=vm, source=list(sources), **params)


def restore(repository: Any, vm: Optional[str], destination: str, **params: Any) -> dict:
    return run("restore", repository, vm=vm, destination=destination, **params)


def verify(repository: Any, **params: Any) -> dict:
    return run("verify", repository, **params)


def prune(repository: Any, keep_last: int, **params: Any) -> dict:
    return run("prune", repository, keep_last=keep_last, **params)


def init(repository: Any, **params: Any) -> dict:
    return run("init", repository, **params)


def points(repository: Any, vm: Optional[str] = None, passphrase: Optional[str] = None) -> dict:
    """``list`` as the engine answers it (without the module's ``changed``)."""
    return engine.list_restore_points(RepositoryAccess(str(repository), passphrase), vm)


def open_session(
    repository: Any,
    *,
    write: bool = True,
    check_mode: bool = False,
    init: bool = True,
    disk_opener: Optional[DiskOpener] = None,
    limits: StoreLimits = DEFAULT_LIMITS,
    stale_after: float = STALE_AFTER,
    **params: Any,
) -> Session:
    """A session from the module's options; ``limits`` and ``stale_after`` as Session takes them."""
    opened = options("list", repository, **params)
    tuning = {"limits": limits, "stale_after": stale_after}
    return Session(
        opened.access, opened.new, write=write, check_mode=check_mode, init=init, disk_opener=disk_opener, **tuning
    )
