"""Read hints of an incremental (issue 12): each chunk's baseline blob and source bytes are asked of the disks ahead.

Packs are written with direct I/O, so on day 2 an incremental's baseline chunks are on the disk, not in the page
cache, and the changed ranges are scattered over the source. Both are hinted (``posix_fadvise`` WILLNEED) as the
pipeline takes the chunk, a window of chunks before a worker reads it, so the reads queue at the disks together
instead of one per worker at a time. A hint changes no byte: the chunk is still read, checked against its id and
overlaid as before, and the restore is exact.
"""

from __future__ import annotations

import os
import random

import pytest
import runs
from datamover_fakes import make_image, write_at

from ansible_collections.backup.hyperv.plugins.module_utils.datamover.base.errors import CorruptionError
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.disk.vhdx.reader import VhdxSource
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.catalog import chunk_lists, find_point
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.constants import PACK_ID_SIZE
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.repository import Repository

MiB, KiB = 1 << 20, 1 << 10
SECTOR = 4 * KiB
DISK = "disk0.raw"
WILL_NEED = getattr(os, "POSIX_FADV_WILLNEED", 3)


def _one_piece_per_chunk(path, chunks: int, seed: int) -> list:
    """Write a 600 KiB piece of random bytes inside each of the first ``chunks`` chunks (more than half a chunk:
    each is rebuilt over its baseline content, not patched); return the ranges."""
    rng = random.Random(seed)
    ranges = [(number * MiB + rng.randrange(0, MiB - 600 * KiB), 600 * KiB) for number in range(chunks)]
    for offset, length in ranges:
        write_at(path, offset, rng.randbytes(length))
    return ranges


def _record(events: list, kind: str, real):
    def recorded(self, pack_id, offset, length):
        events.append((kind, (pack_id, offset, length)))
        return real(self, pack_id, offset, length)

    return recorded


def _most_ahead(events: list) -> int:
    """The most hints given but not yet read at the moment of any read."""
    hinted = read = most = 0
    for kind, _where in events:
        hinted, read = hinted + (kind == "hint"), read + (kind == "read")
        if kind == "read":
            most = max(most, hinted - read + 1)
    return most


def test_every_baseline_chunk_is_hinted_before_it_is_read_and_the_restore_is_exact(tmp_path, fake_disks, monkeypatch):
    repo, disk = str(tmp_path / "repo"), tmp_path / DISK
    make_image(str(disk), 32 * MiB, seed=21)  # random, text and zero chunks, no holes
    fake_disks.backup(repo, "vm1", [str(disk)])
    ranges = _one_piece_per_chunk(disk, 32, seed=22)
    events: list = []
    monkeypatch.setattr(Repository, "prefetch_blob", _record(events, "hint", Repository.prefetch_blob))
    monkeypatch.setattr(Repository, "read_blob", _record(events, "read", Repository.read_blob))
    result = fake_disks.backup(repo, "vm1", [str(disk)], changed_ranges={DISK: ranges}, workers=2)
    reads = [where for kind, where in events if kind == "read"]
    hints = [where for kind, where in events if kind == "hint"]
    info = result["incremental"][DISK]
    assert info["partial_chunks"] == 32 and "partial_fallbacks" not in info and "patched_chunks" not in info
    assert reads and sum(length for _pack, _offset, length in reads) == result["stats"]["bytes_read_baseline"]
    assert sorted(hints) == sorted(reads)  # each baseline blob read once, hinted once: no more, no less
    for position, (kind, where) in enumerate(events):
        if kind == "read":
            assert ("hint", where) in events[:position], where
    # the pipeline's window (12 chunks of 1 MiB for 2 workers): hints run further ahead than one per worker
    assert _most_ahead(events) > 2 + 1
    runs.restore(repo, "vm1", str(tmp_path / "out"), format="raw")
    assert (tmp_path / "out" / DISK).read_bytes() == disk.read_bytes()
    assert runs.verify(repo)["ok"]


@pytest.fixture
def opened(tmp_path, fake_disks):
    """A repository of one backed-up disk, opened and indexed."""
    disk = tmp_path / DISK
    make_image(str(disk), 4 * MiB, seed=23)
    fake_disks.backup(str(tmp_path / "repo"), "vm1", [str(disk)])
    repo = Repository(str(tmp_path / "repo"))
    repo.load_index()
    yield repo
    repo.close()


def _a_location(repo: Repository):
    _number, chunk_id = next(iter(chunk_lists(repo, find_point(repo, "vm1", "latest"))[0].data_chunks()))
    return repo.index.lookup(chunk_id)


def test_a_hint_names_the_blob_in_its_pack_and_nothing_else(opened, monkeypatch):
    calls: list = []
    monkeypatch.setattr(os, "posix_fadvise", lambda *args: calls.append(args), raising=False)
    where = _a_location(opened)
    opened.prefetch_blob(where.pack_id, where.offset, where.stored_length)
    [(fd, offset, length, advice)] = calls
    assert os.path.samestat(os.fstat(fd), os.stat(opened.pack_path(where.pack_id)))
    assert (offset, length, advice) == (where.offset, where.stored_length, WILL_NEED)


def test_a_hint_never_fails_and_leaves_a_missing_pack_to_the_read(opened, monkeypatch):
    calls: list = []
    monkeypatch.setattr(os, "posix_fadvise", lambda *args: calls.append(args), raising=False)
    missing = bytes(PACK_ID_SIZE)
    opened.prefetch_blob(missing, 0, MiB)
    assert calls == []
    with pytest.raises(CorruptionError, match="missing or unreadable"):
        opened.read_blob(missing, 0, MiB)

    def refused(*_args):
        raise OSError(22, "Invalid argument")

    monkeypatch.setattr(os, "posix_fadvise", refused, raising=False)
    where = _a_location(opened)
    opened.prefetch_blob(where.pack_id, where.offset, where.stored_length)  # a refused hint is no error


def test_where_the_system_has_no_such_hint_nothing_is_asked(opened, monkeypatch):
    monkeypatch.delattr(os, "posix_fadvise", raising=False)  # Windows: no posix_fadvise
    where = _a_location(opened)
    opened.prefetch_blob(where.pack_id, where.offset, where.stored_length)
    assert len(opened.read_blob(where.pack_id, where.offset, where.stored_length)) == where.stored_length


def _hints_on(path, monkeypatch) -> list:
    """Record each WILLNEED hint given on the file ``path`` as (offset, length)."""
    hints: list = []
    wanted = os.stat(path)

    def advise(fd, offset, length, advice):
        if advice == WILL_NEED and os.path.samestat(os.fstat(fd), wanted):
            hints.append((offset, length))

    monkeypatch.setattr(os, "posix_fadvise", advise, raising=False)
    return hints


def test_the_source_bytes_an_incremental_reads_are_hinted_and_only_those(tmp_path, monkeypatch):
    repo, disk = str(tmp_path / "repo"), tmp_path / DISK
    make_image(str(disk), 16 * MiB, seed=24)
    runs.backup(repo, "vm1", [str(disk)])  # the real raw disk reader, not a fake
    ranges = [*_one_piece_per_chunk(disk, 3, seed=25), (8 * MiB, MiB)]  # three pieces and one whole chunk
    write_at(disk, 8 * MiB, random.Random(26).randbytes(MiB))
    hints = _hints_on(disk, monkeypatch)
    result = runs.backup(repo, "vm1", [str(disk)], changed_ranges={DISK: ranges}, workers=2)
    sectors = [(o // SECTOR * SECTOR, -(-(o + n) // SECTOR) * SECTOR - o // SECTOR * SECTOR) for o, n in ranges]
    assert sorted(hints) == sorted(sectors)  # what is read: each range rounded out to 4 KiB
    assert result["stats"]["bytes_read"] == sum(length for _offset, length in sectors)
    runs.restore(repo, "vm1", str(tmp_path / "out"), format="raw")
    assert (tmp_path / "out" / DISK).read_bytes() == disk.read_bytes()


def test_a_full_backup_gives_no_hints(tmp_path, monkeypatch):
    disk = tmp_path / DISK
    make_image(str(disk), 4 * MiB, seed=27)
    hints = _hints_on(disk, monkeypatch)
    runs.backup(str(tmp_path / "repo"), "vm1", [str(disk)], workers=2)  # sequential: the kernel reads ahead
    assert hints == []


def test_a_vhdx_hints_the_file_bytes_behind_a_virtual_range(tmp_path, monkeypatch):
    disk = tmp_path / DISK
    content = make_image(str(disk), 8 * MiB, seed=28, hole_every=4)  # chunk 3 and 7: unallocated
    runs.backup(str(tmp_path / "repo"), "vm1", [str(disk)])
    runs.restore(str(tmp_path / "repo"), "vm1", str(tmp_path / "out"), format="vhdx")
    [path] = (tmp_path / "out").glob("*.vhdx")
    hints = _hints_on(path, monkeypatch)
    with VhdxSource(str(path)) as source:
        assert source.block_size == MiB  # so every chunk below is a block of its own
        source.prefetch(MiB + 4 * KiB, 2 * MiB)  # blocks 1 and 2: present
        source.prefetch(3 * MiB, MiB)  # block 3: never written, nothing to hint
        source.prefetch(7 * MiB, 2 * MiB)  # past the end: no hint, no error
    assert [length for _offset, length in hints] == [MiB - 4 * KiB, MiB]
    with open(path, "rb") as handle:
        for (offset, length), virtual in zip(hints, (MiB + 4 * KiB, 2 * MiB)):
            handle.seek(offset)
            assert handle.read(length) == content[virtual : virtual + length]
