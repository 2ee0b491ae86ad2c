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
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.catalog import chunk_lists, points_by_vm
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.compress import Codec
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.index import Index
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.pack import read_pack_entries
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.repository import Repository


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


def _locate(repo: Repository, points: List[dict], bad: Dict[bytes, str]) -> List[dict]:
    damaged = []
    for point in points:
        streams = chunk_lists(repo, point)
        for record in point["disks"] + point["files"]:
            chunks = streams[record["stream"]]
            for number, chunk_id in chunks.data_chunks():
                if chunk_id in bad:
                    offset, length = chunks.chunk_range(number)
                    where = {"vm": point["vm"], "restore_point": point["id"], "disk": record["name"]}
                    damaged.append({**where, "offset": offset, "length": length, "reason": bad[chunk_id]})
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
    """Verify an opened and locked repository (its index is reloaded from disk, as a reader would)."""
    problems = check_structure(repo)
    groups = points_by_vm(repo, vm).values()
    latest_only = restore_point == "latest"  # the newest point of each VM in scope
    points = [p for group in groups for p in (group[-1:] if latest_only else group)]
    if restore_point not in (None, "latest"):
        points = [p for p in points if p["id"] == restore_point]
        if not points:
            raise DataMoverError(f"restore point {restore_point} does not exist in {repo.path}")
    ids: Set[bytes] = set()
    readable = []
    for point in points:
        try:
            streams = chunk_lists(repo, point)
        except DataMoverError as exc:
            problems.append({"restore_point": point["id"], "reason": str(exc)})
            continue
        readable.append(point)
        for stream in streams:
            ids.update(chunk_id for _ignored, chunk_id in stream.data_chunks())
    bad = _check_chunks(repo, ids, (workers, executor), progress)
    damaged = _locate(repo, readable, bad) if bad else []
    return {
        "ok": not damaged and not problems,
        "checked_chunks": len(ids),
        "restore_points": len(points),
        "damaged": damaged,
        "damaged_chunks": len(bad),
        "problems": problems,
    }
