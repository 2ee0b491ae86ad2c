"""The file operations a repository lock needs, behind one small interface, and their local implementation.

Why an interface: the lock's correctness rests on what the file system guarantees for a few operations
(exclusive create, hard link, rename that refuses to replace), and on an SMB3 share those guarantees are
the server's. Keeping the operations here lets the tests run the very same lock code against a real Samba
server through an SMB3 client library, where the test machine cannot mount a share.

What each guarantees on an SMB3 share (the data mover on a Windows proxy reaches it by UNC path):

- ``write_new`` opens with ``O_CREAT | O_EXCL``, which Windows and the Linux cifs client send as an SMB2
  CREATE with CreateDisposition FILE_CREATE: "if the file already exists, fail the operation" (MS-SMB2
  2.2.13 SMB2 CREATE Request, https://learn.microsoft.com/en-us/openspecs/windows_protocols/ms-smb2/e8fb45c1-a03d-44ca-b7ae-47385cfd7997).
- ``link`` is CreateHardLinkW on Windows, an SMB2 SET_INFO with FileLinkInformation and ReplaceIfExists
  FALSE: the server fails with STATUS_OBJECT_NAME_COLLISION if the name exists, or STATUS_NOT_SUPPORTED
  where the file system has no hard links (MS-FSCC 2.4.27 FileLinkInformation,
  https://learn.microsoft.com/en-us/openspecs/windows_protocols/ms-fscc/69643dd3-b518-465d-bb0e-e2e9c5b7875e).
  Samba implements it on POSIX file systems with link(2).
- ``rename_noreplace`` is atomic and refuses an existing target only where the platform says so: on
  Windows, MoveFileExW without MOVEFILE_REPLACE_EXISTING fails when the target exists (MoveFileExW,
  https://learn.microsoft.com/en-us/windows/win32/api/winbase/nf-winbase-movefileexw), sent as
  FileRenameInformation with ReplaceIfExists FALSE. Python's ``os.rename`` on POSIX replaces the target,
  and the Linux cifs client always sends ReplaceIfExists TRUE, so there it raises ``NotImplementedError``.

Errors are ``OSError`` judged by ``errno`` (an SMB client library's errors carry the errno too, but are not
the ``FileExistsError`` subclasses that ``os`` raises).
"""

from __future__ import annotations

import errno
import os
import time
from typing import Callable, List, Protocol

from ansible_collections.backup.hyperv.plugins.module_utils.datamover.base.fsutil import (
    O_BINARY,
    create_private,
    fsync_dir,
)

# On Windows a file another process has open without FILE_SHARE_DELETE (a reader of the lock, for a few
# milliseconds) cannot be removed or renamed: ERROR_SHARING_VIOLATION, raised as PermissionError.
_BUSY_RETRIES = 20
_BUSY_PAUSE = 0.05


def is_errno(exc: OSError, *codes: int) -> bool:
    return exc.errno in codes


class LockFiles(Protocol):
    """What a repository lock does with files; every method raises ``OSError`` on failure."""

    def join(self, folder: str, name: str) -> str: ...

    def listdir(self, folder: str) -> List[str]: ...

    def read(self, path: str) -> bytes: ...

    def mtime(self, path: str) -> float:
        """Last write time, seconds since the epoch."""

    def write_new(self, path: str, data: bytes) -> None:
        """Create ``path`` (errno EEXIST if it exists), write ``data`` and make it durable."""

    def link(self, source: str, target: str) -> None:
        """Give ``source`` a second name ``target``; errno EEXIST if ``target`` exists."""

    def rename_noreplace(self, source: str, target: str) -> None:
        """Rename, failing with errno EEXIST if ``target`` exists; ``NotImplementedError`` where not atomic."""

    def rename(self, source: str, target: str) -> None:
        """Rename to a ``target`` nobody else uses (a private name)."""

    def remove(self, path: str) -> None:
        """Remove ``path``; a missing one is no error."""

    def rewrite(self, path: str, still_ours: Callable[[bytes], bool], data: bytes) -> bool:
        """Overwrite ``path`` with ``data`` through the handle its content was checked with.

        Returns False, writing nothing, when the file is missing or ``still_ours(content)`` is False. Checking
        and writing through one handle means a lock file that was replaced meanwhile is never written.
        """


class LocalLockFiles:
    """``LockFiles`` with ``os``: local folders, and SMB shares by UNC path (Windows) or a cifs mount."""

    def join(self, folder: str, name: str) -> str:
        return os.path.join(folder, name)

    def listdir(self, folder: str) -> List[str]:
        return os.listdir(folder)

    def read(self, path: str) -> bytes:
        def read_once() -> None:
            with open(path, "rb") as handle:
                content.append(handle.read())

        content: List[bytes] = []
        retry_busy(read_once)
        return content[0]

    def mtime(self, path: str) -> float:
        return os.stat(path).st_mtime

    def write_new(self, path: str, data: bytes) -> None:
        fd = create_private(path)
        try:
            _write_all(fd, data)
            os.fsync(fd)
        except OSError:
            os.close(fd)
            self.remove(path)  # created by us just now: never leave an empty or partial file behind
            raise
        os.close(fd)

    def link(self, source: str, target: str) -> None:
        os.link(source, target)
        fsync_dir(os.path.dirname(target))

    def rename_noreplace(self, source: str, target: str) -> None:
        if os.name != "nt":
            raise NotImplementedError("os.rename replaces an existing target on POSIX")
        retry_busy(lambda: os.rename(source, target))

    def rename(self, source: str, target: str) -> None:
        retry_busy(lambda: os.rename(source, target))

    def remove(self, path: str) -> None:
        try:
            retry_busy(lambda: os.remove(path))
        except OSError as exc:
            if not is_errno(exc, errno.ENOENT):
                raise
        fsync_dir(os.path.dirname(path))

    def rewrite(self, path: str, still_ours: Callable[[bytes], bool], data: bytes) -> bool:
        try:
            fd = os.open(path, os.O_RDWR | O_BINARY)
        except OSError as exc:
            if is_errno(exc, errno.ENOENT):
                return False
            raise
        try:
            if not still_ours(_read_all(fd)):
                return False
            os.lseek(fd, 0, os.SEEK_SET)
            _write_all(fd, data)
            os.fsync(fd)
            return True
        finally:
            os.close(fd)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _read_all(fd: int) -> bytes:
    parts = []
    while True:
        part = os.read(fd, 1 << 16)
        if not part:
            return b"".join(parts)
        parts.append(part)


def retry_busy(step: Callable[[], None]) -> None:
    """Run ``step``, again after a pause while Windows answers that another process has the file open
    (ERROR_SHARING_VIOLATION, a PermissionError): a lock reader's open lasts milliseconds."""
    for attempt in range(_BUSY_RETRIES):
        try:
            step()
            return
        except PermissionError:
            if attempt == _BUSY_RETRIES - 1:
                raise
            time.sleep(_BUSY_PAUSE)


LOCAL_FILES = LocalLockFiles()
