"""Repository locks: one exclusive lock for writers, any number of shared locks for readers, across hosts.

Files in ``locks/``: ``exclusive`` and ``shared-<host>-<pid>-<random>``. Each holds a JSON record naming its
holder (host, pid, process start time, operation), a random token, and ``refreshed``: when the holder last
said it is alive. A process first creates its own lock file, then looks for conflicting ones, and backs off
if it finds a live one, so two conflicting holders can never both proceed.

Creation is atomic: the record is written to a private temporary name, then linked into place (a hard link
fails if the name exists; where the file system has none, a rename that refuses to replace, or, last, an
exclusive create). A crash or a full disk therefore never leaves an empty lock behind (see lock_files.py for
what SMB3 guarantees for each step).

Staleness (``stale_reason``): a lock is stale when its holder has not refreshed it for ``stale_after``
seconds (the holder's own value, in its record), whatever host it runs on, and at once when its holder ran on
this host and that process is gone (a reused PID is told apart by the process start time). The holder
refreshes every ``stale_after / REFRESH_DIVISOR`` seconds from a background thread. An unreadable lock file
(damaged, or left by an older version) is stale once ``UNREADABLE_GRACE`` old.

Losing a lock: a holder trusts its lock for ``stale_after / LEASE_DIVISOR`` after its last completed refresh
(its lease; the rest of ``stale_after`` absorbs clock differences between hosts). A holder that was frozen
(SIGSTOP, a suspended VM) or cut off from the share past its lease, or whose lock file was removed or taken,
has lost the lock: ``ensure_held()`` raises ``LockLostError``, and a writer calls it before each step that
makes something durable. A check and the write after it are not one atomic step; a plain file share offers
no fencing, so a freeze longer than the lease that falls exactly between them is the remaining gap.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import threading
import time
from datetime import datetime, timezone
from typing import Dict, Optional

from ansible_collections.backup.hyperv.plugins.module_utils.datamover.base.errors import LockedError, RepositoryError
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.base.fsutil import describe_os_error
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.constants import LOCK_POLL_INTERVAL
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.lock_files import (
    LOCAL_FILES,
    LockFiles,
    is_errno,
)
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.lock_holder import (
    STALE_AFTER,
    UNREADABLE,
    describe,
    process_start,
    stale_reason,
    this_host,
)
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.lock_place import (
    is_lock_name,
    place_new,
    read_record,
    take_away,
)

EXCLUSIVE_NAME = "exclusive"
REFRESH_DIVISOR = 10  # the holder refreshes every stale_after / 10 (every minute by default)
LEASE_DIVISOR = 2  # the holder trusts its lock for stale_after / 2 after a refresh: 5 min of clock skew allowed
RECORD_SIZE = 512  # records are padded to one size, so a refresh overwrites the file in place


class LockLostError(LockedError):
    """This process's repository lock went stale or was removed while it held it."""


class RepositoryLock:
    """Acquire with ``acquire()``, release with ``release()`` (or use as a context manager).

    ``stale_after``: seconds without a refresh after which others may break this lock (tests pass a short
    one). ``host``: the host name recorded and compared (tests pass one to act as several hosts).
    ``files``: the file operations (tests pass an SMB3 client's).
    """

    def __init__(
        self,
        locks_dir: str,
        exclusive: bool,
        timeout: float = 0,
        *,
        operation: Optional[str] = None,
        stale_after: float = STALE_AFTER,
        host: Optional[str] = None,
        files: LockFiles = LOCAL_FILES,
    ) -> None:
        self.locks_dir, self.exclusive, self.timeout = locks_dir, exclusive, timeout
        self.operation, self.stale_after = operation, stale_after
        self.host = host or this_host()
        self.files = files
        self.path: Optional[str] = None
        self.lost: Optional[str] = None  # why this process lost its lock, once it has
        self._record: Dict[str, object] = {}
        self._lease_end = 0.0
        self._state = threading.Lock()
        self._stop = threading.Event()
        self._refresher: Optional[threading.Thread] = None

    def __enter__(self) -> RepositoryLock:
        self.acquire()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.release()

    def acquire(self) -> None:
        deadline = time.monotonic() + max(self.timeout, 0)
        while True:
            try:
                blocker = self._try_once()
            except OSError as exc:
                raise RepositoryError(describe_os_error("locking the repository in", self.locks_dir, exc)) from exc
            if blocker is None:
                self._start_refresher()
                return
            if time.monotonic() >= deadline:
                raise LockedError(
                    f"the repository is locked by {describe(blocker)}; gave up after waiting {self.timeout:g} s "
                    "(raise lock_timeout to wait longer; a lock of a crashed run goes stale by itself after "
                    f"{self.stale_after:g} s, or remove it with unlock)"
                )
            time.sleep(LOCK_POLL_INTERVAL)

    def ensure_held(self) -> None:
        """Raise ``LockLostError`` unless this process still holds its lock; call it before each durable write.

        Besides the lease, the lock file itself is read: one removed (``unlock --force``, or by hand) or taken by
        another run stops this one at its next durable step, not at its next refresh up to a minute later, when
        the other run may already be pruning what this one is about to reference."""
        with self._state:
            if self.lost is None and time.monotonic() > self._lease_end:
                self.lost = f"it was not refreshed for more than {self.stale_after / LEASE_DIVISOR:g} s"
            lost, path, token = self.lost, self.path, self._token()
        if lost is None and path is not None and not self._file_is_ours(path, token):
            with self._state:
                self.lost = self.lost or "its lock file was removed or taken by another run"
                lost = self.lost
        if lost is not None:
            raise LockLostError(
                f"this run lost its repository lock ({lost}), so it stopped before writing more; another run may "
                "have taken the repository over. Run the operation again (check the share and the host if it "
                "happens again)"
            )

    def _file_is_ours(self, path: str, token: object) -> bool:
        """Whether the lock file still holds this run's token. Gone, or another run's record: no. A share that
        cannot be read now, or a record read while the refresher rewrote it in place (not JSON): left to the lease,
        as a refresh that fails is."""
        try:
            content = self.files.read(path)
        except OSError as exc:
            return not is_errno(exc, errno.ENOENT)
        try:
            record = json.loads(content)
        except ValueError:
            return True
        return isinstance(record, dict) and record.get("token") == token

    def release(self) -> None:
        self._stop.set()
        if self._refresher is not None:
            self._refresher.join()
            self._refresher = None
        if self.path is None:
            return
        path, self.path = self.path, None
        with contextlib.suppress(OSError):  # left behind, it goes stale by itself: nothing a caller could do
            take_away(self.files, path, self._is_own)

    # --- acquiring ----------------------------------------------------------------------------------------------
    def _try_once(self) -> Optional[dict]:
        """Take the lock or return the live conflicting holder (after clearing stale ones)."""
        started = time.monotonic()
        own = self._create_own()
        if own is None:
            holder = self._conflict_at(EXCLUSIVE_NAME)
            if holder is not None:
                return holder
            own = self._create_own()  # the exclusive lock was stale and is gone: try again at once
            if own is None:
                return self._conflict_at(EXCLUSIVE_NAME) or {"kind": "exclusive"}
        blocker = self._find_conflict(own)
        if blocker is None:
            self.path, self._lease_end, self.lost = own, started + self.stale_after / LEASE_DIVISOR, None
            return None
        take_away(self.files, own, self._is_own)
        return blocker

    def _token(self) -> object:
        return self._record.get("token")

    def _is_own(self, holder: dict) -> bool:
        return holder is not UNREADABLE and holder.get("token") == self._token()

    def _create_own(self) -> Optional[str]:
        name = EXCLUSIVE_NAME if self.exclusive else f"shared-{self.host}-{os.getpid()}-{os.urandom(4).hex()}"
        self._record = {
            "kind": "exclusive" if self.exclusive else "shared",
            "operation": self.operation,
            "host": self.host,
            "pid": os.getpid(),
            "started": process_start(os.getpid()),
            "token": os.urandom(8).hex(),
            "acquired": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "stale_after": self.stale_after,
        }
        path = self.files.join(self.locks_dir, name)
        return path if place_new(self.files, self.locks_dir, path, self._encode()) else None

    def _encode(self) -> bytes:
        self._record["refreshed"] = round(time.time(), 3)
        return json.dumps(self._record).encode().ljust(RECORD_SIZE)

    def _find_conflict(self, own: str) -> Optional[dict]:
        for name in sorted(self.files.listdir(self.locks_dir)):
            if not is_lock_name(name) or self.files.join(self.locks_dir, name) == own:
                continue
            if not self.exclusive and name != EXCLUSIVE_NAME:
                continue
            holder = self._conflict_at(name)
            if holder is not None:
                return holder
        return None

    def _conflict_at(self, name: str) -> Optional[dict]:
        """The live holder of lock file ``name``; stale ones are removed and yield None."""
        path = self.files.join(self.locks_dir, name)
        found = read_record(self.files, path)
        if found is None:
            return None
        holder, age = found
        if stale_reason(holder, age, self.host) is None:
            return holder
        break_stale(path, holder, host=self.host, files=self.files)
        return None

    # --- refreshing ---------------------------------------------------------------------------------------------
    def _start_refresher(self) -> None:
        self._stop.clear()
        self._refresher = threading.Thread(target=self._refresh_loop, name="repository-lock-refresh", daemon=True)
        self._refresher.start()

    def _refresh_loop(self) -> None:
        while not self._stop.wait(self.stale_after / REFRESH_DIVISOR):
            if not self._refresh_once():
                return

    def _refresh_once(self) -> bool:
        """Refresh the lock file; False once the lock is lost (then there is nothing left to refresh)."""
        started = time.monotonic()
        with self._state:
            if self.lost is None and started > self._lease_end:
                self.lost = "it could not be refreshed in time"
            if self.lost is not None or self.path is None:
                return False
            path, token, data = self.path, self._token(), self._encode()
        try:
            ours = self.files.rewrite(path, lambda content: _token_of(content) == token, data)
        except OSError:
            return True  # the share may be back before the lease ends; ensure_held decides
        with self._state:
            if not ours:
                self.lost = "its lock file was removed or taken by another run"
            elif time.monotonic() > self._lease_end:  # the write may have raced one that broke the lock
                self.lost = "it could not be refreshed in time"
            else:
                self._lease_end = started + self.stale_after / LEASE_DIVISOR
            return self.lost is None


def _token_of(content: bytes) -> object:
    try:
        return json.loads(content).get("token")
    except (ValueError, AttributeError):
        return None


def break_stale(
    path: str, holder: Optional[dict], *, host: Optional[str] = None, files: LockFiles = LOCAL_FILES
) -> None:
    """Remove the stale lock file ``path`` (read as ``holder``), never a live lock that replaced it meanwhile."""
    host = host or this_host()

    def still_stale(found: dict) -> bool:
        if found is UNREADABLE or holder is UNREADABLE:
            return found is holder
        return found == holder or stale_reason(found, 0.0, host) is not None

    with contextlib.suppress(OSError):  # busy or gone: the next attempt looks again
        take_away(files, path, still_stale)
