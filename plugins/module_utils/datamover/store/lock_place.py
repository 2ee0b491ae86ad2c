"""Putting a lock file in place and taking one away, each without a moment where the wrong file is there.

Placing: the complete record is written under a private temporary name (``.tmp~<random>``), then given the
lock's name by a step that fails if the name exists: a hard link, else a rename that refuses to replace (only
where that is atomic), else, last, an exclusive create of the lock itself (a crash in its write leaves an
unreadable lock, which goes stale after a grace time). A write that fails (a full disk) removes what it made.

Taking away: the lock file is renamed to a private name (``<lock>~stale~<random>``, atomic, so only one
process gets it), read again, and put back if it turns out to be another lock than the one meant (a live
holder took the lock between our read and our rename).
"""

from __future__ import annotations

import errno
import json
import os
import time
from typing import Callable, Optional, Tuple

from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.lock_files import LockFiles, is_errno
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.lock_holder import UNREADABLE

TMP_PREFIX = ".tmp~"
GRAVE_MARK = "~stale~"  # "~" is not allowed in host names, so no lock name contains it


def is_lock_name(name: str) -> bool:
    return (name == "exclusive" or name.startswith("shared-")) and GRAVE_MARK not in name


def read_record(files: LockFiles, path: str) -> Optional[Tuple[dict, float]]:
    """The record of lock file ``path`` (``UNREADABLE`` if not one) and its age in seconds; None if missing."""
    try:
        content = files.read(path)
        age = time.time() - files.mtime(path)
    except OSError as exc:
        if is_errno(exc, errno.ENOENT):
            return None
        raise
    try:
        record = json.loads(content)
    except ValueError:
        return UNREADABLE, age
    return (record, age) if isinstance(record, dict) else (UNREADABLE, age)


def place_new(files: LockFiles, folder: str, path: str, data: bytes) -> bool:
    """Create lock file ``path`` holding ``data`` atomically; False if it exists."""
    tmp = files.join(folder, f"{TMP_PREFIX}{os.urandom(6).hex()}")
    files.write_new(tmp, data)  # a failed write removes the file it created
    try:
        return _give_name(files, tmp, path, data)
    finally:
        files.remove(tmp)  # after a link, the second name; after a rename, nothing is left


def _give_name(files: LockFiles, tmp: str, path: str, data: bytes) -> bool:
    try:
        files.link(tmp, path)
        return True
    except OSError as exc:
        if is_errno(exc, errno.EEXIST):
            return False  # any other error: no hard links here (or no room for one); try the next way
    try:
        files.rename_noreplace(tmp, path)
        return True
    except NotImplementedError:
        pass
    except OSError as exc:
        if is_errno(exc, errno.EEXIST):
            return False
        raise
    try:
        files.write_new(path, data)
        return True
    except OSError as exc:
        if is_errno(exc, errno.EEXIST):
            return False
        raise


def take_away(files: LockFiles, path: str, is_meant: Callable[[dict], bool]) -> bool:
    """Remove lock file ``path`` if its record satisfies ``is_meant``; True if removed."""
    grave = f"{path}{GRAVE_MARK}{os.urandom(4).hex()}"
    try:
        files.rename(path, grave)
    except OSError as exc:
        if is_errno(exc, errno.ENOENT):
            return False  # someone else took it away first
        raise
    found = read_record(files, grave)
    meant = found is not None and is_meant(found[0])
    if found is not None and not meant:
        _put_back(files, grave, path)
    files.remove(grave)
    return meant


def _put_back(files: LockFiles, grave: str, path: str) -> None:
    # If the name is taken again already, the grave's holder has lost its lock; its refresher will notice.
    try:
        files.link(grave, path)
        return
    except OSError as exc:
        if is_errno(exc, errno.EEXIST):
            return
    try:
        files.rename_noreplace(grave, path)
    except NotImplementedError:
        pass
    except OSError as exc:
        if not is_errno(exc, errno.EEXIST):
            raise


def same_lock(first: dict, second: dict) -> bool:
    """Two reads of one lock (its holder may have refreshed it in between)."""
    if first is UNREADABLE or second is UNREADABLE:
        return first is second
    return first.get("token", first) == second.get("token", second)


def remove_leftovers(files: LockFiles, folder: str, older_than: float) -> None:
    """Remove temporary and grave files a crashed process left (none is a lock)."""
    for name in files.listdir(folder):
        if not (name.startswith(TMP_PREFIX) or GRAVE_MARK in name):
            continue
        path = files.join(folder, name)
        try:
            if time.time() - files.mtime(path) > older_than:
                files.remove(path)
        except OSError as exc:
            if not is_errno(exc, errno.ENOENT):
                raise
