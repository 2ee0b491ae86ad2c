"""What the data mover reads a backup source through: the `Readable` interface, and `DiskSource` for disks.

A `Readable` is anything a backup reads chunk by chunk: a virtual disk or a VM file. It offers its
allocation map (`extents`, see extents.py), positional reads into a caller's buffer, and `close`.
A `DiskSource` is a virtual disk: its *virtual* content (what the guest sees) and its geometry.
Sources open their files read-only and never write to them (the file may be a shadow copy).
read()/readinto() use positional reads and keep no per-read state, so threads may share one source.
"""

from __future__ import annotations

import abc
import contextlib
import os
import uuid
from typing import Callable, Dict, Iterable, Iterator, Optional, Union

from ansible_collections.backup.hyperv.plugins.module_utils.datamover.base.errors import DataMoverError
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.base.fsutil import O_BINARY, pread_into
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.base.protocol import Protocol
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.disk.extents import Extent

ZERO_BUFFER = bytes(1 << 20)
Buffer = Union[memoryview, bytearray]


class Readable(Protocol):
    """The narrow interface a backup reads every source through (disks and VM files alike)."""

    def extents(self) -> Iterable[Extent]:
        """Ordered, contiguous, non-overlapping extents covering the source, same kinds merged."""

    def readinto(self, offset: int, buffer: Buffer) -> None:
        """Fill ``buffer`` with the content at ``offset``."""

    def close(self) -> None:
        """Release the file descriptors; idempotent."""


class SourceError(DataMoverError):
    """Clear, user-facing message naming the file and what is wrong."""


def fill_zero(buffer: memoryview) -> None:
    """Overwrite `buffer` with zeros without allocating more than 1 MiB."""
    position = 0
    while position < len(buffer):
        step = min(len(buffer) - position, len(ZERO_BUFFER))
        buffer[position : position + step] = ZERO_BUFFER[:step]
        position += step


def pread_exact(fd: int, buffer: memoryview, offset: int, path: str, zero_past_end: bool = False) -> None:
    """Fill `buffer` from `fd` at `offset`; past the end of the file: zeros if allowed, else SourceError."""
    done = 0
    while done < len(buffer):
        try:
            count = pread_into(fd, buffer[done:], offset + done)
        except OSError as exc:
            raise SourceError(f"{path}: read of {len(buffer)} bytes at offset {offset} failed: {exc.strerror}") from exc
        if count == 0:
            if not zero_past_end:
                raise SourceError(f"{path}: file ends before offset {offset + done}: the file is truncated")
            fill_zero(buffer[done:])
            return
        done += count


class DiskSource(abc.ABC):
    """A virtual disk opened read-only; see extents.py for the meaning of its extents."""

    path: str
    format: str
    virtual_size: int
    logical_sector_size: int
    physical_sector_size: int
    block_size: int
    # What a VHDX also says of itself (None for a raw image): the virtual disk id (MS-VHDX 2.6.2.3), the type
    # ("fixed", "dynamic" or "differencing") and a differencing disk's parent locator (2.6.2.6) key/values.
    disk_id: Optional[uuid.UUID] = None
    vhd_type: Optional[str] = None
    parent_locator: Optional[Dict[str, str]] = None

    @abc.abstractmethod
    def extents(self) -> Iterator[Extent]:
        """Ordered, contiguous, non-overlapping extents covering [0, virtual_size), same kinds merged."""

    @abc.abstractmethod
    def _readinto(self, offset: int, buffer: memoryview) -> None:
        """Fill `buffer` with virtual content at `offset` (already bounds-checked)."""

    @abc.abstractmethod
    def close(self) -> None:
        """Release the file descriptors; idempotent."""

    def readinto(self, offset: int, buffer: Buffer) -> None:
        view = memoryview(buffer).cast("B")
        self._check_bounds(offset, len(view))
        self._readinto(offset, view)

    def prefetch(self, offset: int, length: int) -> None:
        """Start reading the virtual bytes [offset, offset + length) from the disk now, for a read soon: a hint
        that neither waits nor fails, so that an incremental's scattered reads queue at the disk together."""
        if offset >= 0 and length > 0 and offset + length <= self.virtual_size:
            with contextlib.suppress(DataMoverError, OSError):  # a damaged map: the read says so, where it happens
                self._prefetch(offset, length)

    def _prefetch(self, offset: int, length: int) -> None:
        """Hint the file bytes behind a checked virtual range; by default nothing (a hint is never needed)."""
        return

    def read(self, offset: int, length: int) -> bytes:
        self._check_bounds(offset, length)
        buffer = bytearray(length)
        self.readinto(offset, buffer)
        return bytes(buffer)

    def _check_bounds(self, offset: int, length: int) -> None:
        if offset < 0 or length < 0 or offset + length > self.virtual_size:
            raise SourceError(
                f"{self.path}: read of {length} bytes at offset {offset} is outside the virtual disk "
                f"({self.virtual_size} bytes)"
            )

    def __enter__(self) -> DiskSource:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.format} {self.path!r} {self.virtual_size} bytes>"


def open_readonly(path: str) -> int:
    """An O_RDONLY descriptor for `path`, or SourceError naming the path and the reason."""
    try:
        # O_NONBLOCK: opening a FIFO must not hang; it changes nothing for files and block devices.
        flags = os.O_RDONLY | O_BINARY | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NONBLOCK", 0)
        return os.open(path, flags)
    except OSError as exc:
        raise SourceError(f"{path}: cannot open disk for reading: {exc.strerror}") from exc


# What a backup opens its disks with (tests give their own): the path, and for a differencing disk whose host named
# its parents, those paths too (`run/opener.open_disk`).
DiskOpener = Callable[..., DiskSource]
