"""Durable file system steps: write to a temporary name, fsync, rename into place, fsync the directory.

Every file the repository publishes goes through ``publish`` so that a crash leaves either the old state
or the complete new file, never a torn one.
"""

from __future__ import annotations

import contextlib
import errno
import os
import threading
from typing import Callable, Optional

from ansible_collections.backup.hyperv.plugins.module_utils.datamover.base.errors import RepositoryError


def fsync_dir(path: str) -> None:
    """Make a rename or unlink in ``path`` durable (no-op where directories cannot be opened)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def describe_os_error(action: str, path: str, exc: OSError) -> str:
    """A user-facing sentence for an OS error, calling out a full disk explicitly."""
    if exc.errno == errno.ENOSPC:
        return f"{action} {path} failed: no space left on device (the repository was left as it was)"
    return f"{action} {path} failed: {exc.strerror or exc}"


# Repository files and folders are the owner's alone (the data mover's account: root, or SYSTEM on Windows): they
# hold every VM's data and, when encrypted, the wrapped key. Set after creation, so that no umask widens them.
PRIVATE_FILE_MODE = 0o600
PRIVATE_DIR_MODE = 0o700


def create_private(path: str, flags: int = os.O_WRONLY) -> int:
    """Create ``path`` (it must not exist) readable and writable by its owner only, whatever the umask."""
    fd = os.open(path, flags | os.O_CREAT | os.O_EXCL | O_BINARY, PRIVATE_FILE_MODE)
    if os.name == "posix":  # Windows has no mode bits: the folder's ACL decides (docs/datamover.md)
        try:
            _set_mode(lambda: os.fchmod(fd, PRIVATE_FILE_MODE))
        except OSError:
            os.close(fd)
            raise
    return fd


def _set_mode(change: Callable[[], None]) -> None:
    """Run a chmod; a file system without POSIX modes (an SMB share mounted without them) refuses it, and there
    the share's ACL decides, so that refusal is not an error."""
    try:
        change()
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EINVAL):
            raise


def make_private_dirs(path: str) -> None:
    """``os.makedirs`` whose new folders (only those: an admin's existing folder keeps its mode) are 0700."""
    created, parent = [], os.path.abspath(path)
    while parent and not os.path.isdir(parent):
        created.append(parent)
        parent = os.path.dirname(parent) if os.path.dirname(parent) != parent else ""
    os.makedirs(path, PRIVATE_DIR_MODE, exist_ok=True)
    if os.name == "posix":
        for folder in created:
            _set_mode(lambda folder=folder: os.chmod(folder, PRIVATE_DIR_MODE))


def publish(path: str, data: bytes, tmp_dir: str) -> None:
    """Atomically and durably create or replace ``path`` with ``data`` (owner-only, see ``create_private``)."""
    tmp = os.path.join(tmp_dir, f"{os.path.basename(path)}.{os.getpid()}.{os.urandom(4).hex()}.tmp")
    try:
        with os.fdopen(create_private(tmp), "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        rename_durably(tmp, path)
    except OSError as exc:
        remove_quietly(tmp)
        raise RepositoryError(describe_os_error("writing", path, exc)) from exc


def rename_durably(source: str, target: str) -> None:
    """Rename and fsync the target's directory, which makes the new name durable.

    The source's directory is not synced when it differs: it is the repository's ``tmp/`` (or the restore
    destination, where it is the same directory), whose leftovers are garbage by definition (a writer empties
    ``tmp/`` under the exclusive lock), so a crash that forgets the removal of the old name leaves only that.
    """
    os.replace(source, target)
    fsync_dir(os.path.dirname(target))


def start_writeback(fd: int, offset: int, length: int) -> None:
    """Ask the kernel to start writing ``length`` bytes at ``offset`` to the disk now, without waiting.

    A later fsync then waits only for the tail written since, instead of for the whole file. Linux starts
    writeback on POSIX_FADV_DONTNEED (and drops the pages once clean: written packs are not read back soon).
    Elsewhere, or on failure, nothing happens: the fsync that follows is what makes the data durable.
    """
    advise = getattr(os, "posix_fadvise", None)
    if advise is not None and length > 0:
        with contextlib.suppress(OSError):
            advise(fd, offset, length, os.POSIX_FADV_DONTNEED)


def start_reading(fd: int, offset: int, length: int) -> None:
    """Ask the kernel to start reading ``length`` bytes at ``offset`` into the page cache now, without waiting.

    A hint (POSIX_FADV_WILLNEED): reads given ahead of the thread that needs them queue at the disk together
    instead of one at a time. Elsewhere (Windows), or on failure, nothing happens; the later read reads anyway.
    """
    advise = getattr(os, "posix_fadvise", None)
    if advise is not None and length > 0:
        with contextlib.suppress(OSError):
            advise(fd, offset, length, os.POSIX_FADV_WILLNEED)


def remove_quietly(path: Optional[str]) -> None:
    if path:
        with contextlib.suppress(OSError):
            os.unlink(path)


def read_file(path: str) -> bytes:
    with open(path, "rb") as handle:
        return handle.read()


# Positional I/O. Windows (a proxy may run there) has neither os.pread(v) nor os.pwrite, and os.open needs
# O_BINARY there: fall back to seek + read/write under a lock, which is correct, if slower.
O_BINARY = getattr(os, "O_BINARY", 0)
_SEEK_LOCK = threading.Lock()


def pread_into(fd: int, buffer: memoryview, offset: int) -> int:
    """Read into ``buffer`` at ``offset``; returns the count (0 at end of file); thread-safe."""
    if hasattr(os, "preadv"):
        return os.preadv(fd, [buffer], offset)
    with _SEEK_LOCK:
        os.lseek(fd, offset, os.SEEK_SET)
        data = os.read(fd, len(buffer))
    buffer[: len(data)] = data
    return len(data)


def pread(fd: int, length: int, offset: int) -> bytes:
    """Read up to ``length`` bytes at ``offset`` (short only at end of file); thread-safe."""
    if hasattr(os, "pread"):
        return os.pread(fd, length, offset)
    with _SEEK_LOCK:
        os.lseek(fd, offset, os.SEEK_SET)
        parts, remaining = [], length
        while remaining:
            piece = os.read(fd, remaining)
            if not piece:
                break
            parts.append(piece)
            remaining -= len(piece)
        return b"".join(parts)


def pwrite_all(fd: int, data: bytes, offset: int) -> None:
    """Write all of ``data`` at ``offset``; thread-safe."""
    view = memoryview(data)
    if hasattr(os, "pwrite"):
        while view:
            written = os.pwrite(fd, view, offset)
            view, offset = view[written:], offset + written
        return
    with _SEEK_LOCK:
        os.lseek(fd, offset, os.SEEK_SET)
        while view:
            view = view[os.write(fd, view) :]
