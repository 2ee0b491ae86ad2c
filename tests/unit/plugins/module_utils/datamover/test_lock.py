"""Repository locks: exclusive vs shared, waiting, clear holder messages, stale lock recovery."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest
from datamover_fakes import make_image

from ansible_collections.backup.hyperv.plugins.module_utils.datamover import engine
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.base.errors import LockedError
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.lock import (
    EXCLUSIVE_NAME,
    RepositoryLock,
    break_stale,
)


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
    engine.init_repository(str(repo))
    with RepositoryLock(str(repo / "locks"), exclusive=True), pytest.raises(LockedError, match=f"pid {os.getpid()}"):
        fake_disks.backup(str(repo), "vm", [str(disk)])
    assert engine.list_restore_points(str(repo)) == {"vms": {}}
    fake_disks.backup(str(repo), "vm", [str(disk)])


def test_breaking_a_stale_lock_never_removes_a_live_one_that_replaced_it(locks):
    stale = {"kind": "exclusive", "pid": _dead_pid(), "host": socket.gethostname(), "time": "old"}
    path = os.path.join(locks, EXCLUSIVE_NAME)
    with RepositoryLock(locks, exclusive=True):  # the live lock another process took after we read `stale`
        live = Path(path).read_bytes()
        break_stale(path, stale)
        assert Path(path).read_bytes() == live
    assert os.listdir(locks) == []
