"""Entry points of the data mover on a repository as a whole: create it, list its restore points or each VM's
latest one (the baselines of the next incremental), prune it, remove its stuck locks, or open a session on it
(run/session.py) to back up, restore and verify.

Each takes the typed values of run/values.py (``RepositoryAccess``: path, passphrase, lock timeout,
workers; ``NewRepository``: how to create a missing one); operations.py turns a run's options into calls
here. Each takes the lock it needs (exclusive to write, shared to read) and returns a plain dict.
"""

from __future__ import annotations

import os
from typing import Dict, Optional, Sequence

from ansible_collections.backup.hyperv.plugins.module_utils.datamover.run.prune import prune
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.run.session import Session
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.run.stats import Stats
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.run.values import (
    AS_CONFIGURED,
    NewRepository,
    RepositoryAccess,
)
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.catalog import latest_point, points_by_vm
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.constants import CONFIG_FILE, LOCKS_DIR
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.layout import create_layout, read_config
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.lock_admin import (
    found_locks,
    refuse_live,
    unlock,
)
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.repository import Repository
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.snapshot import baseline_summary, summary

__all__ = ["Session", "Stats", "baselines", "init_repository", "list_restore_points", "prune", "unlock_repository"]


def init_repository(access: RepositoryAccess, new: NewRepository = AS_CONFIGURED) -> dict:
    """Create an empty repository at ``access.path`` as ``new`` says."""
    config, _master = create_layout(
        access.path,
        passphrase=access.passphrase,
        encryption=new.cipher,
        hash_algorithm=new.hash,
        kdf=new.kdf,
        lock_timeout=access.lock_timeout,
    )
    return {"changed": True, "repository": access.path, "config": config}


def list_restore_points(access: RepositoryAccess, vm: Optional[str] = None) -> dict:
    """Catalog of restore points; lock-free, since a record appears and disappears atomically. A record that
    cannot be read is in ``damaged`` with the reason (its VM is unknown, so it is named whatever ``vm`` is), the
    others are listed, and ``ok`` is false."""
    repo = Repository(access.path, access.passphrase)
    unreadable: Dict[str, str] = {}
    grouped = points_by_vm(repo, vm, unreadable)
    damaged = [{"id": point_id, "reason": reason} for point_id, reason in sorted(unreadable.items())]
    listing = {name: [summary(p) for p in points] for name, points in sorted(grouped.items())}
    return {"vms": listing, "damaged": damaged, "ok": not damaged}


def baselines(access: RepositoryAccess, vms: Optional[Sequence[str]] = None) -> dict:
    """Each VM's latest restore point as the next incremental's baseline: its id, time, and per disk the RCT id
    it recorded and the virtual size. ``vms`` None: every VM of the repository; a VM named without a restore
    point (or a repository not created yet, before the first backup) has ``restore_point`` null.

    Lock-free, as ``list_restore_points``: a record appears and disappears atomically."""
    if not os.path.exists(os.path.join(access.path, CONFIG_FILE)):
        return {"baselines": {vm: baseline_summary(None) for vm in vms or ()}}
    repo = Repository(access.path, access.passphrase)
    unreadable: Dict[str, str] = {}  # a damaged record stops no VM's backup: each gets its newest readable point
    try:
        if vms is None:
            latest = {vm: points[-1] for vm, points in points_by_vm(repo, unreadable=unreadable).items()}
        else:
            latest = {vm: latest_point(repo, vm, unreadable) for vm in vms}
    finally:
        repo.close()
    damaged = [{"id": point_id, "reason": reason} for point_id, reason in sorted(unreadable.items())]
    return {"baselines": {vm: baseline_summary(point) for vm, point in sorted(latest.items())}, "damaged": damaged}


def unlock_repository(access: RepositoryAccess, *, force: bool = False, check_mode: bool = False) -> dict:
    """Remove the repository's stale locks, or with ``force`` every lock; in check mode remove nothing.

    Without ``force`` a live lock refuses the whole unlock, naming its holder (store/lock_admin.py)."""
    read_config(access.path)  # a path that holds no repository is named as such, not as a missing locks folder
    locks_dir = os.path.join(access.path, LOCKS_DIR)
    if not force:
        refuse_live(found_locks(locks_dir))
    removed = unlock(locks_dir, force, dry_run=check_mode)
    return {"changed": bool(removed), "removed": removed}
