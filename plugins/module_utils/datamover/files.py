"""Backup sources: which paths are disks (read through ``source.open_disk``) and which are opaque files.

VM configuration files (.vmcx, .vmrs, .vmgs, anything that is not a disk) are read by ``OpaqueFile``, which
offers the same small interface as a DiskSource (size, extents, read) so both go through one pipeline.
"""

from __future__ import annotations

import os
import stat
from typing import Callable, List, NamedTuple

from ansible_collections.backup.hyperv.plugins.module_utils.datamover.errors import (
    DataMoverError,
    SourceUnavailableError,
)
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.fsutil import O_BINARY, pread

# Read as virtual disks (allocation-aware). Legacy .vhd/.avhd files are not listed: the reader does not parse
# VHD, so they are kept as opaque files (byte-exact copies), which always restore correctly.
DISK_SUFFIXES = (".vhdx", ".avhdx", ".raw", ".img")


class FileExtent(NamedTuple):
    offset: int
    length: int
    kind: str  # "DATA": an opaque file is all data


def is_disk(path: str) -> bool:
    if path.lower().endswith(DISK_SUFFIXES):
        return True
    try:
        return stat.S_ISBLK(os.stat(path).st_mode)
    except OSError:
        return False


class OpaqueFile:
    """A regular file read with pread (safe to share between threads)."""

    def __init__(self, path: str) -> None:
        self.path = path
        try:
            self._fd = os.open(path, os.O_RDONLY | O_BINARY)
            info = os.fstat(self._fd)
        except OSError as exc:
            raise SourceUnavailableError(f"cannot read VM file {path}: {exc.strerror or exc}") from exc
        if not stat.S_ISREG(info.st_mode):
            os.close(self._fd)
            raise SourceUnavailableError(f"cannot read VM file {path}: not a regular file")
        self.size = info.st_size

    def extents(self) -> List[FileExtent]:
        return [FileExtent(0, self.size, "DATA")] if self.size else []

    def read(self, offset: int, length: int) -> bytes:
        try:
            data = pread(self._fd, length, offset)
        except OSError as exc:
            raise SourceUnavailableError(f"reading VM file {self.path} failed: {exc.strerror or exc}") from exc
        if len(data) != length:
            raise SourceUnavailableError(f"VM file {self.path} changed size while being read")
        return data

    def readinto(self, offset: int, view: memoryview) -> None:
        if not hasattr(os, "preadv"):  # Windows
            view[:] = self.read(offset, len(view))
            return
        done = 0
        while done < len(view):
            try:
                count = os.preadv(self._fd, [view[done:]], offset + done)
            except OSError as exc:
                raise SourceUnavailableError(f"reading VM file {self.path} failed: {exc.strerror or exc}") from exc
            if count == 0:
                raise SourceUnavailableError(f"VM file {self.path} changed size while being read")
            done += count

    def close(self) -> None:
        os.close(self._fd)


def default_disk_opener() -> Callable:
    """``source.open_disk``, imported late so this module loads even where the reader is absent."""
    try:
        from ansible_collections.backup.hyperv.plugins.module_utils.datamover.source import open_disk
    except ImportError as exc:
        raise DataMoverError(f"the disk reader (datamover.source) is not available: {exc}") from exc
    return open_disk


def open_disk_checked(path: str, opener: Callable) -> object:
    """Open a disk, turning every failure into a user-facing SourceUnavailableError."""
    if not os.path.exists(path):
        raise SourceUnavailableError(f"disk {path} does not exist")
    try:
        return opener(path)
    except DataMoverError:
        raise
    except Exception as exc:  # the reader's own errors (SourceError, OSError) carry the detail
        raise SourceUnavailableError(f"cannot read disk {path}: {exc}") from exc


def kind_name(kind: object) -> str:
    """``ExtentKind.DATA`` or ``"DATA"`` -> ``"DATA"``."""
    return getattr(kind, "name", str(kind)).upper()
