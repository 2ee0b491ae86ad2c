"""Rewrite packs: copy the chunks to keep of some packs into new packs, index them with the packs kept as they
are, then delete the old index files and the rewritten and unwanted packs. Prune repacks mostly-garbage packs;
repair rewrites packs that held a damaged chunk or a damaged entry table, so that no pack's own table still
lists a copy that does not read back (a later rebuild of the index from the tables would bring it back, and
prune could then delete the only good copy).

Order, so that a crash at any step never breaks a listed restore point: (1) copy the chunks into new packs;
(2) publish one new index of the packs kept and the new ones; (3) delete the old index files; (4) delete the
rewritten and unwanted packs. A crash between steps leaves only extra data (unreferenced or unindexed packs,
old index files), which the next prune or repair removes.
"""

from __future__ import annotations

from typing import Dict, Iterable, List, Set

from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store import constants as C
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.chunk_store import StoreSession
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.pack import PackEntry
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.repository import Repository

Packs = Dict[bytes, List[PackEntry]]


def rewrite_packs(repo: Repository, keep: Packs, rewrite: Packs, delete: Iterable[bytes]) -> None:
    """``keep``: packs indexed as they are; ``rewrite``: per pack, the entries whose chunks move to new packs
    (the pack is then deleted); ``delete``: packs deleted with nothing copied. The caller holds the exclusive
    lock."""
    session = StoreSession(repo, _FreshIndex())
    try:  # (1)
        for pack_id, entries in rewrite.items():
            for entry in entries:
                stored = repo.read_blob(pack_id, entry.offset, entry.stored_length)
                session.store(entry.chunk_id, stored, entry.raw_length, entry.flags)
        repo.unindexed = dict(keep)  # (2) the new index covers the kept packs and the new ones
        old_index_files = repo.index_files()
        session.commit()
    except BaseException:
        session.abort()
        raise
    for name in old_index_files:  # (3)
        repo.remove(C.INDEX_DIR, name)
    for pack_id in [*delete, *rewrite]:  # (4)
        repo.remove(C.PACKS_DIR, pack_id.hex()[:2], pack_id.hex() + C.PACK_SUFFIX)


class _FreshIndex:
    """Dedup only among the chunks being copied (the old packs still hold them until step 4)."""

    def __init__(self) -> None:
        self._ids: Set[bytes] = set()

    def __contains__(self, chunk_id: bytes) -> bool:
        return chunk_id in self._ids

    def add_pack(self, pack_id: bytes, entries: List[PackEntry]) -> None:
        self._ids.update(e.chunk_id for e in entries)
