"""Jobs: several VMs backed up (or restored) in order by one session, against one open repository.

The repository is opened once (one key unlock, one lock for the whole job) and the VMs run in order. A VM
that fails (a missing source, a damaged chunk...) publishes no restore point and leaves no data behind;
the job goes on with the next VM and reports the failure in that VM's result (``failed``, ``msg``).
Options other than the VM list (``block_size``, ``compression``...) apply to every VM. The entries come
checked (job_entries.py).
"""

from __future__ import annotations

from typing import Callable, Optional, Sequence, TypeVar

from ansible_collections.backup.hyperv.plugins.module_utils.datamover.base.errors import DataMoverError
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.run.session import Session
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.run.values import (
    BackupEntry,
    Chunking,
    RestoreEntry,
)

Progress = Optional[Callable[[int, int], None]]
Entry = TypeVar("Entry", BackupEntry, RestoreEntry)


def run_each(entries: Sequence[Entry], step: Callable[[Entry], dict]) -> dict:
    """Run ``step`` for every entry; a VM's DataMoverError becomes its failed result, the job goes on."""
    results = []
    for entry in entries:
        try:
            result = dict(step(entry), vm=entry.vm, failed=False)
        except DataMoverError as err:
            result = {"vm": entry.vm, "failed": True, "changed": False, "msg": str(err)}
        results.append(result)
    return {
        "changed": any(r["changed"] for r in results),
        "results": results,
        "failed_vms": [r["vm"] for r in results if r["failed"]],
    }


def backup_each(session: Session, entries: Sequence[BackupEntry], chunking: Chunking, progress: Progress) -> dict:
    """Back up every VM of the job in ``session`` (a writing one), with the same chunking for all."""
    return run_each(entries, lambda entry: session.backup(entry, chunking, progress))


def restore_each(session: Session, entries: Sequence[RestoreEntry], progress: Progress) -> dict:
    """Restore every VM of the job from ``session`` (a reading one)."""
    return run_each(entries, lambda entry: session.restore(entry, progress))
