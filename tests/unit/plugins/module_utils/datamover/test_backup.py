"""Incremental backups: changed ranges (RCT) read only the changed chunks; fallbacks say why."""

from __future__ import annotations

import os
import threading

import pytest
import runs
from datamover_fakes import make_image

from ansible_collections.backup.hyperv.plugins.module_utils.datamover.base.errors import SourceUnavailableError
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.run.backup import ChunkWork
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.run.pipeline import BufferPool
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.run.streams import Stream
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.compress import Codec
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.snapshot import ChunkList

MiB = 1 << 20


@pytest.fixture
def repo_with_baseline(tmp_path, fake_disks):
    disk = tmp_path / "disk0.raw"
    make_image(str(disk), 32 * MiB, seed=3)
    repo = str(tmp_path / "repo")
    fake_disks.backup(repo, "vm1", [str(disk)])
    fake_disks.bytes_read_total = 0
    return repo, disk


def _modify(disk, offset: int, data: bytes) -> bytes:
    with open(disk, "r+b") as handle:
        handle.seek(offset)
        handle.write(data)
    return disk.read_bytes()


def test_changed_ranges_read_only_their_chunks(tmp_path, repo_with_baseline, fake_disks):
    repo, disk = repo_with_baseline
    content = _modify(disk, 5 * MiB + 100, b"x" * 5000)  # one chunk
    content = _modify(disk, 20 * MiB - 10, b"y" * 20)  # straddles two chunks
    ranges = {str(disk): [(5 * MiB + 100, 5000), (20 * MiB - 10, 20)]}
    result = fake_disks.backup(repo, "vm1", [str(disk)], changed_ranges=ranges)
    # the ranges' 4 KiB sectors (two each: one range crosses a sector edge, the other a chunk edge), not 3 chunks
    assert fake_disks.bytes_read_total == 4 * 4096 == result["stats"]["bytes_read"]
    assert result["incremental"]["disk0.raw"]["mode"] == "changed_ranges"
    assert result["stats"]["chunks_new"] == 3
    runs.restore(repo, "vm1", str(tmp_path / "out"), format="raw")
    assert (tmp_path / "out" / "disk0.raw").read_bytes() == content


@pytest.mark.parametrize("key", ["disk0.raw", "relative", "symlink"])
def test_ranges_keyed_by_file_name_or_other_path_spelling_are_accepted(tmp_path, repo_with_baseline, fake_disks, key):
    repo, disk = repo_with_baseline
    if key == "relative":
        key = os.path.relpath(disk)
    elif key == "symlink":
        (tmp_path / "link").symlink_to(disk)
        key = str(tmp_path / "link")
    result = fake_disks.backup(repo, "vm1", [str(disk)], changed_ranges={key: [(0, 1)]})
    assert result["stats"]["bytes_read"] == 4096 and result["incremental"]["disk0.raw"]["mode"] == "changed_ranges"


def test_without_ranges_reads_allocated_blocks_and_stores_only_new_chunks(repo_with_baseline, fake_disks):
    repo, disk = repo_with_baseline
    _modify(disk, 7 * MiB, b"z" * 10)
    result = fake_disks.backup(repo, "vm1", [str(disk)])
    assert result["stats"]["bytes_read"] > 20 * MiB and result["stats"]["chunks_new"] == 1
    assert result["incremental"]["disk0.raw"]["mode"] == "full"


def test_resized_disk_falls_back_to_full_read_and_says_why(tmp_path, repo_with_baseline, fake_disks):
    repo, disk = repo_with_baseline
    with open(disk, "r+b") as handle:
        handle.truncate(40 * MiB)
    result = fake_disks.backup(repo, "vm1", [str(disk)], changed_ranges={str(disk): [(0, 10)]})
    info = result["incremental"]["disk0.raw"]
    assert info["mode"] == "full" and "size changed" in info["fallback_reason"]
    assert result["stats"]["bytes_read"] > MiB
    runs.restore(repo, "vm1", str(tmp_path / "out"), format="raw")
    assert (tmp_path / "out" / "disk0.raw").read_bytes() == disk.read_bytes()


def test_no_baseline_falls_back_to_full_read(tmp_path, fake_disks):
    disk = tmp_path / "d.raw"
    make_image(str(disk), 4 * MiB, seed=5)
    result = fake_disks.backup(str(tmp_path / "repo"), "new-vm", [str(disk)], changed_ranges={str(disk): [(0, 1)]})
    info = result["incremental"]["d.raw"]
    assert info["mode"] == "full" and "no previous restore point" in info["fallback_reason"]


def test_other_chunk_size_falls_back(repo_with_baseline, fake_disks):
    repo, disk = repo_with_baseline
    result = fake_disks.backup(repo, "vm1", [str(disk)], block_size=2 * MiB, changed_ranges={str(disk): [(0, 1)]})
    assert "chunk size changed" in result["incremental"]["disk0.raw"]["fallback_reason"]


class _FailingSource:
    def readinto(self, offset: int, view: memoryview) -> None:
        raise OSError(5, "Input/output error")


def test_a_failed_read_names_the_disk_and_gives_its_buffer_back(tmp_path):
    """A worker reads its own chunk: when the read fails, the error names disk and offset, and the buffer
    goes back to the pool (a pool of one would otherwise block the next read for ever)."""
    chunks = ChunkList(4 * MiB, MiB)
    stream = Stream("disk0.raw", str(tmp_path / "disk0.raw"), _FailingSource(), chunks)
    pool = BufferPool(1, MiB)
    work = ChunkWork(lambda data: b"", Codec(0), None, None, [stream], pool)
    with pytest.raises(SourceUnavailableError, match=rf"disk0\.raw at offset {MiB} failed"):
        work((0, 1))
    taken = []
    taker = threading.Thread(target=lambda: taken.append(pool.get()), daemon=True)  # blocks if the buffer leaked
    taker.start()
    taker.join(timeout=5)
    assert len(taken) == 1 and len(taken[0]) == MiB
