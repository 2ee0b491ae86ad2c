"""Backup sources: which paths are disks (read through a `DiskOpener`) and which are opaque VM files.

VM configuration files (.vmcx, .vmrs, .vmgs, anything that is not a disk) are read by ``OpaqueFile``,
which offers the same narrow `Readable` interface as a disk (extents, readinto, close), so both go
through one pipeline.
"""

from __future__ import annotations

import os
import stat
from typing import List

from ansible_collections.backup.hyperv.plugins.module_utils.datamover.base.errors import SourceUnavailableError
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.base.fsutil import O_BINARY, pread
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.disk.extents import Extent, ExtentKind

# Read as virtual disks (allocation-aware). Legacy .vhd/.avhd files are not listed: the reader does not parse
# VHD, so they are kept as opaque files (byte-exact copies), which always restore correctly.
DISK_SUFFIXES = (".vhdx", ".avhdx", ".raw", ".img")


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

    def extents(self) -> List[Extent]:
        """An opaque file is all data."""
        return [Extent(0, self.size, ExtentKind.DATA)] if self.size else []

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
