"""The catalog: restore points of a repository, by VM, read from their records."""

from __future__ import annotations

from typing import Dict, List, Optional

from ansible_collections.backup.hyperv.plugins.module_utils.datamover.base.errors import CorruptionError, DataMoverError
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.repository import Repository
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.snapshot import (
    ChunkList,
    decode_chunk_lists,
)


def points_by_vm(
    repository: Repository, vm: Optional[str] = None, unreadable: Optional[Dict[str, str]] = None
) -> Dict[str, List[dict]]:
    """Restore point records grouped by VM, oldest first.

    ``unreadable``: where a damaged record is noted ({id: reason}) instead of stopping the whole listing (a
    damaged record's VM is unknown, so it is noted whatever ``vm`` is)."""
    grouped: Dict[str, List[dict]] = {}
    for point_id in repository.point_ids():
        point = _read_or_note(repository, point_id, unreadable)
        if point is not None and (vm is None or same_vm(point["vm"], vm)):
            grouped.setdefault(point["vm"], []).append(point)
    return grouped


def same_vm(recorded: str, asked: str) -> bool:
    """Whether a restore point's VM is the one asked for: Hyper-V compares VM names case-blind (and the backup job
    refuses two VMs whose names differ only in case), so `WEB01` finds web01's points."""
    return recorded.casefold() == asked.casefold()


def _read_or_note(repository: Repository, point_id: str, unreadable: Optional[Dict[str, str]]) -> Optional[dict]:
    """The record of ``point_id``; None when a concurrent prune deleted it, or when it cannot be read and
    ``unreadable`` is given to note why in ({id: reason}); without ``unreadable`` a damaged record raises."""
    try:
        return repository.read_point(point_id)
    except FileNotFoundError:
        return None  # deleted by a concurrent prune between listing and reading
    except (CorruptionError, ValueError, OSError) as exc:
        if unreadable is None:
            raise
        unreadable[point_id] = describe_unreadable(exc)
        return None


def describe_unreadable(exc: Exception) -> str:
    """Why a record or chunk list cannot be read, in words (an OS error says what failed, not its class)."""
    if isinstance(exc, OSError) and not isinstance(exc, DataMoverError):
        return f"cannot be read: {exc.strerror or exc}"
    return str(exc)


def find_point(repository: Repository, vm: Optional[str], restore_point: str) -> dict:
    """The record named ``restore_point`` ("latest" = newest of ``vm``); a clear error when absent."""
    if restore_point != "latest":
        if restore_point not in repository.point_ids():
            raise DataMoverError(f"restore point {restore_point} does not exist in {repository.path}")
        point = repository.read_point(restore_point)
        if vm is not None and not same_vm(point["vm"], vm):
            raise DataMoverError(f"restore point {restore_point} belongs to VM {point['vm']!r}, not {vm!r}")
        return point
    point = latest_point(repository, vm) if vm is not None else None
    if point is None:
        raise DataMoverError(f"VM {vm!r} has no restore point in {repository.path}")
    return point


def latest_point(repository: Repository, vm: str, unreadable: Optional[Dict[str, str]] = None) -> Optional[dict]:
    """The newest restore point of ``vm``. Ids sort by time, so records are read newest first until one of
    ``vm`` turns up: a VM backed up daily is found among the last few records, however long the history.

    ``unreadable``: where a damaged record met on the way is noted ({id: reason}) and passed over, so the newest
    readable point is returned (a backup's baseline: the changed ranges are asked since that point's own RCT ids,
    so they describe the change from it whoever the damaged point belonged to); without it, it raises (a restore
    of "latest" must not quietly pick an older point)."""
    for point_id in reversed(repository.point_ids()):
        point = _read_or_note(repository, point_id, unreadable)
        if point is not None and same_vm(point["vm"], vm):
            return point
    return None


def chunk_lists(repository: Repository, point: dict) -> List[ChunkList]:
    return decode_chunk_lists(repository.read_chunk_payload(point), point["id"])


def chunk_lists_without_record(repository: Repository, point_ids: List[str]) -> Dict[str, List[ChunkList]]:
    """The chunk lists of points whose records cannot be read, by id, where their own file can still be read
    (prune keeps their chunks); a point whose chunk lists cannot be read either is left out."""
    found: Dict[str, List[ChunkList]] = {}
    for point_id in point_ids:
        try:
            found[point_id] = decode_chunk_lists(repository.read_chunk_payload_without_record(point_id), point_id)
        except (DataMoverError, ValueError, OSError):
            continue  # its chunks stay unknown: the caller keeps every chunk
    return found


def readable_chunk_lists(
    repository: Repository, points: List[dict], unreadable: Dict[str, str]
) -> Dict[str, List[ChunkList]]:
    """The chunk lists of ``points`` by restore point id; one that cannot be read is noted in ``unreadable``
    ({id: reason}) instead, so that one damaged point does not stop a check of all the others."""
    streams_of: Dict[str, List[ChunkList]] = {}
    for point in points:
        try:
            streams_of[point["id"]] = chunk_lists(repository, point)
        except (DataMoverError, ValueError, OSError) as exc:
            unreadable[point["id"]] = describe_unreadable(exc)
    return streams_of
