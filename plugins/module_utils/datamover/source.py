"""What the data mover reads a virtual disk through: the `DiskSource` interface and `open_disk()`.

A source exposes the *virtual* content of a disk (what the guest sees), plus an allocation map as
ordered `Extent`s: DATA must be read; ZERO is stated to be zero by the format; UNALLOCATED is not
stored anywhere (nor in any parent) and reads as zero. The data mover skips ZERO and UNALLOCATED
without reading them, so a source never calls stored bytes ZERO/UNALLOCATED, nor unstored bytes DATA.
Sources open their files read-only and never write to them (the file may be a shadow copy).
read()/readinto() use positional reads and keep no per-read state, so threads may share one source.
"""

from __future__ import annotations

import abc
import enum
import os
import stat
from dataclasses import dataclass
from typing import Iterable, Iterator, Optional, Union

from ansible_collections.backup.hyperv.plugins.module_utils.datamover.errors import DataMoverError
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.fsutil import pread_into

ZERO_BUFFER = bytes(1 << 20)
VHDX_SUFFIXES = (".vhdx", ".avhdx")


class ExtentKind(enum.Enum):
    DATA = "data"
    ZERO = "zero"
    UNALLOCATED = "unallocated"


@dataclass(frozen=True)
class Extent:
    offset: int
    length: int
    kind: ExtentKind

    @property
    def end(self) -> int:
        return self.offset + self.length


class SourceError(DataMoverError):
    """Clear, user-facing message naming the file and what is wrong."""


def merge_extents(extents: Iterable[Extent]) -> Iterator[Extent]:
    """Join adjacent extents of the same kind and drop empty ones."""
    pending: Optional[Extent] = None
    for extent in extents:
        if extent.length <= 0:
            continue
        if pending is not None and pending.kind is extent.kind and pending.end == extent.offset:
            pending = Extent(pending.offset, pending.length + extent.length, pending.kind)
            continue
        if pending is not None:
            yield pending
        pending = extent
    if pending is not None:
        yield pending


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
    """A virtual disk opened read-only; see the module docstring for the meaning of extents."""

    path: str
    format: str
    virtual_size: int
    logical_sector_size: int
    physical_sector_size: int
    block_size: int

    @abc.abstractmethod
    def extents(self) -> Iterator[Extent]:
        """Ordered, contiguous, non-overlapping extents covering [0, virtual_size), same kinds merged."""

    @abc.abstractmethod
    def _readinto(self, offset: int, buffer: memoryview) -> None:
        """Fill `buffer` with virtual content at `offset` (already bounds-checked)."""

    @abc.abstractmethod
    def close(self) -> None:
        """Release the file descriptors; idempotent."""

    def readinto(self, offset: int, buffer: Union[memoryview, bytearray]) -> None:
        view = memoryview(buffer).cast("B")
        self._check_bounds(offset, len(view))
        self._readinto(offset, view)

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
        flags = os.O_RDONLY | getattr(os, "O_BINARY", 0) | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NONBLOCK", 0)
        return os.open(path, flags)
    except OSError as exc:
        raise SourceError(f"{path}: cannot open disk for reading: {exc.strerror}") from exc


def open_disk(path: str) -> DiskSource:
    """Open a VHDX (sniffed by its "vhdxfile" signature) or else a raw image or block device, read-only.

    A file named *.vhdx/*.avhdx without the signature is an error, not a raw image.
    """
    from ansible_collections.backup.hyperv.plugins.module_utils.datamover.raw import RawSource
    from ansible_collections.backup.hyperv.plugins.module_utils.datamover.vhdx_reader import VhdxSource

    fd = open_readonly(path)
    try:
        mode = os.fstat(fd).st_mode
        if not (stat.S_ISREG(mode) or stat.S_ISBLK(mode)):
            raise SourceError(f"{path}: not a regular file or block device")
        signature = bytearray(8)
        signature = signature[: pread_into(fd, memoryview(signature), 0)]
    except OSError as exc:
        os.close(fd)
        raise SourceError(f"{path}: cannot read disk: {exc.strerror}") from exc
    except SourceError:
        os.close(fd)
        raise
    if signature == b"vhdxfile":
        return VhdxSource(path, fd=fd)
    if path.lower().endswith(VHDX_SUFFIXES):
        os.close(fd)
        raise SourceError(f"{path}: named like a VHDX file but has no 'vhdxfile' signature (damaged or truncated)")
    return RawSource(path, fd=fd)
