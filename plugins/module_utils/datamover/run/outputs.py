"""Restore targets: a sparse raw image or a VHDX, written under ``<name>.partial`` and renamed when complete.

A failed restore removes its ``.partial`` file, so a destination never holds a half-written image under
its final name. A VHDX keeps the source's identity and geometry as the restore point recorded them (virtual
disk id, fixed or dynamic, block and sector sizes); a differencing disk is written as one dynamic VHDX with
its own disk id and no parent. Records written before identity was recorded give a new id and a dynamic disk.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from typing import Dict, Optional, Union

from ansible_collections.backup.hyperv.plugins.module_utils.datamover.base.diskio import positional_writer
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.base.errors import DataMoverError
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.base.fsutil import (
    O_BINARY,
    describe_os_error,
    remove_quietly,
    rename_durably,
)
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.disk.vhdx.writer import VhdxWriter

PARTIAL_SUFFIX = ".partial"
VHDX_MIN_BLOCK = 1 << 20
VHDX_MAX_BLOCK = 256 << 20
VHDX_DEFAULT_BLOCK = 32 << 20


def output_name(disk: dict, fmt: str) -> str:
    """File name of a restored disk: the stem of its source name with the extension of ``fmt``."""
    stem, ext = os.path.splitext(disk["name"])
    if fmt == "raw":
        return disk["name"] if ext.lower() in (".raw", ".img") else stem + ".raw"
    return stem + ".vhdx"


class RawOutput:
    """Sparse raw image: the file is sized up front and zero chunks are simply not written."""

    def __init__(self, path: str, size: int) -> None:
        self.path = path
        self.partial = path + PARTIAL_SUFFIX
        self._fd = os.open(self.partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | O_BINARY, 0o644)
        self._out = None
        try:
            os.ftruncate(self._fd, size)
            self._out = positional_writer(self.partial, self._fd)  # direct I/O where possible
        except OSError:
            self.discard()
            raise

    def write(self, offset: int, data: bytes) -> None:
        self._out.pwrite(data, offset)

    def identity(self) -> Dict[str, str]:
        return {}

    def commit(self) -> None:
        os.fsync(self._fd)
        self._close()
        rename_durably(self.partial, self.path)

    def discard(self) -> None:
        self._close()
        remove_quietly(self.partial)

    def _close(self) -> None:
        if self._fd >= 0:
            fd, self._fd = self._fd, -1
            try:
                if self._out is not None:
                    self._out.close()
            finally:
                os.close(fd)


class VhdxOutput:
    """A VHDX written by the collection's VhdxWriter (zero chunks of a dynamic disk stay unallocated blocks)."""

    def __init__(self, path: str, disk: dict) -> None:
        self.path = path
        self.partial = path + PARTIAL_SUFFIX
        remove_quietly(self.partial)
        block = disk.get("block_size") or VHDX_DEFAULT_BLOCK
        if not VHDX_MIN_BLOCK <= block <= VHDX_MAX_BLOCK or block & (block - 1):
            block = VHDX_DEFAULT_BLOCK
        self._writer: Optional[VhdxWriter] = VhdxWriter(
            self.partial,
            disk["virtual_size"],
            block_size=block,
            logical_sector_size=disk.get("logical_sector_size", 512),
            physical_sector_size=disk.get("physical_sector_size", 4096),
            disk_id=_recorded_disk_id(disk),
            fixed=disk.get("vhd_type") == "fixed",
        )
        self._disk_id, self._fixed = self._writer.disk_id, disk.get("vhd_type") == "fixed"

    def identity(self) -> Dict[str, str]:
        """What the restored file says of itself: its virtual disk id and its type."""
        return {"disk_id": str(self._disk_id), "vhd_type": "fixed" if self._fixed else "dynamic"}

    def write(self, offset: int, data: bytes) -> None:
        self._writer.write(offset, data)

    def commit(self) -> None:
        self._writer.close()
        self._writer = None
        with open(self.partial, "rb+") as handle:
            os.fsync(handle.fileno())
        rename_durably(self.partial, self.path)

    def discard(self) -> None:
        if self._writer is not None:
            with contextlib.suppress(Exception):  # the file is removed next anyway
                self._writer.close()
            self._writer = None
        remove_quietly(self.partial)


def _recorded_disk_id(disk: dict) -> Optional[uuid.UUID]:
    """The virtual disk id the restore point recorded, or None (an older record: a new id is made)."""
    recorded = disk.get("disk_id")
    try:
        return uuid.UUID(recorded) if recorded else None
    except ValueError as exc:
        raise DataMoverError(f"disk {disk.get('name')}: the restore point records a malformed disk id") from exc


Output = Union[RawOutput, VhdxOutput]  # write(offset, data), then commit() or discard()


def open_output(path: str, fmt: str, disk: dict) -> Output:
    try:
        if fmt == "vhdx":
            return VhdxOutput(path, disk)
        return RawOutput(path, disk.get("virtual_size", disk.get("size", 0)))
    except OSError as exc:
        raise DataMoverError(describe_os_error("creating", path, exc)) from exc
