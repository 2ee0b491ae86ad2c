"""A writer that loses its repository lock mid-run publishes nothing more (issue 17).

The lock is taken over for real: from the backup's progress callback (a hook between two chunks) an admin
forces the lock away and another proxy's run takes it; the session's lock has a short stale time (injected),
so its lease runs out while the callback waits.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Dict, List

import pytest
import runs
from datamover_fakes import make_image

from ansible_collections.backup.hyperv.plugins.module_utils.datamover.run.jobs import backup_each
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.run.values import BackupEntry, Chunking
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.chunk_store import StoreLimits
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.lock import LockLostError, RepositoryLock
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.lock_admin import unlock

MiB = 1 << 20
STALE = 1.0  # the run's lease is half of it
SMALL = Chunking(block_size=256 << 10, compression="none")  # many chunks and (with LIMITS) many packs
LIMITS = StoreLimits(pack_target=MiB, queued_bytes=0)  # no blob queued ahead: packs are published half way


def packs_of(repo: Path) -> List[str]:
    return sorted(p.name for p in repo.rglob("*.pack"))


class TakeOver:
    """A progress callback that, half way, has another proxy take the lock over, then waits past the lease."""

    def __init__(self, repo: Path) -> None:
        self.repo = repo
        self.taker = RepositoryLock(str(repo / "locks"), exclusive=True, operation="backup", host="proxy2")
        self.packs_then: List[str] = []
        self.removed: List[Dict[str, object]] = []

    def __call__(self, done: int, total: int) -> None:
        if self.removed or done < total // 2:
            return
        self.take_over()
        time.sleep(STALE * 0.6)  # past the lease: the run has lost its lock however its refresher fared
        self.packs_then = packs_of(self.repo)

    def take_over(self) -> None:
        """Once the run has published a pack (the flusher works apart from the reads), unlock it by force and
        take the lock: the run stops at its next durable step, so the packs it published are those before."""
        deadline = time.monotonic() + 30
        while not packs_of(self.repo) and time.monotonic() < deadline:
            time.sleep(0.01)
        self.removed = unlock(str(self.repo / "locks"), force=True)
        self.taker.acquire()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    runs.init(str(repo))
    return repo


@pytest.fixture
def disks(tmp_path: Path) -> List[str]:
    paths = [str(tmp_path / f"disk{seed}.raw") for seed in (1, 2)]
    for seed, path in enumerate(paths, 1):
        make_image(path, 8 * MiB, seed=seed)
    return paths


def test_a_backup_whose_lock_is_taken_over_mid_run_publishes_no_restore_point(repo, disks, fake_disks):
    take_over = TakeOver(repo)
    try:
        session = fake_disks.open_session(str(repo), stale_after=STALE, limits=LIMITS)
        with pytest.raises(LockLostError, match="lost its repository lock") as lost, session:
            session.backup(BackupEntry("vm1", (disks[0],)), SMALL, take_over)
        assert "Run the operation again" in str(lost.value)
        assert [r["operation"] for r in take_over.removed] == ["backup"]  # the lock named its holder's operation
        assert runs.points(str(repo)) == {"vms": {}, "damaged": [], "ok": True}
        assert not os.listdir(repo / "index")
        # no pack published after the loss, and none deleted: the new holder may be indexing them already
        assert take_over.packs_then and packs_of(repo) == take_over.packs_then
        assert '"host": "proxy2"' in (repo / "locks" / "exclusive").read_text()  # closing left the new lock alone
    finally:
        take_over.taker.release()
    with fake_disks.open_session(str(repo)) as session:  # a rerun reuses the packs the lost run left
        assert session.backup(BackupEntry("vm1", (disks[0],)), SMALL)["stats"]["chunks_reused"] > 0


def test_a_job_that_lost_its_lock_fails_its_next_vms_without_reading_them(repo, disks, fake_disks):
    take_over = TakeOver(repo)
    entries = [BackupEntry("vm1", (disks[0],)), BackupEntry("vm2", (disks[1],))]
    try:
        with fake_disks.open_session(str(repo), stale_after=STALE, limits=LIMITS) as session:
            result = backup_each(session, entries, SMALL, take_over)
            read_by_vm1 = fake_disks.bytes_read_total
    finally:
        take_over.taker.release()
    assert result["failed_vms"] == ["vm1", "vm2"]
    assert all("lost its repository lock" in r["msg"] for r in result["results"])
    assert fake_disks.bytes_read_total == read_by_vm1 and read_by_vm1 <= 8 * MiB  # vm2 was never read
    assert runs.points(str(repo)) == {"vms": {}, "damaged": [], "ok": True}


class TakeOverAtOnce(TakeOver):
    """Half way, `unlock --force` and another proxy's lock, with no wait: the run's lease (300 s at the production
    stale time) has not ended and its refresher (every 60 s) has not looked yet."""

    def __call__(self, done: int, total: int) -> None:
        if self.removed or done < total // 2:
            return
        self.take_over()
        self.packs_then = packs_of(self.repo)


def test_a_forced_unlock_stops_the_run_at_its_next_durable_step_not_at_its_next_refresh(repo, disks, fake_disks):
    take_over = TakeOverAtOnce(repo)
    try:
        session = fake_disks.open_session(str(repo), limits=LIMITS)  # the production stale time
        started = time.monotonic()
        with pytest.raises(LockLostError, match="its lock file was removed or taken by another run"), session:
            session.backup(BackupEntry("vm1", (disks[0],)), SMALL, take_over)
        assert time.monotonic() - started < 30  # long before a refresh would have seen it
        assert take_over.packs_then and packs_of(repo) == take_over.packs_then  # nothing published after
        assert runs.points(str(repo)) == {"vms": {}, "damaged": [], "ok": True}
    finally:
        take_over.taker.release()


def test_a_lock_file_read_mid_refresh_is_no_loss_another_runs_record_is(tmp_path: Path) -> None:
    """The holder's check reads its lock file, which its refresher rewrites in place: half a record is left to the
    lease; a whole record with another run's token is a loss."""
    locks = tmp_path / "locks"
    locks.mkdir()
    lock = RepositoryLock(str(locks), exclusive=True, operation="backup")
    lock.acquire()
    try:
        path = locks / "exclusive"
        record = path.read_bytes()
        path.write_bytes(record[: len(record) // 3])
        lock.ensure_held()
        taken = {**json.loads(record), "token": "another run"}
        path.write_bytes(json.dumps(taken).encode())
        with pytest.raises(LockLostError, match="its lock file was removed or taken by another run"):
            lock.ensure_held()
    finally:
        lock.release()
