"""Sessions (run/session.py): several VMs against one open repository, one lock, one key unlock."""

from __future__ import annotations

import os

import pytest
import runs
from datamover_fakes import FakeDisk, make_image

from ansible_collections.backup.hyperv.plugins.module_utils.datamover.base.errors import DataMoverError, LockedError
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.run.values import (
    BackupEntry,
    Chunking,
    RestoreEntry,
)
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store import crypto
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.chunk_store import StoreLimits

MiB = 1 << 20
PASSPHRASE = "session passphrase"


class BrokenDisk(FakeDisk):
    """A disk whose read fails from ``FAIL_AT`` on (a source going away in the middle of a backup)."""

    FAIL_AT = 10 * MiB

    def read(self, offset: int, length: int) -> bytes:
        if offset >= self.FAIL_AT:
            raise OSError(5, "Input/output error")
        return super().read(offset, length)


def open_disk(path: str) -> FakeDisk:
    return BrokenDisk(path) if "broken" in os.path.basename(path) else FakeDisk(path)


@pytest.fixture
def disks(tmp_path, fake_disks):
    """Three VM disks: vm1 and vm3 different, 'broken' holds vm3's content but fails half way."""
    fake_disks.opener = open_disk
    paths = {name: tmp_path / "src" / f"{name}.raw" for name in ("vm1", "vm3", "broken")}
    paths["vm1"].parent.mkdir()
    contents = {
        "vm1": make_image(str(paths["vm1"]), 12 * MiB, seed=1),
        "vm3": make_image(str(paths["vm3"]), 16 * MiB, seed=3),
    }
    paths["broken"].write_bytes(paths["vm3"].read_bytes())
    return paths, contents


def packs_of(repo) -> set:
    return {p.name for p in repo.rglob("*.pack")}


def test_session_backs_up_and_restores_several_vms_with_one_unlock(tmp_path, disks, fake_disks, monkeypatch):
    paths, contents = disks
    unlocks = []
    real_kek = crypto._kek
    monkeypatch.setattr(crypto, "_kek", lambda *args: unlocks.append(1) or real_kek(*args))
    repo = str(tmp_path / "repo")
    with fake_disks.open_session(repo, passphrase=PASSPHRASE, encryption="aes-256-gcm") as session:
        first = session.backup(BackupEntry("vm1", (str(paths["vm1"]),)))
        again = session.backup(BackupEntry("vm1-copy", (str(paths["vm1"]),)))
        third = session.backup(BackupEntry("vm3", (str(paths["vm3"]),)))
    assert len(unlocks) == 1  # creating the repository made the key; nothing unlocked it a second time
    assert first["stats"]["chunks_new"] > 0 and again["stats"]["chunks_new"] == 0  # the session's index knew them
    assert third["stats"]["chunks_new"] > 0
    with fake_disks.open_session(repo, passphrase=PASSPHRASE, write=False) as session:
        for vm, source in (("vm1", "vm1"), ("vm1-copy", "vm1"), ("vm3", "vm3")):
            session.restore(RestoreEntry(vm, str(tmp_path / "out" / vm), format="raw"))
            assert (tmp_path / "out" / vm / f"{source}.raw").read_bytes() == contents[source]
        assert session.verify()["ok"]
    assert len(unlocks) == 2  # one per session


def test_a_session_holds_its_lock_until_closed(tmp_path, disks, fake_disks):
    paths, _contents = disks
    repo = str(tmp_path / "repo")
    session = fake_disks.open_session(repo)
    session.backup(BackupEntry("vm1", (str(paths["vm1"]),)))
    with pytest.raises(LockedError):
        fake_disks.backup(repo, "vm3", [str(paths["vm3"])])
    with pytest.raises(LockedError):
        runs.restore(repo, "vm1", str(tmp_path / "out"))
    session.backup(BackupEntry("vm3", (str(paths["vm3"]),)))  # between two VMs of the job, nobody got in
    session.close()
    assert fake_disks.backup(repo, "vm3", [str(paths["vm3"])])["stats"]["chunks_new"] == 0
    assert not os.listdir(os.path.join(repo, "locks"))


def test_a_reading_session_shares_its_lock_and_refuses_to_write(tmp_path, disks, fake_disks):
    paths, _contents = disks
    repo = str(tmp_path / "repo")
    fake_disks.backup(repo, "vm1", [str(paths["vm1"])])
    with fake_disks.open_session(repo, write=False) as reader, fake_disks.open_session(repo, write=False) as other:
        with pytest.raises(DataMoverError, match="opened for reading"):
            reader.backup(BackupEntry("vm1", (str(paths["vm1"]),)))
        with pytest.raises(LockedError):
            fake_disks.backup(repo, "vm1", [str(paths["vm1"])])
        assert other.verify(vm="vm1")["ok"]
    with pytest.raises(DataMoverError, match="no repository"):
        fake_disks.open_session(str(tmp_path / "missing"), write=False)


def test_a_failed_vm_leaves_nothing_and_the_next_vm_stores_its_chunks_again(tmp_path, disks, fake_disks):
    """The failed backup wrote packs (small ones here) before failing: they are deleted and forgotten by the
    session's index, so vm3, with the same content, must store those chunks anew rather than point at them."""
    limits = StoreLimits(pack_target=MiB, packs_in_flush=0)  # each finished pack is indexed before the next chunk
    paths, contents = disks
    repo = tmp_path / "repo"
    small = 256 << 10  # small chunks: many of them are stored before the read fails
    with fake_disks.open_session(str(repo), limits=limits) as session:
        session.backup(BackupEntry("vm1", (str(paths["vm1"]),)), Chunking(block_size=small))
        before = packs_of(repo)
        with pytest.raises(DataMoverError, match="offset"):
            session.backup(BackupEntry("broken", (str(paths["broken"]),)), Chunking(block_size=small))
        assert packs_of(repo) == before and not os.listdir(repo / "tmp")
        result = session.backup(BackupEntry("vm3", (str(paths["vm3"]),)), Chunking(block_size=small))
    assert result["stats"]["chunks_reused"] == 0 and result["stats"]["chunks_new"] > 0
    assert sorted(runs.points(str(repo))["vms"]) == ["vm1", "vm3"]
    runs.restore(str(repo), "vm3", str(tmp_path / "out"), format="raw")
    assert (tmp_path / "out" / "vm3.raw").read_bytes() == contents["vm3"]
    assert runs.verify(str(repo))["ok"]


def test_a_session_creates_the_repository_only_when_a_backup_can_start(tmp_path, disks, fake_disks):
    paths, _contents = disks
    repo = tmp_path / "repo"
    with fake_disks.open_session(str(repo)) as session:
        with pytest.raises(DataMoverError, match="does not exist"):
            session.backup(BackupEntry("vm1", (str(tmp_path / "gone.raw"),)))
        assert not repo.exists()
        with pytest.raises(DataMoverError, match="no repository"):
            session.restore(RestoreEntry("vm1", str(tmp_path / "out")))
        session.backup(BackupEntry("vm1", (str(paths["vm1"]),)))
    assert (repo / "config").exists()


def test_check_mode_session_estimates_without_creating_anything(tmp_path, disks, fake_disks):
    paths, _contents = disks
    repo = tmp_path / "repo"
    with fake_disks.open_session(str(repo), check_mode=True) as session:
        estimates = [session.backup(BackupEntry(vm, (str(paths[vm]),))) for vm in ("vm1", "vm3")]
    assert not repo.exists()
    assert all(e["restore_point"] is None and e["stats"]["bytes_stored"] > 0 for e in estimates)
