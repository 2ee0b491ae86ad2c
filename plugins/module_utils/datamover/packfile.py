"""How a new pack's bytes reach the disk: direct I/O where the system allows it, else the page cache.

Direct I/O (``O_DIRECT``) skips the kernel's copy of every blob into the page cache and the writeback
threads that later write it out. On a 2-core proxy that is CPU the hashing and compressing need: about
0.2 s of CPU for every 700 MB stored (measured on the benchmark machine). It needs aligned buffers, offsets
and lengths, so blobs are gathered in an aligned staging buffer that is written whole; the last, partial
block is padded with zeros, and the file then truncated to its true length before the fsync.

Where ``O_DIRECT`` does not exist (Windows, macOS) or the file system refuses it (``EINVAL``, as tmpfs
did before Linux 6.6), the same interface writes through the page cache and asks the kernel to start
writeback every ``WRITEBACK_STEP`` bytes, so the final fsync waits only for the tail. Either way ``seal``
is what makes the pack durable.
"""

from __future__ import annotations

import contextlib
import errno
import mmap
import os
from typing import Optional, Union

from ansible_collections.backup.hyperv.plugins.module_utils.datamover.fsutil import O_BINARY, start_writeback

ALIGNMENT = 4096  # a multiple of every logical block size direct I/O may require
STAGE_SIZE = 4 << 20  # bytes gathered before one direct write (a multiple of ALIGNMENT)
WRITEBACK_STEP = 4 << 20  # page-cache writes: start writeback every this many bytes
_REFUSED = (errno.EINVAL, errno.EOPNOTSUPP)
Data = Union[bytes, bytearray, memoryview]


class CachedSink:
    """Sequential writes through the page cache, with writeback started early."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.size = 0
        self._written_back = 0

    def append(self, data: Data) -> None:
        view = memoryview(data)
        while view:  # a write may be short
            view = view[os.write(self.fd, view) :]
        self.size += len(data)
        if self.size - self._written_back >= WRITEBACK_STEP:
            start_writeback(self.fd, self._written_back, self.size - self._written_back)
            self._written_back = self.size

    def seal(self) -> None:
        os.fsync(self.fd)

    def close(self) -> None:
        os.close(self.fd)


class DirectSink:
    """Sequential writes gathered in an aligned buffer and written with direct I/O.

    ``fallback_fd`` is the same file opened for ordinary writes: used from the first write the file system
    refuses (the check some file systems make only then), so a pack is never lost to the choice of I/O.
    """

    def __init__(self, direct_fd: int, fallback_fd: int) -> None:
        self.fd, self._fallback_fd = direct_fd, fallback_fd
        self.direct = True
        self.size = 0
        self._stage = mmap.mmap(-1, STAGE_SIZE)  # anonymous maps are page-aligned
        self._fill = 0  # bytes in the stage
        self._stage_offset = 0  # file offset of the stage's first byte

    def append(self, data: Data) -> None:
        view = memoryview(data)
        while view:
            taken = min(len(view), STAGE_SIZE - self._fill)
            self._stage[self._fill : self._fill + taken] = view[:taken]
            self._fill += taken
            view = view[taken:]
            if self._fill == STAGE_SIZE:
                self._write_stage(STAGE_SIZE)
                self._stage_offset += STAGE_SIZE
                self._fill = 0
        self.size += len(data)

    def seal(self) -> None:
        """Write the partial last block padded to the alignment, cut the file to its size, fsync."""
        if self._fill:
            padded = -(-self._fill // ALIGNMENT) * ALIGNMENT
            self._stage[self._fill : padded] = bytes(padded - self._fill)
            self._write_stage(padded)
        os.ftruncate(self.fd, self.size)
        os.fsync(self.fd)

    def close(self) -> None:
        self._stage.close()
        os.close(self.fd)
        if self._fallback_fd != self.fd:
            os.close(self._fallback_fd)

    def _write_stage(self, length: int) -> None:
        view, offset = memoryview(self._stage)[:length], self._stage_offset
        try:
            while view:
                try:
                    written = os.pwrite(self.fd, view, offset)
                except OSError as exc:
                    if not self.direct or exc.errno not in _REFUSED:
                        raise
                    self._use_fallback()
                    continue
                view, offset = view[written:], offset + written
        finally:
            view.release()  # the stage's map cannot be closed while a view of it exists

    def _use_fallback(self) -> None:
        os.close(self.fd)
        self.fd, self.direct = self._fallback_fd, False


def open_pack_file(path: str) -> Union[CachedSink, DirectSink]:
    """Create ``path`` (it must not exist) and return the sink that writes it."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | O_BINARY, 0o644)
    direct_flag: Optional[int] = getattr(os, "O_DIRECT", None)
    if direct_flag is None:
        return CachedSink(fd)
    try:
        direct_fd = os.open(path, os.O_WRONLY | direct_flag)
    except OSError as exc:
        if exc.errno not in _REFUSED:
            with contextlib.suppress(OSError):
                os.close(fd)
            raise
        return CachedSink(fd)
    return DirectSink(direct_fd, fd)
