"""Repair: rebuild the index from the packs, keeping only chunks that are really there and whole.

The index is a cache: every pack carries its own entry table (store/pack.py), so the index can always be
rebuilt from the packs. Repair, under the exclusive lock prune takes:

1. takes each pack's entries from its own table, or, when that table is damaged, from an intact index file
   that names the pack (a pack neither describes cannot be read: its chunks are lost, and it is reported);
2. reads every chunk of those entries and checks it as a restore does (authenticate, decompress, re-hash):
   a chunk whose bytes are damaged is left out;
3. rewrites each pack that held a damaged chunk, or whose own table is damaged: its whole chunks move to a new
   pack and it is deleted, so that no pack's table still lists a copy that does not read back (a later rebuild
   of the index from the tables would bring such a copy back, and prune could then delete the only good copy
   of the chunk, stored again by a backup since); then publishes one index file naming every whole chunk and
   deletes the older index files (so entries of packs that are gone, and of damaged chunks, are dropped);
4. reports the restore points that referenced a dropped or missing chunk, naming the disk and the byte
   ranges lost (store/damage.py). The next backup of the same content stores those chunks again, since the
   index no longer claims them: the repository heals. ``forget`` removes points that cannot heal.

In check mode it reads and reports the same, and writes nothing.
"""

from __future__ import annotations

from typing import Container, Dict, List, Optional, Set, Tuple

from ansible_collections.backup.hyperv.plugins.module_utils.datamover.base.errors import DataMoverError
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.run.repack import rewrite_packs
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.run.values import RepositoryAccess
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.blob import decode_blob
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.catalog import (
    points_by_vm,
    readable_chunk_lists,
)
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.compress import Codec
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.damage import INTACT, point_states
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.pack import PackEntry, read_pack_entries
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.repository import Repository

Packs = Dict[bytes, List[PackEntry]]


def repair(access: RepositoryAccess, *, check_mode: bool = False) -> dict:
    """Rebuild the index of the repository at ``access.path`` from its packs; report what changed."""
    repo = Repository(access.path, access.passphrase)
    try:
        with repo.lock(not check_mode, access.lock_timeout, "repair"):
            if not check_mode:
                repo.clean_tmp()
            cached, report = _read_index_files(repo)
            whole, damaged_packs = _whole_chunks(repo, cached, report)
            kept = {entry.chunk_id for entries in whole.values() for entry in entries}
            report["chunks_indexed"] = len(kept)
            report["packs_missing"] = sorted(p.hex() for p in set(cached) - set(repo.pack_ids_on_disk()))
            report["packs_rewritten"] = sorted(p.hex() for p in damaged_packs)
            report["points"] = _points_hit(repo, _Missing(kept))
            report["changed"] = _needs_rebuild(cached, whole, report) or bool(damaged_packs)
            if not check_mode and report["changed"]:
                keep = {pack_id: entries for pack_id, entries in whole.items() if pack_id not in damaged_packs}
                rewrite_packs(repo, keep, {pack_id: whole[pack_id] for pack_id in damaged_packs}, ())
    finally:
        repo.close()
    return report


def _read_index_files(repo: Repository) -> Tuple[Packs, dict]:
    """Every index file's entries by pack (a cache, used for packs whose own table is damaged)."""
    names, cached = repo.index_files(), {}
    damaged = []
    for name in names:
        try:
            packs = repo.read_index_file(name)
        except DataMoverError as exc:
            damaged.append({"index": name, "reason": str(exc)})
            continue
        for pack_id, entries in packs.items():
            cached.setdefault(pack_id, []).extend(entries)
    return cached, {"index_files_replaced": len(names), "index_files_damaged": damaged}


def _whole_chunks(repo: Repository, cached: Packs, report: dict) -> Tuple[Packs, Set[bytes]]:
    """Each readable pack's entries whose chunk reads back whole, and the packs to rewrite (a damaged chunk, or
    a table taken from an index file); what was dropped goes into ``report``."""
    whole: Packs = {}
    damaged_packs: Set[bytes] = set()
    dropped: Dict[bytes, str] = {}
    unreadable, from_index = [], []
    codec = Codec(0)
    for pack_id in repo.pack_ids_on_disk():
        entries, reason = _entries_of(repo, pack_id, cached)
        if entries is None:
            unreadable.append({"pack": pack_id.hex(), "reason": reason})
            continue
        if reason:
            from_index.append({"pack": pack_id.hex(), "reason": reason})
            damaged_packs.add(pack_id)
        whole[pack_id] = []
        for entry in _unique(entries):
            problem = _check_blob(repo, pack_id, entry, codec)
            if problem is None:
                whole[pack_id].append(entry)
            else:
                dropped[entry.chunk_id] = f"pack {pack_id.hex()} at offset {entry.offset}: {problem}"
                damaged_packs.add(pack_id)
    kept = {entry.chunk_id for entries in whole.values() for entry in entries}
    report.update(
        packs_scanned=len(whole) + len(unreadable),
        packs_unreadable=unreadable,
        packs_table_from_index=from_index,
        # a damaged copy with a whole one in another pack loses nothing
        chunks_dropped=[{"chunk": c.hex(), "reason": why} for c, why in dropped.items() if c not in kept],
    )
    return whole, damaged_packs


def _entries_of(repo: Repository, pack_id: bytes, cached: Packs) -> Tuple[Optional[List[PackEntry]], str]:
    """The pack's own table (reason ""), else what an intact index file says of it (reason: why the table could
    not be used); (None, why) when neither describes the pack."""
    try:
        return read_pack_entries(repo.pack_path(pack_id), repo.sealer), ""
    except DataMoverError as exc:
        if pack_id in cached:
            return cached[pack_id], f"{exc}; its entries were taken from an intact index file"
        return None, f"{exc}; no intact index file names its chunks, so they cannot be found"


class _Missing:
    """The chunks not in ``kept``: what a restore point loses after repair."""

    def __init__(self, kept: Set[bytes]) -> None:
        self._kept = kept

    def __contains__(self, chunk_id: object) -> bool:
        return chunk_id not in self._kept


def _unique(entries: List[PackEntry]) -> List[PackEntry]:
    return list({entry.chunk_id: entry for entry in entries}.values())


def _check_blob(repo: Repository, pack_id: bytes, entry: PackEntry, codec: Codec) -> Optional[str]:
    """None when the chunk reads back whole, else why not."""
    try:
        stored = repo.read_blob(pack_id, entry.offset, entry.stored_length)
        decode_blob(stored, entry.chunk_id, entry.raw_length, entry.flags, codec, repo.sealer, repo.digest)
    except DataMoverError as exc:
        return str(exc)
    return None


def _points_hit(repo: Repository, lost: Container[bytes]) -> List[dict]:
    """The restore points that reference a chunk of ``lost``, or cannot be read at all (intact ones left out)."""
    unreadable: Dict[str, str] = {}
    points = [p for group in points_by_vm(repo, None, unreadable).values() for p in group]
    streams_of = readable_chunk_lists(repo, points, unreadable)
    readable = [point for point in points if point["id"] in streams_of]
    return [s for s in point_states(readable, streams_of, lost, unreadable) if s["state"] != INTACT]


def _needs_rebuild(cached: Packs, whole: Packs, report: dict) -> bool:
    """Whether the index files say anything but exactly the whole chunks (damaged files, duplicates, stale or
    missing entries): a healthy repository is left as it is."""
    said = [(pack_id, entry) for pack_id, entries in cached.items() for entry in entries]
    found = {(pack_id, entry) for pack_id, entries in whole.items() for entry in entries}
    return bool(report["index_files_damaged"]) or len(said) != len(set(said)) or set(said) != found
