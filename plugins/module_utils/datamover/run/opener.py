"""Opening a disk for a backup: a VHDX (sniffed by its "vhdxfile" signature), else a raw image or block device.

This is the one module that knows every reader, so the readers never import each other, nor the room
above them. A file named *.vhdx/*.avhdx without the signature is an error, not a raw image.
"""

from __future__ import annotations

import os
import stat
from typing import Tuple

from ansible_collections.backup.hyperv.plugins.module_utils.datamover.base.errors import (
    DataMoverError,
    SourceUnavailableError,
)
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.base.fsutil import pread_into
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.disk.raw import RawSource
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.disk.source import (
    DiskOpener,
    DiskSource,
    SourceError,
    open_readonly,
)
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.disk.vhdx.reader import VhdxSource

VHDX_SUFFIXES = (".vhdx", ".avhdx")


def open_disk(path: str, parents: Tuple[str, ...] = ()) -> DiskSource:
    """Open a VHDX or else a raw image or block device, read-only. ``parents``: a differencing VHDX's parent
    files, nearest first, as its host names them (``VhdxSource``)."""
    fd = open_readonly(path)
    try:
        signature = _signature(fd, path)
    except BaseException:
        os.close(fd)
        raise
    if signature == b"vhdxfile":
        return VhdxSource(path, fd=fd, parents=parents)
    if path.lower().endswith(VHDX_SUFFIXES):
        os.close(fd)
        raise SourceError(f"{path}: named like a VHDX file but has no 'vhdxfile' signature (damaged or truncated)")
    if parents:
        os.close(fd)
        raise SourceError(f"{path}: parents are given, but it is not a VHDX differencing disk")
    return RawSource(path, fd=fd)


def _signature(fd: int, path: str) -> bytes:
    """The first 8 bytes of a regular file or block device (fewer when it is shorter)."""
    try:
        mode = os.fstat(fd).st_mode
        if not (stat.S_ISREG(mode) or stat.S_ISBLK(mode)):
            raise SourceError(f"{path}: not a regular file or block device")
        signature = bytearray(8)
        return bytes(signature[: pread_into(fd, memoryview(signature), 0)])
    except OSError as exc:
        raise SourceError(f"{path}: cannot read disk: {exc.strerror}") from exc


def open_disk_checked(path: str, opener: DiskOpener, parents: Tuple[str, ...] = ()) -> DiskSource:
    """Open a disk, turning every failure into a user-facing SourceUnavailableError. ``parents`` are passed to the
    opener only when given (an opener of a test takes the path alone)."""
    if not os.path.exists(path):
        raise SourceUnavailableError(f"disk {path} does not exist")
    try:
        return opener(path, parents) if parents else opener(path)
    except DataMoverError:
        raise
    except Exception as exc:  # the reader's own errors (SourceError, OSError) carry the detail
        raise SourceUnavailableError(f"cannot read disk {path}: {exc}") from exc
