"""Jobs: several VMs backed up (or restored) in order by one session, against one open repository.

The repository is opened once (one key unlock, one lock for the whole job) and the VMs run in order, or, for
a backup with ``slots`` above 1, up to that many at once on threads of their own, sharing the session's
worker pool (run/session.py says what else they share and how). Results come back in job order either way.
A VM that fails (a missing source, a damaged chunk...) publishes no restore point and leaves no data behind;
the job goes on with the other VMs and reports the failure in that VM's result (``failed``, ``msg``).
Options other than the VM list (``block_size``, ``compression``...) apply to every VM. The entries come
checked (job_entries.py).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Callable, List, Optional, Sequence, TypeVar

from ansible_collections.backup.hyperv.plugins.module_utils.datamover.base.errors import DataMoverError
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.run.session import Session
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.run.values import (
    BackupEntry,
    Chunking,
    RestoreEntry,
)
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.constants import DEFAULT_SLOTS

Progress = Optional[Callable[[int, int], None]]
Entry = TypeVar("Entry", BackupEntry, RestoreEntry)


def run_each(entries: Sequence[Entry], step: Callable[[Entry], dict], slots: int = DEFAULT_SLOTS) -> dict:
    """Run ``step`` for every entry, ``slots`` at once; a VM's DataMoverError becomes its failed result, the
    job goes on."""

    def outcome(entry: Entry) -> dict:
        try:
            return dict(step(entry), vm=entry.vm, failed=False)
        except DataMoverError as err:
            return {"vm": entry.vm, "failed": True, "changed": False, "msg": str(err)}

    results: List[dict]
    if slots <= 1 or len(entries) <= 1:
        results = [outcome(entry) for entry in entries]
    else:
        with ThreadPoolExecutor(max_workers=min(slots, len(entries)), thread_name_prefix="datamover-slot") as vms:
            results = list(vms.map(outcome, entries))
    return {
        "changed": any(r["changed"] for r in results),
        "results": results,
        "failed_vms": [r["vm"] for r in results if r["failed"]],
    }


def backup_each(
    session: Session, entries: Sequence[BackupEntry], chunking: Chunking, progress: Progress, slots: int = DEFAULT_SLOTS
) -> dict:
    """Back up every VM of the job in ``session`` (a writing one), with the same chunking for all, ``slots`` at
    once. The progress of VMs running at once would interleave, so only a job of one slot reports it."""
    shown = progress if slots <= 1 else None
    return run_each(entries, lambda entry: session.backup(entry, chunking, shown), slots)


def restore_each(session: Session, entries: Sequence[RestoreEntry], progress: Progress) -> dict:
    """Restore every VM of the job from ``session`` (a reading one), one after the other."""
    return run_each(entries, lambda entry: session.restore(entry, progress))
