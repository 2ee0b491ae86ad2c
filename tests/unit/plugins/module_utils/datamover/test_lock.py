"""Repository locks: exclusive vs shared, waiting, clear holder messages, stale lock recovery, unlock.

Holders on other hosts, killed and frozen holders and a Samba share: test_lock_hosts.py."""

from __future__ import annotations

import errno
import json
import os
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest
import runs
from datamover_fakes import make_image

from ansible_collections.backup.hyperv.plugins.module_utils.datamover.base.errors import LockedError, RepositoryError
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.lock import (
    EXCLUSIVE_NAME,
    LockLostError,
    RepositoryLock,
    break_stale,
)
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.lock_admin import unlock
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.lock_holder import UNREADABLE_GRACE


@pytest.fixture
def locks(tmp_path):
    folder = tmp_path / "locks"
    folder.mkdir()
    return str(folder)


def _dead_pid() -> int:
    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid


def test_second_writer_fails_naming_the_holder(locks):
    with RepositoryLock(locks, exclusive=True), pytest.raises(LockedError) as info:
        RepositoryLock(locks, exclusive=True).acquire()
    message = str(info.value)
    assert f"pid {os.getpid()}" in message and socket.gethostname() in message and "since" in message


def test_writer_waits_up_to_its_timeout(locks):
    with RepositoryLock(locks, exclusive=True):
        start = time.monotonic()
        with pytest.raises(LockedError, match=r"after waiting 0\.3 s"):
            RepositoryLock(locks, exclusive=True, timeout=0.3).acquire()
        assert time.monotonic() - start >= 0.3


def test_waiting_writer_gets_the_lock_once_released(locks):
    holder = RepositoryLock(locks, exclusive=True)
    holder.acquire()
    waiter = RepositoryLock(locks, exclusive=True, timeout=30)
    thread = threading.Thread(target=waiter.acquire)
    thread.start()
    holder.release()
    thread.join()
    assert waiter.path is not None
    waiter.release()
    assert os.listdir(locks) == []


def test_readers_share_and_exclude_writers(locks):
    readers = (RepositoryLock(locks, exclusive=False), RepositoryLock(locks, exclusive=False))
    with readers[0], readers[1], pytest.raises(LockedError, match="shared lock"):
        RepositoryLock(locks, exclusive=True).acquire()
    with RepositoryLock(locks, exclusive=True), pytest.raises(LockedError, match="exclusive lock"):
        RepositoryLock(locks, exclusive=False).acquire()


@pytest.mark.parametrize("name", [EXCLUSIVE_NAME, "shared-x-1-abcd"])
def test_lock_of_dead_process_on_this_host_is_recovered(locks, name):
    stale = {"kind": "exclusive", "pid": _dead_pid(), "host": socket.gethostname(), "time": "2020-01-01T00:00:00"}
    with open(os.path.join(locks, name), "w") as handle:
        json.dump(stale, handle)
    with RepositoryLock(locks, exclusive=True) as lock:
        assert os.path.basename(lock.path) == EXCLUSIVE_NAME
    assert os.listdir(locks) == []


def test_lock_of_other_host_is_never_broken(locks):
    foreign = {"kind": "exclusive", "pid": _dead_pid(), "host": "other-host", "time": "2020-01-01T00:00:00"}
    with open(os.path.join(locks, EXCLUSIVE_NAME), "w") as handle:
        json.dump(foreign, handle)
    with pytest.raises(LockedError, match="other-host"):
        RepositoryLock(locks, exclusive=True).acquire()


def test_backup_refuses_while_another_writer_holds_the_repository(tmp_path, fake_disks):
    disk = tmp_path / "d.raw"
    make_image(str(disk), 2 << 20, seed=1)
    repo = tmp_path / "repo"
    runs.init(str(repo))
    with RepositoryLock(str(repo / "locks"), exclusive=True), pytest.raises(LockedError, match=f"pid {os.getpid()}"):
        fake_disks.backup(str(repo), "vm", [str(disk)])
    assert runs.points(str(repo)) == {"vms": {}, "damaged": [], "ok": True}
    fake_disks.backup(str(repo), "vm", [str(disk)])


def test_breaking_a_stale_lock_never_removes_a_live_one_that_replaced_it(locks):
    stale = {"kind": "exclusive", "pid": _dead_pid(), "host": socket.gethostname(), "time": "old"}
    path = os.path.join(locks, EXCLUSIVE_NAME)
    with RepositoryLock(locks, exclusive=True):  # the live lock another process took after we read `stale`
        live = Path(path).read_bytes()
        break_stale(path, stale)
        assert Path(path).read_bytes() == live
    assert os.listdir(locks) == []


def _write_record(locks: str, name: str, **record: object) -> str:
    path = os.path.join(locks, name)
    Path(path).write_text(json.dumps(record))
    return path


def test_a_full_disk_while_locking_leaves_no_lock_and_no_traceback(locks, monkeypatch):
    def disk_full(fd: int, data: bytes) -> int:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    with monkeypatch.context() as patched:
        patched.setattr(os, "write", disk_full)
        with pytest.raises(RepositoryError, match="no space left on device"):
            RepositoryLock(locks, exclusive=True).acquire()
    assert os.listdir(locks) == []
    with RepositoryLock(locks, exclusive=True):
        pass


def test_an_empty_lock_left_by_a_crash_is_unreadable_then_stale_after_the_grace_time(locks):
    path = os.path.join(locks, EXCLUSIVE_NAME)
    Path(path).write_bytes(b"")
    with pytest.raises(LockedError, match="unreadable lock file"):
        RepositoryLock(locks, exclusive=True).acquire()
    old = time.time() - UNREADABLE_GRACE - 1
    os.utime(path, (old, old))
    with RepositoryLock(locks, exclusive=True) as lock:
        assert json.loads(Path(lock.path).read_bytes())["pid"] == os.getpid()


def test_a_reused_pid_does_not_keep_a_dead_holders_lock_alive(locks):
    # our own PID is alive, but the process that wrote this record started at another time
    _write_record(locks, EXCLUSIVE_NAME, kind="exclusive", pid=os.getpid(), host=socket.gethostname(), started="x:1")
    with RepositoryLock(locks, exclusive=True) as lock:
        assert json.loads(Path(lock.path).read_bytes())["started"] not in (None, "x:1")


def test_a_lock_not_refreshed_for_its_stale_time_is_stale_on_any_host(locks):
    silent = time.time() - 5
    _write_record(locks, EXCLUSIVE_NAME, kind="exclusive", pid=1, host="other-host", refreshed=silent, stale_after=4)
    with RepositoryLock(locks, exclusive=True):
        pass


def test_unlock_removes_stale_locks_and_says_whose_they_were_but_leaves_live_ones(locks):
    _write_record(
        locks,
        "shared-other-7-ab",
        kind="shared",
        operation="verify",
        pid=7,
        host="other",
        refreshed=time.time() - 60,
        stale_after=30,
    )
    with RepositoryLock(locks, exclusive=False, operation="restore"):
        removed = unlock(locks)
        assert [(r["lock"], r["host"], r["pid"], r["operation"]) for r in removed] == [
            ("shared-other-7-ab", "other", 7, "verify")
        ]
        assert removed[0]["age"] >= 60 and "not refreshed" in removed[0]["reason"]
        assert len(os.listdir(locks)) == 1  # the live one stays


def test_unlock_with_force_removes_a_live_lock_and_its_holder_notices(locks):
    holder = RepositoryLock(locks, exclusive=True, operation="backup", stale_after=1)
    holder.acquire()
    try:
        (removed,) = unlock(locks, force=True)
        assert (removed["host"], removed["pid"], removed["operation"]) == (socket.gethostname(), os.getpid(), "backup")
        assert removed["reason"] == "removed with force"
        time.sleep(0.35)  # three refresh intervals
        with pytest.raises(LockLostError, match="removed or taken by another run"):
            holder.ensure_held()
    finally:
        holder.release()
    assert os.listdir(locks) == []


def test_a_holder_whose_refresh_is_late_past_its_lease_has_lost_the_lock(locks, monkeypatch):
    holder = RepositoryLock(locks, exclusive=True, stale_after=10)
    holder.acquire()
    try:
        later = time.monotonic() + 6  # past the lease (half the stale time): as if frozen for 6 s
        monkeypatch.setattr(time, "monotonic", lambda: later)
        with pytest.raises(LockLostError, match="not refreshed for more than 5 s"):
            holder.ensure_held()
    finally:
        monkeypatch.undo()
        holder.release()
    assert os.listdir(locks) == []
