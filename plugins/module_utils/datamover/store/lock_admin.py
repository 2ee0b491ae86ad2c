"""What an administrator does with a stuck repository lock: see whose it is, and remove it (``unlock``).

Without ``force`` only stale locks go (what the next run would remove by itself); with it live ones too, and
their run then fails at its next durable step (store/lock.py, "Losing a lock"). Each removed lock is
reported with its holder: lock file, host, pid, operation, seconds since it was last refreshed, and why it
was removed.
"""

from __future__ import annotations

import time
from typing import Dict, List, NamedTuple, Optional

from ansible_collections.backup.hyperv.plugins.module_utils.datamover.base.errors import LockedError, RepositoryError
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.base.fsutil import describe_os_error
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.lock_files import LOCAL_FILES, LockFiles
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.lock_holder import (
    UNREADABLE_GRACE,
    describe,
    stale_reason,
    this_host,
)
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.lock_place import (
    is_lock_name,
    read_record,
    remove_leftovers,
    same_lock,
    take_away,
)

FORCED = "removed with force"


class FoundLock(NamedTuple):
    """A lock file as read now."""

    name: str
    path: str
    holder: dict  # its record (lock_holder.UNREADABLE when it holds none)
    age: float  # seconds since the file was written
    stale: Optional[str]  # why it is stale; None: its holder is alive


def found_locks(locks_dir: str, *, host: Optional[str] = None, files: LockFiles = LOCAL_FILES) -> List[FoundLock]:
    """Every lock file in ``locks_dir`` with its holder and whether it is stale, judged from ``host``."""
    host = host or this_host()
    found = []
    try:
        for name in sorted(files.listdir(locks_dir)):
            path = files.join(locks_dir, name)
            record = read_record(files, path) if is_lock_name(name) else None
            if record is not None:
                holder, age = record
                found.append(FoundLock(name, path, holder, age, stale_reason(holder, age, host)))
    except OSError as exc:
        raise RepositoryError(describe_os_error("reading the locks of the repository in", locks_dir, exc)) from exc
    return found


def refuse_live(locks: List[FoundLock]) -> None:
    """Raise a LockedError naming the holder of each live lock in ``locks``, if there is one."""
    live = [describe(lock.holder) for lock in locks if lock.stale is None]
    if live:
        raise LockedError(
            f"unlock refused: the repository is locked by {'; '.join(live)}, and that run is alive. Wait for it "
            "or stop it on its host; force removes a live lock too (its run then fails at its next write)"
        )


def unlock(
    locks_dir: str,
    force: bool = False,
    *,
    dry_run: bool = False,
    host: Optional[str] = None,
    files: LockFiles = LOCAL_FILES,
) -> List[Dict[str, object]]:
    """Remove stale locks (every lock with ``force``); return whose each removed lock was.

    ``dry_run``: remove nothing, return whose each lock that would be removed is."""
    removed = []
    for lock in found_locks(locks_dir, host=host, files=files):
        if lock.stale is None and not force:
            continue
        if dry_run or _take_away(files, lock):
            removed.append(_whose(lock))
    if not dry_run:
        try:
            remove_leftovers(files, locks_dir, UNREADABLE_GRACE)
        except OSError as exc:
            raise RepositoryError(describe_os_error("unlocking the repository in", locks_dir, exc)) from exc
    return removed


def _take_away(files: LockFiles, lock: FoundLock) -> bool:
    """Remove ``lock`` if it is still the one read (not a lock taken anew since); True if removed."""
    try:
        return take_away(files, lock.path, lambda now: same_lock(now, lock.holder))
    except OSError as exc:
        raise RepositoryError(describe_os_error("unlocking the repository in", lock.path, exc)) from exc


def _whose(lock: FoundLock) -> Dict[str, object]:
    record = lock.holder if isinstance(lock.holder, dict) else {}
    refreshed = record.get("refreshed")
    return {
        "lock": lock.name,
        "host": record.get("host"),
        "pid": record.get("pid"),
        "operation": record.get("operation") or record.get("kind"),
        "age": round(time.time() - refreshed if isinstance(refreshed, (int, float)) else lock.age, 1),
        "reason": lock.stale or FORCED,
    }
