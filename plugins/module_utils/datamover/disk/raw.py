"""Raw disk images and block devices as a `DiskSource`.

A regular file's holes (found with SEEK_DATA/SEEK_HOLE) are UNALLOCATED; where the file system
cannot tell, the whole file is DATA. A block device is all DATA; its size comes from seeking to its
end and its sector sizes from the BLKSSZGET/BLKPBSZGET ioctls (512 where those are unavailable).
"""

from __future__ import annotations

import errno
import os
import stat
import struct
from typing import Iterator, List, Optional, Tuple

from ansible_collections.backup.hyperv.plugins.module_utils.datamover.base.fsutil import start_reading
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.disk.extents import (
    Extent,
    ExtentKind,
    merge_extents,
)
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.disk.source import (
    DiskSource,
    SourceError,
    open_readonly,
    pread_exact,
)

RAW_BLOCK_SIZE = 1 << 20
_BLKSSZGET = 0x1268  # logical sector size of a Linux block device
_BLKPBSZGET = 0x127B  # physical sector size


def _device_sector_size(fd: int, request: int) -> int:
    try:
        import fcntl

        size = struct.unpack("i", fcntl.ioctl(fd, request, b"\x00" * 4))[0]
    except (ImportError, OSError):
        return 512
    return size if size in (512, 4096) else 512


class RawSource(DiskSource):
    """A raw image file or block device, opened read-only."""

    format = "raw"

    def __init__(self, path: str, fd: Optional[int] = None) -> None:
        self.path = path
        self._fd = open_readonly(path) if fd is None else fd
        try:
            mode = os.fstat(self._fd).st_mode
            self._is_device = stat.S_ISBLK(mode)
            if not (self._is_device or stat.S_ISREG(mode)):
                raise SourceError(f"{path}: not a regular file or block device")
            self.virtual_size = os.lseek(self._fd, 0, os.SEEK_END)
        except OSError as exc:
            self.close()
            raise SourceError(f"{path}: cannot inspect disk: {exc.strerror}") from exc
        except SourceError:
            self.close()
            raise
        self.logical_sector_size = _device_sector_size(self._fd, _BLKSSZGET) if self._is_device else 512
        self.physical_sector_size = _device_sector_size(self._fd, _BLKPBSZGET) if self._is_device else 512
        self.block_size = RAW_BLOCK_SIZE

    def extents(self) -> Iterator[Extent]:
        if self._is_device or self.virtual_size == 0:
            return merge_extents([Extent(0, self.virtual_size, ExtentKind.DATA)])
        runs = self._data_runs()
        if runs is None:
            return merge_extents([Extent(0, self.virtual_size, ExtentKind.DATA)])
        return merge_extents(self._with_holes(runs))

    def _data_runs(self) -> Optional[List[Tuple[int, int]]]:
        """(start, end) of each data run, or None when the file system cannot report holes."""
        seek_data, seek_hole = getattr(os, "SEEK_DATA", None), getattr(os, "SEEK_HOLE", None)
        if seek_data is None or seek_hole is None:
            return None
        runs: List[Tuple[int, int]] = []
        position = 0
        try:
            while position < self.virtual_size:
                try:
                    start = os.lseek(self._fd, position, seek_data)
                except OSError as exc:
                    if exc.errno == errno.ENXIO:  # no data after `position`
                        break
                    raise
                end = min(os.lseek(self._fd, start, seek_hole), self.virtual_size)
                if end <= start:
                    return None
                runs.append((start, end))
                position = end
        except OSError as exc:
            if exc.errno in (errno.EINVAL, errno.ENOTSUP, getattr(errno, "EOPNOTSUPP", errno.ENOTSUP)):
                return None
            raise SourceError(f"{self.path}: cannot map allocated ranges: {exc.strerror}") from exc
        return runs

    def _with_holes(self, runs: List[Tuple[int, int]]) -> Iterator[Extent]:
        position = 0
        for start, end in runs:
            yield Extent(position, start - position, ExtentKind.UNALLOCATED)
            yield Extent(start, end - start, ExtentKind.DATA)
            position = end
        yield Extent(position, self.virtual_size - position, ExtentKind.UNALLOCATED)

    def _readinto(self, offset: int, buffer: memoryview) -> None:
        pread_exact(self._fd, buffer, offset, self.path)

    def _prefetch(self, offset: int, length: int) -> None:
        start_reading(self._fd, offset, length)

    def close(self) -> None:
        fd, self._fd = self._fd, -1
        if fd >= 0:
            os.close(fd)
