"""Pack writes off the recording thread (issue 18): a backup's chunk results never wait for the disk while
the append queue has room, and an append's error still reaches the backup."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Dict, List

import pytest

from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.append_queue import AppendQueue
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.chunk_store import StoreLimits, StoreSession
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.index import Index
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.pack import (
    PackEntry,
    PackWriter,
    read_pack_entries,
)

MiB = 1 << 20
WAIT = 10.0  # seconds a thread may take to do what it should (generous: the machine is shared)


class PackFolder:
    """What a store session needs of a repository, writing real packs into a folder."""

    def __init__(self, root: Path) -> None:
        self.root = root
        (root / "tmp").mkdir(parents=True)
        self.commit_lock = threading.Lock()
        self.unindexed: Dict[bytes, List[PackEntry]] = {}
        self.damaged_index_files: List[str] = []
        self.indexed: Dict[bytes, List[PackEntry]] = {}

    def pack_path(self, pack_id: bytes) -> str:
        return str(self.root / "packs" / f"{pack_id.hex()}.pack")

    def new_pack_writer(self) -> PackWriter:
        pack_id = os.urandom(16)
        return PackWriter(str(self.root / "tmp"), self.pack_path(pack_id), pack_id, None)

    def write_index(self, packs: Dict[bytes, List[PackEntry]]) -> None:
        self.indexed.update(packs)

    def holds_lock(self) -> bool:
        return True


def test_store_returns_while_the_pack_append_waits_for_the_disk(tmp_path, monkeypatch):
    disk_free = threading.Event()
    real_add = PackWriter.add

    def slow_add(writer, *blob):  # a disk busy with another writer
        assert disk_free.wait(WAIT)
        return real_add(writer, *blob)

    monkeypatch.setattr(PackWriter, "add", slow_add)
    folder = PackFolder(tmp_path)
    session = StoreSession(folder, Index(), StoreLimits(queued_bytes=4 * MiB))
    stored = threading.Event()

    def record() -> None:
        for n in range(3):
            session.store(bytes([n]) * 32, bytes([n]) * MiB, MiB, 0)
        stored.set()

    recorder = threading.Thread(target=record)
    recorder.start()
    assert stored.wait(WAIT), "store() waited for the pack write"
    assert session.known(bytes([2]) * 32)  # pending: a second copy of the chunk is not stored again
    disk_free.set()
    recorder.join()
    session.commit()
    [(pack_id, entries)] = folder.indexed.items()
    assert [e.chunk_id for e in entries] == [bytes([n]) * 32 for n in range(3)]
    assert read_pack_entries(folder.pack_path(pack_id), None) == entries


def test_a_failed_append_reaches_the_backup_and_drops_the_pack(tmp_path, monkeypatch):
    def full_disk(writer, *blob):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(PackWriter, "add", full_disk)
    folder = PackFolder(tmp_path)
    session = StoreSession(folder, Index(), StoreLimits(queued_bytes=MiB))
    session.store(b"a" * 32, b"x" * MiB, MiB, 0)
    with pytest.raises(OSError, match="No space"):
        session.store(b"b" * 32, b"y" * MiB, MiB, 0)  # waits for room, finds the first append failed
        session.commit()
    session.abort()
    assert not folder.indexed and not os.listdir(tmp_path / "tmp")


def test_the_queue_holds_at_most_its_limit_and_appends_in_order():
    appended: List[int] = []
    gate = threading.Event()
    queue = AppendQueue(lambda item: (gate.wait(WAIT), appended.append(item)), limit=3, wake_bytes=1, name="test")
    for item in range(3):
        queue.put(item, 1)  # room for three: none of these waits
    blocked = threading.Thread(target=queue.put, args=(3, 1))
    blocked.start()
    blocked.join(0.2)
    assert blocked.is_alive()  # the fourth waits for room
    gate.set()
    blocked.join(WAIT)
    queue.drain()
    assert appended == [0, 1, 2, 3]
    queue.close()
