"""Pack file sinks: direct I/O with its staging and padding, its fallback, and the page-cache path."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from ansible_collections.backup.hyperv.plugins.module_utils.datamover import packfile
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.packfile import (
    STAGE_SIZE,
    WRITEBACK_STEP,
    CachedSink,
    DirectSink,
    open_pack_file,
)

# pieces that straddle the stage boundary, end unaligned, and include an empty and a one-byte write
SIZES = [32, 1, 0, STAGE_SIZE - 40, 4096, STAGE_SIZE + 777, 3, 100_000]


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
        sink.append(os.urandom(STAGE_SIZE + 1))
        sink.seal()
    sink.close()
    assert raised.value.errno == errno.ENOSPC


def test_page_cache_writes_start_writeback_in_contiguous_steps(tmp_path: Path, monkeypatch) -> None:
    advised = []
    monkeypatch.setattr(packfile, "start_writeback", lambda fd, offset, length: advised.append((offset, length)))
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
