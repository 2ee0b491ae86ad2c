"""A backup run as its own process by the fault-injection suite, killed (``os._exit``, no cleanup of any kind, as
``kill -9``) at one write point: just before or just after its Nth occurrence.

Write points: ``pack`` (a pack renamed into place), ``index`` (an index file published), ``chunks`` (a chunk
list published), ``point`` (a restore point record published), ``refresh`` (the lock's refresh rewriting its
file; the disk is read slowly and the lock's stale time is short, so refreshes happen during the backup).
Prints ``done`` when the backup finished without reaching the point (that case was not tried).
"""

from __future__ import annotations

import argparse
import os
import time
from typing import Any, Callable

from datamover_fakes import FakeDisk
from runs import open_session

from ansible_collections.backup.hyperv.plugins.module_utils.datamover.run.values import BackupEntry
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store import pack, repository
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.chunk_store import StoreLimits
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.lock_files import LocalLockFiles

KILLED = 137


def cut(step: Callable[..., Any], when: str, nth: int, matches: Callable[..., bool]) -> Callable[..., Any]:
    """``step`` that kills the process before or after its ``nth`` call that ``matches``."""
    seen = [0]

    def wrapped(*args: Any, **kwargs: Any) -> Any:
        hit = matches(*args)
        seen[0] += hit
        if hit and seen[0] == nth and when == "before":
            os._exit(KILLED)
        result = step(*args, **kwargs)
        if hit and seen[0] == nth and when == "after":
            os._exit(KILLED)
        return result

    return wrapped


def install(point: str, when: str, nth: int) -> None:
    if point == "pack":
        pack.rename_durably = cut(pack.rename_durably, when, nth, lambda source, target: True)
    elif point in ("index", "chunks", "point"):
        suffix = {"index": ".idx", "chunks": ".chunks", "point": ".point"}[point]
        repository.publish = cut(repository.publish, when, nth, lambda path, *_rest: path.endswith(suffix))
    else:  # refresh
        LocalLockFiles.rewrite = cut(LocalLockFiles.rewrite, when, nth, lambda *_args: True)
        slow_read = FakeDisk.read

        def read(self: FakeDisk, offset: int, length: int) -> bytes:
            time.sleep(0.05)
            return slow_read(self, offset, length)

        FakeDisk.read = read


def main() -> int:
    parser = argparse.ArgumentParser()
    for name in ("--repo", "--disk", "--vm", "--point", "--when"):
        parser.add_argument(name, required=True)
    parser.add_argument("--nth", type=int, required=True)
    args = parser.parse_args()
    install(args.point, args.when, args.nth)
    tuning = {"limits": StoreLimits(pack_target=1 << 20), "stale_after": 1.0}
    with open_session(args.repo, disk_opener=FakeDisk, **tuning) as session:
        session.backup(BackupEntry(args.vm, (args.disk,)))
    print("done", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
