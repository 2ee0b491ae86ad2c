"""Pack file sinks: direct I/O with its staging and padding, its fallback, and the page-cache path."""

from __future__ import annotations

import errno
import fcntl
import os
from pathlib import Path

import pytest

from ansible_collections.backup.hyperv.plugins.module_utils.datamover.base import diskio
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.base.diskio import (
    PACK_STAGE_SIZE,
    WRITEBACK_STEP,
    CachedSink,
    DirectSink,
    open_pack_file,
    positional_writer,
)

# pieces that straddle the stage boundary, end unaligned, and include an empty and a one-byte write
SIZES = [32, 1, 0, PACK_STAGE_SIZE - 40, 4096, PACK_STAGE_SIZE + 777, 3, 100_000]


def write_through(path: Path, pieces: list) -> object:
    sink = open_pack_file(str(path))
    for piece in pieces:
        sink.append(piece)
    sink.seal()
    sink.close()
    return sink


def pieces_of(sizes: list) -> list:
    return [os.urandom(size) for size in sizes]


def test_a_pack_file_holds_exactly_what_was_appended(tmp_path: Path) -> None:
    pieces = pieces_of(SIZES)
    sink = write_through(tmp_path / "pack.tmp", pieces)
    assert (tmp_path / "pack.tmp").read_bytes() == b"".join(pieces)  # padding cut off, nothing lost
    assert sink.size == sum(SIZES)


@pytest.mark.skipif(not hasattr(os, "O_DIRECT"), reason="direct I/O exists on Linux and the BSDs only")
def test_direct_io_is_used_where_the_file_system_takes_it(tmp_path: Path) -> None:
    sink = open_pack_file(str(tmp_path / "pack.tmp"))
    try:
        assert isinstance(sink, DirectSink)  # tmp_path is on a disk file system in this suite's runs
    finally:
        sink.close()


@pytest.mark.skipif(not hasattr(os, "O_DIRECT"), reason="direct I/O exists on Linux and the BSDs only")
def test_a_refused_direct_open_falls_back_to_the_page_cache(tmp_path: Path, monkeypatch) -> None:
    real_open = os.open

    def refusing(path, flags, *args):
        if flags & os.O_DIRECT:
            raise OSError(errno.EINVAL, "Invalid argument")
        return real_open(path, flags, *args)

    monkeypatch.setattr(os, "open", refusing)
    pieces = pieces_of(SIZES)
    sink = write_through(tmp_path / "pack.tmp", pieces)
    assert isinstance(sink, CachedSink)
    assert (tmp_path / "pack.tmp").read_bytes() == b"".join(pieces)


@pytest.mark.skipif(not hasattr(os, "O_DIRECT"), reason="direct I/O exists on Linux and the BSDs only")
def test_a_refused_direct_write_switches_to_the_page_cache_without_losing_bytes(tmp_path: Path, monkeypatch) -> None:
    real_pwrite, refused = os.pwrite, []

    def refusing_once(fd, data, offset):
        if not refused:
            refused.append(offset)
            raise OSError(errno.EINVAL, "Invalid argument")
        return real_pwrite(fd, data, offset)

    monkeypatch.setattr(os, "pwrite", refusing_once)
    pieces = pieces_of(SIZES)
    sink = write_through(tmp_path / "pack.tmp", pieces)
    assert refused == [0] and isinstance(sink, DirectSink) and not sink.direct
    assert (tmp_path / "pack.tmp").read_bytes() == b"".join(pieces)


def test_other_write_errors_are_not_swallowed(tmp_path: Path, monkeypatch) -> None:
    def full(*args):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "pwrite", full)
    monkeypatch.setattr(os, "write", full)
    sink = open_pack_file(str(tmp_path / "pack.tmp"))
    with pytest.raises(OSError) as raised:
        sink.append(os.urandom(PACK_STAGE_SIZE + 1))
        sink.seal()
    sink.close()
    assert raised.value.errno == errno.ENOSPC


def test_page_cache_writes_start_writeback_in_contiguous_steps(tmp_path: Path, monkeypatch) -> None:
    advised = []
    monkeypatch.setattr(diskio, "start_writeback", lambda fd, offset, length: advised.append((offset, length)))
    fd = os.open(str(tmp_path / "pack.tmp"), os.O_WRONLY | os.O_CREAT | os.O_EXCL)
    sink = CachedSink(fd)
    pieces = pieces_of([3 << 20] * 7)  # 21 MiB: several steps
    for piece in pieces:
        sink.append(piece)
    sink.seal()
    sink.close()
    assert len(advised) >= 3 and advised[0][0] == 0
    assert all(a[0] + a[1] == b[0] for a, b in zip(advised, advised[1:]))
    assert all(length >= WRITEBACK_STEP for _offset, length in advised)
    assert (tmp_path / "pack.tmp").read_bytes() == b"".join(pieces)


def write_in_place(path: Path, pieces: dict) -> object:
    """Write {offset: bytes} in the given order into a new file through a positional writer."""
    fd = os.open(str(path), os.O_RDWR | os.O_CREAT | os.O_EXCL)
    writer = positional_writer(str(path), fd)
    try:
        for offset, data in pieces.items():
            writer.pwrite(data, offset)
        os.fsync(fd)
    finally:
        writer.close()
        os.close(fd)
    return writer


def expected_file(pieces: dict) -> bytes:
    content = bytearray(max(offset + len(data) for offset, data in pieces.items()))
    for offset, data in pieces.items():
        content[offset : offset + len(data)] = data
    return bytes(content)


# out of order, aligned (direct) and unaligned (page cache) pieces, one larger than the stage, one overwritten
IN_PLACE = {
    3 << 20: os.urandom(1 << 20),
    0: os.urandom(4096),
    (1 << 20) + 100: os.urandom(333),
    16 << 20: os.urandom(9 << 20),
    5 << 20: os.urandom(8192),
}


def test_a_positional_writer_writes_every_piece_where_it_belongs(tmp_path: Path) -> None:
    pieces = dict(IN_PLACE)
    pieces[3 << 20] = os.urandom(1 << 20)  # the same range again: the last write wins, as with pwrite
    write_in_place(tmp_path / "disk.raw", pieces)
    assert (tmp_path / "disk.raw").read_bytes() == expected_file(pieces)


@pytest.mark.skipif(not hasattr(os, "O_DIRECT"), reason="direct I/O exists on Linux and the BSDs only")
def test_a_positional_writer_goes_direct_for_aligned_pieces_only(tmp_path: Path, monkeypatch) -> None:
    real_pwrite, direct_writes = os.pwrite, []

    def recording(fd, data, offset):
        if fcntl_direct(fd):
            direct_writes.append((offset, len(data)))
        return real_pwrite(fd, data, offset)

    monkeypatch.setattr(os, "pwrite", recording)
    write_in_place(tmp_path / "disk.raw", IN_PLACE)
    assert (1 << 20) + 100 not in {offset for offset, _length in direct_writes}
    assert {3 << 20, 0, 16 << 20, 24 << 20, 5 << 20} <= {offset for offset, _length in direct_writes}
    assert (tmp_path / "disk.raw").read_bytes() == expected_file(IN_PLACE)


def fcntl_direct(fd: int) -> bool:
    """Whether ``fd`` was opened for direct I/O."""
    return bool(fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_DIRECT)


@pytest.mark.skipif(not hasattr(os, "O_DIRECT"), reason="direct I/O exists on Linux and the BSDs only")
def test_a_positional_writer_falls_back_when_a_direct_write_is_refused(tmp_path: Path, monkeypatch) -> None:
    real_pwrite = os.pwrite

    def refusing_direct(fd, data, offset):
        if fcntl_direct(fd):
            raise OSError(errno.EINVAL, "Invalid argument")
        return real_pwrite(fd, data, offset)

    monkeypatch.setattr(os, "pwrite", refusing_direct)
    writer = write_in_place(tmp_path / "disk.raw", IN_PLACE)
    assert not writer.direct
    assert (tmp_path / "disk.raw").read_bytes() == expected_file(IN_PLACE)
