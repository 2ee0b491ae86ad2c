"""Verify restore points, a VM, or the whole repository.

Structure first: every index file must decode, every pack an index names must exist and carry the same
entries in its own table. Then data: every chunk the selected restore points reference is read, opened,
decompressed and re-hashed once; each damaged chunk is reported at every disk/file and offset using it.
"""

from __future__ import annotations

from concurrent.futures import Executor
from typing import Callable, Dict, List, Optional, Set, Tuple

from ansible_collections.backup.hyperv.plugins.module_utils.datamover.base.errors import DataMoverError
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.run.pipeline import ordered_map
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.catalog import (
    points_by_vm,
    readable_chunk_lists,
)
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.compress import Codec
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.damage import point_states
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.index import Index
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.pack import read_pack_entries
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.repository import Repository
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.snapshot import ChunkList


def check_structure(repo: Repository) -> List[dict]:
    """Load the index like a reader would, reporting instead of raising; return the problems found."""
    problems: List[dict] = []
    indexed: Dict[bytes, dict] = {}
    for name in repo.index_files():
        try:
            packs = repo.read_index_file(name)
        except DataMoverError as exc:
            problems.append({"index": name, "reason": str(exc)})
            continue
        for pack_id, entries in packs.items():
            repo.index.add_pack(pack_id, entries)
            indexed.setdefault(pack_id, {}).update({e.chunk_id: e for e in entries})
    on_disk = set(repo.pack_ids_on_disk())
    for pack_id in on_disk:
        try:
            entries = read_pack_entries(repo.pack_path(pack_id), repo.sealer)
        except DataMoverError as exc:
            problems.append({"pack": pack_id.hex(), "reason": str(exc)})
            continue
        if pack_id not in indexed:
            repo.index.add_pack(pack_id, entries)  # unindexed (interrupted run): still usable
            continue
        table = {e.chunk_id: e for e in entries}
        if any(table.get(chunk_id) != entry for chunk_id, entry in indexed[pack_id].items()):
            problems.append({"pack": pack_id.hex(), "reason": "the index and the pack's own entry table disagree"})
    for pack_id in indexed:
        if pack_id not in on_disk:
            problems.append({"pack": pack_id.hex(), "reason": "the index names a pack that is missing"})
    return problems


def _check_chunks(repo: Repository, ids: Set[bytes], pool: tuple, progress: Optional[Callable]) -> Dict[bytes, str]:
    """Read and re-hash each chunk once, in pack order; return {id: reason} for the damaged ones.
    ``pool``: (workers, shared executor or None)."""
    index: Index = repo.index
    codec = Codec(0)
    ordered = sorted(ids, key=lambda c: (index.lookup(c) or (b"",))[:2])

    def check(chunk_id: bytes) -> Tuple[bytes, Optional[str]]:
        try:
            repo.load_chunk(chunk_id, codec)
        except DataMoverError as exc:
            return chunk_id, str(exc)
        return chunk_id, None

    bad: Dict[bytes, str] = {}
    sizes = {c: (index.lookup(c) or (b"", 0, 0, 0))[3] for c in ordered} if progress is not None else {}
    total, done = sum(sizes.values()), 0
    for chunk_id, reason in ordered_map(ordered, check, pool[0], executor=pool[1]):
        if reason is not None:
            bad[chunk_id] = reason
        if progress is not None:
            done += sizes[chunk_id]
            progress(done, total)
    return bad


def _locate(
    index: Index, points: List[dict], streams_of: Dict[str, List[ChunkList]], bad: Dict[bytes, str]
) -> List[dict]:
    """Each damaged chunk where it is used: VM, point, disk or file, offset, and the pack it is in (None: the
    index knows no pack holding it)."""
    damaged = []
    for point in points:
        streams = streams_of[point["id"]]
        for record in point["disks"] + point["files"]:
            chunks = streams[record["stream"]]
            for number, chunk_id in chunks.blob_refs():  # a patched chunk names each bad blob of its own
                if chunk_id in bad:
                    offset, length = chunks.chunk_range(number)
                    where = {"vm": point["vm"], "restore_point": point["id"], "disk": record["name"]}
                    location = index.lookup(chunk_id)
                    pack = None if location is None else location.pack_id.hex()
                    damaged.append({**where, "offset": offset, "length": length, "pack": pack, "reason": bad[chunk_id]})
    return damaged


def verify_in(
    repo: Repository,
    *,
    vm: Optional[str] = None,
    restore_point: Optional[str] = None,
    progress: Optional[Callable[[int, int], None]] = None,
    workers: int = 1,
    executor: Optional[Executor] = None,
) -> dict:
    """Verify an opened and locked repository (its index is reloaded from disk, as a reader would).

    ``points`` in the reply says of each selected restore point whether it is intact, which of its disks and
    files reference damaged or missing chunks (with the byte ranges lost), and which other points share
    those chunks (store/damage.py); a point whose record or chunk list cannot be read is ``unreadable``."""
    problems = check_structure(repo)
    unreadable: Dict[str, str] = {}  # records, then chunk lists, that cannot be read: {id: reason}
    everything = points_by_vm(repo, None, unreadable)
    if restore_point not in (None, "latest"):  # a damaged record of another point is not this check's
        unreadable = {pid: reason for pid, reason in unreadable.items() if pid == restore_point}
    points = _selected(everything, vm, restore_point)
    if restore_point not in (None, "latest") and not points and not unreadable:
        raise DataMoverError(f"restore point {restore_point} does not exist in {repo.path}")
    streams_of = readable_chunk_lists(repo, points, unreadable)
    readable = [point for point in points if point["id"] in streams_of]
    problems += [{"restore_point": pid, "reason": reason} for pid, reason in sorted(unreadable.items())]
    ids = {chunk_id for streams in streams_of.values() for s in streams for _ignored, chunk_id in s.blob_refs()}
    bad = _check_chunks(repo, ids, (workers, executor), progress)
    damaged = _locate(repo.index, readable, streams_of, bad) if bad else []
    if bad:  # the points outside the selection that share a damaged chunk are named too
        others = [p for group in everything.values() for p in group if p["id"] not in streams_of]
        streams_of.update(readable_chunk_lists(repo, others, {}))  # an unreadable one shares nothing telling
    return {
        "ok": not damaged and not problems,
        "checked_chunks": len(ids),
        "restore_points": len(readable) + len(unreadable),
        "damaged": damaged,
        "damaged_chunks": len(bad),
        "problems": problems,
        "points": point_states(readable, streams_of, bad, unreadable),
    }


def _selected(everything: Dict[str, List[dict]], vm: Optional[str], restore_point: Optional[str]) -> List[dict]:
    """The readable points verify checks: of ``vm`` (or every VM), the latest of each, or the one named."""
    groups = [group for name, group in everything.items() if vm is None or name == vm]
    latest_only = restore_point == "latest"  # the newest point of each VM in scope
    points = [p for group in groups for p in (group[-1:] if latest_only else group)]
    if restore_point not in (None, "latest"):
        points = [p for p in points if p["id"] == restore_point]
    return points
