"""File-level restore, the faces' side: ``ls``, ``find`` and ``restore_file`` on a restore point's guest.

Each opens the repository for reading (a shared lock, as a restore takes: prune cannot remove the chunks
being read), finds the restore point and its NTFS volume (guest/locate.py) and reads only what it needs
through the disk view (guest/view.py). Every reply has ``stats``: the chunks fetched, the stored bytes read
from pack files for them, and ``bytes_catalog``, the index files and chunk list read to find them.
"""

from __future__ import annotations

import fnmatch
import os
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

from ansible_collections.backup.hyperv.plugins.module_utils.datamover.base.errors import DataMoverError
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.guest.extract import extract, plan
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.guest.locate import GuestVolume, open_volume
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.guest.ntfs import Entry
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.guest.query import GuestQuery
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.guest.targets import host_folder
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.run.session import Session
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.settings import DataMoverOptions
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.catalog import find_point
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.constants import INDEX_DIR, POINTS_DIR
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.repository import Repository

Progress = Optional[Callable[[int, int], None]]
Reply = Dict[str, Any]
Action = Callable[[GuestVolume, GuestQuery], Reply]


def _on_volume(o: DataMoverOptions, action: Action) -> Reply:
    """Open the query's volume, run ``action`` on it, and add where it looked and what it cost."""
    query = _query(o)
    with Session(o.access, write=False, operation=o.operation) as session:
        repo = session.repo
        if repo is None:  # a reading session has opened the repository or failed: a bug if not
            raise DataMoverError("internal error: the reading session has no repository")
        repo.load_index()
        point = find_point(repo, query.vm, query.restore_point)
        guest = open_volume(repo, point, query.disk, query.partition)
        reply = action(guest, query)
        stats = dict(guest.counter.to_dict(), bytes_catalog=_catalog_bytes(repo, point))
    where = {"restore_point": point["id"], "vm": point["vm"], **guest.where()}
    return {**where, "partitions": [part.to_dict() for part in guest.partitions], **reply, "stats": stats}


def _query(o: DataMoverOptions) -> GuestQuery:
    if o.guest is None:
        raise DataMoverError(f"{o.operation} needs a guest query")
    return o.guest


def _catalog_bytes(repo: Repository, point: dict) -> int:
    """The index files and the chunk list read before any chunk (they grow with the repository, not the disk)."""
    files = [os.path.join(repo.path, INDEX_DIR, name) for name in repo.index_files()]
    files.append(os.path.join(repo.path, POINTS_DIR, point["chunk_list"]["file"]))
    return sum(os.path.getsize(path) for path in files)


def ls(o: DataMoverOptions, progress: Progress, opener: Any) -> Reply:
    def listing(guest: GuestVolume, query: GuestQuery) -> Reply:
        entry = guest.volume.resolve(query.path)
        entries = guest.volume.entries(entry) if entry.kind == "directory" else [entry]
        return {"changed": False, "path": entry.path, "entries": [child.to_dict() for child in entries]}

    return _on_volume(o, listing)


def find(o: DataMoverOptions, progress: Progress, opener: Any) -> Reply:
    def search(guest: GuestVolume, query: GuestQuery) -> Reply:
        start = guest.volume.resolve(query.path)
        if start.kind != "directory":
            raise DataMoverError(f"{start.path} on {guest.volume.label} is not a folder to search in")
        found = [entry.to_dict() for entry in _matches(guest, start, query.pattern or "*")]
        return {"changed": False, "path": start.path, "pattern": query.pattern, "matches": found}

    return _on_volume(o, search)


def _matches(guest: GuestVolume, start: Entry, pattern: str) -> Iterator[Entry]:
    """Entries under ``start`` whose name (or, for a pattern with a separator, whose path below ``start``)
    matches the glob, without regard to case as Windows matches names."""
    wanted = pattern.replace("/", "\\").strip("\\").casefold()
    by_path = "\\" in wanted
    for entry in guest.volume.walk(start):
        subject = entry.path[len(start.path) :].strip("\\") if by_path else entry.name
        if fnmatch.fnmatchcase(subject.casefold(), wanted):
            yield entry


def restore_file(o: DataMoverOptions, progress: Progress, opener: Any) -> Reply:
    def extraction(guest: GuestVolume, query: GuestQuery) -> Reply:
        entry = guest.volume.resolve(query.path)
        folder = host_folder(str(query.destination), query.smb_credentials())
        try:
            planned, skipped = plan(guest, [entry], folder, query.overwrite)
            written = 0 if o.check_mode else extract(guest, folder, planned, progress)
        finally:
            folder.close()
        outputs = [item.to_dict() for item in planned]
        reply = {
            "changed": bool(planned),
            "path": entry.path,
            "outputs": outputs,
            "skipped": skipped,
            "bytes_written": written,
            "streams_not_restored": _streams(guest, planned),
        }
        if reply["streams_not_restored"]:
            reply["warnings"] = [_streams_warning(reply["streams_not_restored"])]
        return reply

    return _on_volume(o, extraction)


def _streams(guest: GuestVolume, planned: List[Any]) -> List[str]:
    """``path:stream`` of every alternate data stream of the files extracted: only their unnamed data is written."""
    return [f"{item.entry.path}:{name}" for item in planned for name in guest.volume.named_streams(item.entry)]


def _streams_warning(streams: List[str]) -> str:
    shown = ", ".join(streams[:5]) + (f" and {len(streams) - 5} more" if len(streams) > 5 else "")
    return (
        f"{len(streams)} alternate data stream(s) not restored (only each file's data is): {shown}. They hold "
        "metadata such as a download's zone (Zone.Identifier); copy one out inside the guest if it is needed."
    )


HANDLERS: Dict[str, Callable[[DataMoverOptions, Progress, Any], Reply]] = {
    "ls": ls,
    "find": find,
    "restore_file": restore_file,
}
__all__: Tuple[str, ...] = ("HANDLERS",)
