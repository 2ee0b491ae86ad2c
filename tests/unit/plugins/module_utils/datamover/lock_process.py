"""A repository lock holder run as its own process by the lock tests, presenting the host name it is given.

It takes the exclusive lock, prints ``locked``, then works: every ``--pause`` seconds it checks it still holds
the lock (``ensure_held``, as a writer does before each durable step) and appends ``<host> <n>`` to the work
log. Exit status: 0 done, 2 could not lock, 3 lost the lock (its message on stderr).
With ``--smb host:port:user:password`` every file operation goes to that SMB3 server (paths are UNC).
"""

from __future__ import annotations

import argparse
import sys
import time

from smb_lock_files import SmbLockFiles

from ansible_collections.backup.hyperv.plugins.module_utils.datamover.base.errors import LockedError
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.lock import LockLostError, RepositoryLock
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.lock_files import LOCAL_FILES


def main() -> int:
    parser = argparse.ArgumentParser()
    for name in ("--locks", "--host", "--log"):
        parser.add_argument(name, required=True)
    parser.add_argument("--stale-after", type=float, required=True)
    parser.add_argument("--timeout", type=float, default=0)
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--pause", type=float, default=0.1)
    parser.add_argument("--smb")
    args = parser.parse_args()
    files = SmbLockFiles.from_spec(args.smb) if args.smb else LOCAL_FILES
    lock = RepositoryLock(
        args.locks, True, args.timeout, operation="backup", stale_after=args.stale_after, host=args.host, files=files
    )
    try:
        lock.acquire()
    except LockedError as exc:
        print(exc, file=sys.stderr)
        return 2
    print("locked", flush=True)
    try:
        for step in range(args.steps):
            time.sleep(args.pause)
            lock.ensure_held()
            append_line(files, args.log, f"{args.host} {step}\n")
    except LockLostError as exc:
        print(exc, file=sys.stderr)
        return 3
    finally:
        lock.release()
    return 0


def append_line(files: object, path: str, line: str) -> None:
    if isinstance(files, SmbLockFiles):
        files.append(path, line.encode())
        return
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(line)


if __name__ == "__main__":
    sys.exit(main())
