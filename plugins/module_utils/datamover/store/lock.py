"""Repository locks: one exclusive lock for writers, any number of shared locks for readers.

Files in ``locks/``: ``exclusive`` (created with O_EXCL, so only one process can win it) and
``shared-<host>-<pid>-<random>``. Each holds JSON naming its holder (pid, host, start time). A process
first creates its own lock file, then looks for conflicting ones, and backs off if it finds a live one,
so two conflicting holders can never both proceed. A lock whose holder is a dead process on this host
is stale and is removed automatically (see ``break_stale`` for how two processes doing so cannot clash).
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import time
from datetime import datetime, timezone
from typing import Optional

from ansible_collections.backup.hyperv.plugins.module_utils.datamover.base.errors import LockedError
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.base.fsutil import (
    O_BINARY,
    fsync_dir,
    remove_quietly,
)
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.constants import LOCK_POLL_INTERVAL

EXCLUSIVE_NAME = "exclusive"


def _holder_record(kind: str) -> bytes:
    record = {
        "kind": kind,
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "time": datetime.now(timezone.utc).isoformat(),
    }
    return json.dumps(record).encode()


def _read_holder(path: str) -> Optional[dict]:
    try:
        with open(path, "rb") as handle:
            return json.loads(handle.read() or b"{}")
    except (OSError, ValueError):
        return None


def _pid_alive(pid: int) -> bool:
    if os.name == "nt":  # os.kill(pid, 0) would terminate the process on Windows
        return _windows_pid_alive(pid)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _windows_pid_alive(pid: int) -> bool:
    import ctypes

    kernel32 = ctypes.windll.kernel32
    handle = kernel32.OpenProcess(0x1000, False, pid)  # PROCESS_QUERY_LIMITED_INFORMATION
    if not handle:
        return kernel32.GetLastError() == 5  # ERROR_ACCESS_DENIED: exists, owned by someone else
    try:
        code = ctypes.c_ulong()
        kernel32.GetExitCodeProcess(handle, ctypes.byref(code))
        return code.value == 259  # STILL_ACTIVE
    finally:
        kernel32.CloseHandle(handle)


def is_stale(holder: Optional[dict]) -> bool:
    """A lock is stale when its holder ran on this host and that process is gone."""
    if not holder or holder.get("host") != socket.gethostname():
        return False
    try:
        return not _pid_alive(int(holder["pid"]))
    except (KeyError, TypeError, ValueError):
        return False


def describe(holder: Optional[dict]) -> str:
    if not holder:
        return "an unknown process"
    return (
        f"pid {holder.get('pid')} on host {holder.get('host')} since {holder.get('time')} ({holder.get('kind')} lock)"
    )


class RepositoryLock:
    """Acquire with ``acquire()``, release with ``release()`` (or use as a context manager)."""

    def __init__(self, locks_dir: str, exclusive: bool, timeout: float = 0) -> None:
        self.locks_dir = locks_dir
        self.exclusive = exclusive
        self.timeout = timeout
        self.path: Optional[str] = None

    def __enter__(self) -> RepositoryLock:
        self.acquire()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.release()

    def acquire(self) -> None:
        deadline = time.monotonic() + max(self.timeout, 0)
        while True:
            blocker = self._try_once()
            if blocker is None:
                return
            if time.monotonic() >= deadline:
                raise LockedError(
                    f"the repository is locked by {describe(blocker)}; "
                    f"gave up after waiting {self.timeout:g} s (raise lock_timeout to wait longer)"
                )
            time.sleep(LOCK_POLL_INTERVAL)

    def release(self) -> None:
        if self.path is not None:
            remove_quietly(self.path)
            fsync_dir(self.locks_dir)
            self.path = None

    def _try_once(self) -> Optional[dict]:
        """Take the lock or return the live conflicting holder (after clearing stale ones)."""
        own = self._create_own()
        if own is None:
            holder = self._conflict_at(os.path.join(self.locks_dir, EXCLUSIVE_NAME))
            if holder is not None:
                return holder
            own = self._create_own()  # the exclusive lock was stale and is gone: try again at once
            if own is None:
                return self._conflict_at(os.path.join(self.locks_dir, EXCLUSIVE_NAME)) or {"kind": "exclusive"}
        blocker = self._find_conflict(own)
        if blocker is None:
            self.path = own
            return None
        remove_quietly(own)
        return blocker

    def _create_own(self) -> Optional[str]:
        kind = "exclusive" if self.exclusive else "shared"
        name = (
            EXCLUSIVE_NAME if self.exclusive else f"shared-{socket.gethostname()}-{os.getpid()}-{os.urandom(4).hex()}"
        )
        path = os.path.join(self.locks_dir, name)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | O_BINARY, 0o644)
        except FileExistsError:
            return None
        try:
            os.write(fd, _holder_record(kind))
            os.fsync(fd)
        finally:
            os.close(fd)
        return path

    def _find_conflict(self, own: str) -> Optional[dict]:
        for name in sorted(os.listdir(self.locks_dir)):
            path = os.path.join(self.locks_dir, name)
            if path == own or (not self.exclusive and name != EXCLUSIVE_NAME):
                continue
            holder = self._conflict_at(path)
            if holder is not None:
                return holder
        return None

    def _conflict_at(self, path: str) -> Optional[dict]:
        """The live holder of lock file ``path``; stale ones are removed and yield None."""
        holder = _read_holder(path)
        if holder is None and not os.path.exists(path):
            return None
        if is_stale(holder):
            break_stale(path, holder)
            return None
        return holder or {"kind": "unknown"}


def break_stale(path: str, holder: dict) -> None:
    """Remove a stale lock file without ever removing a live lock that replaced it meanwhile.

    The file is first renamed to a private name (atomic, so only one process gets it), then checked again;
    if it turns out to be a fresh live lock (another process broke the stale one and took the lock between
    our read and our rename), it is linked back under its name.
    """
    grave = f"{path}.stale-{os.getpid()}-{os.urandom(4).hex()}"
    try:
        os.rename(path, grave)
    except FileNotFoundError:
        return  # another process broke it first
    taken = _read_holder(grave)
    if taken != holder and not is_stale(taken):
        with contextlib.suppress(FileExistsError):
            os.link(grave, path)
    remove_quietly(grave)
