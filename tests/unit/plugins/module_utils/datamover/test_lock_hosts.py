"""Repository locks held by separate processes acting as different hosts: a killed holder, a frozen holder,
and a repository on a real SMB3 share served by Samba. Stale times are short (the holder's parameter)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import List, Optional

import pytest
from samba_server import samba_share

from ansible_collections.backup.hyperv.plugins.module_utils.datamover.base.errors import LockedError
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.lock import (
    EXCLUSIVE_NAME,
    REFRESH_DIVISOR,
    RepositoryLock,
)

STALE = 1.5
HERE = Path(__file__).parent


def start_holder(locks: str, host: str, log: str, *, timeout: float = 0, steps: int = 1000, smb: Optional[str] = None):
    command = [sys.executable, str(HERE / "lock_process.py"), "--locks", locks, "--host", host, "--log", log]
    command += ["--stale-after", str(STALE), "--timeout", str(timeout), "--steps", str(steps), "--pause", "0.1"]
    command += ["--smb", smb] if smb else []
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    holder = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    return holder


def wait_locked(holder: subprocess.Popen) -> float:
    line = holder.stdout.readline()
    assert line == "locked\n", holder.stderr.read()
    return time.monotonic()


def wait_for_lines(log: Path, host: str, count: int) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if log.exists() and sum(line.startswith(host) for line in log.read_text().splitlines()) >= count:
            return
        time.sleep(0.02)
    raise AssertionError(f"{host} wrote fewer than {count} lines")


def hosts_in_order(log: Path) -> List[str]:
    return [line.split()[0] for line in log.read_text().splitlines()]


@pytest.fixture
def locks(tmp_path):
    folder = tmp_path / "locks"
    folder.mkdir()
    return folder


def test_lock_of_a_killed_holder_on_another_host_goes_stale_and_the_next_one_goes_on(locks, tmp_path):
    log = tmp_path / "work.log"
    first = start_holder(str(locks), "host-a", str(log))
    wait_locked(first)
    wait_for_lines(log, "host-a", 2)
    first.kill()
    first.wait()
    killed = time.monotonic()
    with pytest.raises(LockedError, match="host-a"):  # another host's PID means nothing here: not stale yet
        RepositoryLock(str(locks), True, host="host-b", stale_after=STALE).acquire()
    second = start_holder(str(locks), "host-b", str(log), timeout=15, steps=3)
    locked = wait_locked(second)
    assert second.wait(timeout=15) == 0, second.stderr.read()
    assert locked - killed >= STALE - STALE / REFRESH_DIVISOR - 0.1
    assert hosts_in_order(log)[-3:] == ["host-b"] * 3
    assert os.listdir(locks) == []


def test_a_frozen_holder_loses_its_lock_and_stops_writing_when_it_resumes(locks, tmp_path):
    log = tmp_path / "work.log"
    frozen = start_holder(str(locks), "host-a", str(log))
    wait_locked(frozen)
    wait_for_lines(log, "host-a", 2)
    frozen.send_signal(signal.SIGSTOP)
    try:
        taker = start_holder(str(locks), "host-b", str(log), timeout=15, steps=20)
        wait_locked(taker)
        wait_for_lines(log, "host-b", 1)
    finally:
        frozen.send_signal(signal.SIGCONT)
    assert frozen.wait(timeout=10) == 3
    assert "lost its repository lock" in frozen.stderr.read()
    assert taker.wait(timeout=15) == 0, taker.stderr.read()
    order = hosts_in_order(log)
    assert "host-a" not in order[order.index("host-b") :], "the frozen holder wrote after losing its lock"
    assert os.listdir(locks) == []


def test_a_held_lock_stays_live_past_the_stale_time_because_its_holder_refreshes_it(locks):
    # a stale time of 2 s: a lease of 1 s that a busy test machine's scheduler cannot eat (0.5 s gave 0.25 s, and
    # one refresh thread starved that long under the full suite lost the lock)
    with RepositoryLock(str(locks), True, host="host-a", stale_after=2.0) as holder:
        time.sleep(4.5)
        with pytest.raises(LockedError, match=r"host-a.*refreshed 0 s ago"):
            RepositoryLock(str(locks), True, host="host-b").acquire()
        holder.ensure_held()


def test_two_writers_on_a_samba_share_one_killed_the_other_goes_on_after_the_stale_time(tmp_path):
    started = time.monotonic()
    with samba_share(tmp_path) as share:
        (share.folder / "repo" / "locks").mkdir(parents=True)
        locks, log = share.path("repo", "locks"), share.path("repo", "work.log")
        first = start_holder(locks, "proxy-1", log, smb=share.smb_spec)
        wait_locked(first)
        wait_for_lines(share.folder / "repo" / "work.log", "proxy-1", 2)
        record = json.loads((share.folder / "repo" / "locks" / EXCLUSIVE_NAME).read_bytes())
        assert (record["host"], record["operation"]) == ("proxy-1", "backup")
        second = start_holder(locks, "proxy-2", log, timeout=15, steps=3, smb=share.smb_spec)
        time.sleep(0.5)
        assert second.poll() is None, second.stderr.read()  # waiting: the first writer refreshes its lock over SMB
        first.kill()
        first.wait()
        killed = time.monotonic()
        locked = wait_locked(second)
        assert second.wait(timeout=15) == 0, second.stderr.read()
        assert locked - killed >= STALE - STALE / REFRESH_DIVISOR - 0.1
        assert hosts_in_order(share.folder / "repo" / "work.log")[-3:] == ["proxy-2"] * 3
        assert os.listdir(share.folder / "repo" / "locks") == []
        print(f"Samba share reached through {share.transport}")
    assert time.monotonic() - started < 30
