"""Forget: remove named restore points from the catalog, and nothing else.

Used to isolate damage: a restore point that verify reports damaged or unreadable (its record, its chunk
list, or the chunks it references) is taken out of the catalog so that ``list``, ``latest`` and the next
incremental no longer see it. Its data stays: chunks other restore points share are still theirs, and what
only it used is reclaimed by the next ``prune``. A point's record goes first, then its chunk list, as prune
removes them (store/repository.py), under the same exclusive lock; an unknown id refuses the whole run before
anything is removed. A damaged record can be forgotten: it is found by its file name.
"""

from __future__ import annotations

from typing import Dict, Optional, Sequence

from ansible_collections.backup.hyperv.plugins.module_utils.datamover.base.errors import DataMoverError
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.run.values import RepositoryAccess
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.repository import Repository


def forget(access: RepositoryAccess, point_ids: Sequence[str], *, check_mode: bool = False) -> dict:
    """Remove the restore points ``point_ids`` from the catalog (in check mode, say which would go)."""
    if not point_ids:
        raise DataMoverError("forget needs restore_points: the ids of the restore points to remove (see list)")
    repo = Repository(access.path, access.passphrase)
    try:
        with repo.lock(not check_mode, access.lock_timeout, "forget"):
            known = set(repo.point_ids())
            unknown = [point_id for point_id in point_ids if point_id not in known]
            if unknown:
                raise DataMoverError(
                    f"forget refused: no restore point {', '.join(unknown)} in {access.path} (list shows the ids; "
                    "nothing was removed)"
                )
            forgotten = [_describe(repo, point_id) for point_id in dict.fromkeys(point_ids)]
            if not check_mode:
                for point_id in dict.fromkeys(point_ids):
                    repo.delete_point(point_id)
    finally:
        repo.close()
    return {"changed": bool(forgotten), "forgotten": forgotten}


def _describe(repo: Repository, point_id: str) -> Dict[str, Optional[str]]:
    """The id and VM of a point; a damaged record's VM is unknown (null)."""
    try:
        vm: Optional[str] = repo.read_point(point_id)["vm"]
    except (DataMoverError, ValueError, OSError):  # damaged, or the disk cannot read it
        vm = None
    return {"id": point_id, "vm": vm}
