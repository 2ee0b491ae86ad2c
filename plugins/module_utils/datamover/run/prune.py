"""Retention: keep the last N restore points per VM, then collect the chunks no remaining point uses.

Order, so that a crash at any step never breaks a listed restore point: (1) delete the dropped points'
records; (2) copy the live chunks of mostly-garbage packs into new packs; (3) publish one new index of
every surviving pack; (4) delete the old index files; (5) delete garbage and repacked packs. A crash
between steps leaves only extra (unreferenced or unindexed) data, which the next prune removes.

A restore point record that cannot be read does not stop prune for the other VMs (docs/datamover.md, "Failure
and repair"): retention applies to the records it can read, the damaged point is kept and reported (``damaged``,
``ok`` false), and its chunks are kept, read from its chunk list file. When that file cannot be read either, its
chunks are unknown and no chunk can be proved unused: no pack is deleted or repacked until it is recovered or
forgotten.
"""

from __future__ import annotations

import os
from typing import Dict, List, Optional, Set

from ansible_collections.backup.hyperv.plugins.module_utils.datamover.base.errors import DataMoverError
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.run.repack import rewrite_packs
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.run.values import RepositoryAccess
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store import constants as C
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.catalog import (
    chunk_lists_without_record,
    points_by_vm,
    readable_chunk_lists,
)
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.pack import PackEntry
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.repository import Repository
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.snapshot import ChunkList


def _referenced(streams_of: Dict[str, List[ChunkList]]) -> Set[bytes]:
    ids: Set[bytes] = set()
    for streams in streams_of.values():
        for stream in streams:
            ids.update(chunk_id for _ignored, chunk_id in stream.blob_refs())
    return ids


def _damage_report(unreadable: Dict[str, str], unknown: Set[str]) -> List[dict]:
    """Each damaged point, why, and whether its chunks were known (kept) or not (nothing collected)."""
    return [
        {"id": point_id, "reason": reason, "chunks_known": point_id not in unknown}
        for point_id, reason in sorted(unreadable.items())
    ]


def _keep_every_pack(repo: Repository) -> Dict[str, Dict[bytes, List[PackEntry]]]:
    """The plan when a point's chunks are unknown: it may use any chunk, so no pack is deleted or repacked."""
    return {"keep": repo.index.by_pack(), "repack": {}, "delete": {}}


def _classify(repo: Repository, live_ids: Set[bytes]) -> Dict[str, Dict[bytes, List[PackEntry]]]:
    """Sort packs into keep / repack / delete by the share of their bytes that is still referenced."""
    plan: Dict[str, Dict[bytes, List[PackEntry]]] = {"keep": {}, "repack": {}, "delete": {}}
    for pack_id, entries in repo.index.by_pack().items():
        live = [e for e in entries if e.chunk_id in live_ids]
        try:
            size = os.path.getsize(repo.pack_path(pack_id))
        except OSError:
            continue  # a missing pack: verify reports it; nothing to collect
        live_bytes = sum(e.stored_length for e in live)
        if not live:
            plan["delete"][pack_id] = entries
        elif size - live_bytes > size * C.REPACK_GARBAGE_RATIO:
            plan["repack"][pack_id] = live
        else:
            plan["keep"][pack_id] = entries
    return plan


def prune(access: RepositoryAccess, keep_last: int, *, vm: Optional[str] = None, check_mode: bool = False) -> dict:
    """Drop all but the newest ``keep_last`` restore points of each VM (or of ``vm``) and collect garbage.

    One thread whatever ``access.workers`` says: prune reads only pack tables and index files."""
    repository, lock_timeout = access.path, access.lock_timeout
    if keep_last < 1:
        raise DataMoverError("keep_last must be at least 1 (prune never deletes every restore point of a VM)")
    repo = Repository(repository, access.passphrase)
    try:
        with repo.lock(not check_mode, lock_timeout, "prune"):
            if not check_mode:
                repo.clean_tmp()
            repo.load_index()
            unreadable: Dict[str, str] = {}
            dropped, kept = [], []
            for group in points_by_vm(repo, unreadable=unreadable).values():
                in_scope = vm is None or group[0]["vm"] == vm
                dropped += group[:-keep_last] if in_scope else []
                kept += group[-keep_last:] if in_scope else group
            streams_of = readable_chunk_lists(repo, kept, unreadable)
            streams_of.update(chunk_lists_without_record(repo, [p for p in unreadable if p not in streams_of]))
            unknown = set(unreadable) - set(streams_of)
            plan = _keep_every_pack(repo) if unknown else _classify(repo, _referenced(streams_of))
            result = _summary(dropped, plan)
            result.update(damaged=_damage_report(unreadable, unknown), ok=not unreadable)
            if not check_mode and (dropped or plan["repack"] or plan["delete"]):
                _apply(repo, dropped, plan)
    finally:
        repo.close()
    result["changed"] = bool(dropped or plan["repack"] or plan["delete"])
    return result


def _summary(dropped: List[dict], plan: Dict[str, Dict[bytes, List[PackEntry]]]) -> dict:
    return {
        "removed": [{"vm": p["vm"], "id": p["id"]} for p in dropped],
        "packs_deleted": len(plan["delete"]),
        "packs_repacked": len(plan["repack"]),
        "packs_kept": len(plan["keep"]),
        "chunks_deleted": sum(len(v) for v in plan["delete"].values()),
    }


def _apply(repo: Repository, dropped: List[dict], plan: Dict[str, Dict[bytes, List[PackEntry]]]) -> None:
    for point in dropped:  # (1)
        repo.delete_point(point["id"])
    rewrite_packs(repo, plan["keep"], plan["repack"], plan["delete"])  # (2)-(5)
    for name in repo.orphan_chunk_lists():
        repo.remove(C.POINTS_DIR, name)
