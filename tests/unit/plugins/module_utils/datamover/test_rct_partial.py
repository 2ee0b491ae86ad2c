"""Partial chunks (issue 12): a chunk the changed ranges touch only in part is read from the source only there.

While what changed covers at most half of it, the chunk is stored as a patch: the pieces read as blobs of their
own over the baseline's chunk, nothing of the baseline read. Past that it is rebuilt: the rest comes from the
baseline's chunk in the repository (checked as a restore checks it), or is zeros when the baseline chunk was zero
or unallocated. Either way the restore point must be the one a full read gives.

The bound on the bytes read from the source: every range rounded out to 4 KiB, the largest sector size of a
virtual disk (VHDX logical sectors are 512 or 4096 bytes), counted once where ranges overlap. A range costs
its own bytes plus less than one sector on each side, never the whole chunk around it.
"""

from __future__ import annotations

import random

import pytest
import runs
from datamover_fakes import damage_stored_chunk, make_image, open_fake_disk, write_at

from ansible_collections.backup.hyperv.plugins.module_utils.datamover.run import fallbacks

MiB, KiB = 1 << 20, 1 << 10
SECTOR = 4 * KiB
DISK = "disk0.raw"
SIZE = 64 * MiB + 300 * KiB  # a short last chunk too


def _scatter(path, seed: int, pieces: int = 20, length: int = 64 * KiB) -> list:
    """Write ``pieces`` random pieces at random byte offsets (about 2 % of the disk); return them as ranges."""
    rng = random.Random(seed)
    size = path.stat().st_size
    ranges = [(rng.randrange(0, size - length), length) for _ignored in range(pieces)]
    ranges.append((size - 100 * KiB - 7, 5000))  # inside the short last chunk
    for offset, count in ranges:
        write_at(path, offset, rng.randbytes(count))
    return ranges


def _sector_bound(ranges) -> int:
    """The bytes of the 4 KiB sectors the ranges touch (each sector once)."""
    return SECTOR * len({s for o, n in ranges for s in range(o // SECTOR, (o + n - 1) // SECTOR + 1)})


def _restored(tmp_path, repo, vm: str, name: str, passphrase=None) -> bytes:
    runs.restore(repo, vm, str(tmp_path / "out" / vm), format="raw", passphrase=passphrase)
    return (tmp_path / "out" / vm / name).read_bytes()


@pytest.fixture
def disk(tmp_path):
    path = tmp_path / DISK
    make_image(str(path), SIZE, seed=5, hole_every=7)  # data, text, zero and unallocated chunks
    return path


@pytest.mark.parametrize("passphrase", [None, "pw"], ids=["plain", "encrypted"])
def test_scattered_small_ranges_read_their_sectors_not_their_chunks(tmp_path, disk, fake_disks, passphrase):
    repo = str(tmp_path / "repo")
    fake_disks.backup(repo, "vm1", [str(disk)], passphrase=passphrase)
    ranges = _scatter(disk, seed=12)
    fake_disks.bytes_read_total = 0
    result = fake_disks.backup(repo, "vm1", [str(disk)], passphrase=passphrase, changed_ranges={DISK: ranges})
    stats, info = result["stats"], result["incremental"][DISK]
    assert fake_disks.bytes_read_total == stats["bytes_read"] <= _sector_bound(ranges)
    assert stats["bytes_read"] < 2 * MiB  # the whole chunks around 21 ranges were about 21 MiB
    assert stats["bytes_read_baseline"] == 0 and info["mode"] == "changed_ranges"  # patched: no baseline read
    touched = {c for o, n in ranges for c in range(o // MiB, (o + n - 1) // MiB + 1)}
    assert info["partial_chunks"] == info["patched_chunks"] == len(touched) and "partial_fallbacks" not in info
    assert stats["bytes_stored"] < _sector_bound(ranges) + 28 * len(ranges) + 4096  # the pieces, sealed: no chunk
    assert _restored(tmp_path, repo, "vm1", DISK, passphrase) == disk.read_bytes()
    assert runs.verify(repo, passphrase=passphrase)["ok"]


def test_three_slots_fill_partial_chunks_and_restore_every_vm_exactly(tmp_path, fake_disks):
    repo = str(tmp_path / "repo")
    paths = {f"vm{n}": tmp_path / f"vm{n}.raw" for n in range(4)}
    for seed, path in enumerate(paths.values()):
        make_image(str(path), 16 * MiB, seed=30 + seed, hole_every=5)
    jobs = [{"vm": vm, "sources": [str(path)]} for vm, path in paths.items()]
    runs.run("backup", repo, jobs=jobs, slots=3, workers=2, passphrase="pw", disk_opener=open_fake_disk)
    written = {vm: _scatter(path, seed=40 + n, pieces=5) for n, (vm, path) in enumerate(paths.items())}
    for job in jobs:
        job["changed_ranges"] = {job["sources"][0]: written[job["vm"]]}
    fake_disks.bytes_read_total = 0
    reply = runs.run("backup", repo, jobs=jobs, slots=3, workers=2, passphrase="pw", disk_opener=open_fake_disk)
    assert reply["failed_vms"] == []
    assert fake_disks.bytes_read_total <= sum(_sector_bound(ranges) for ranges in written.values())
    for vm, path in paths.items():
        assert _restored(tmp_path, repo, vm, path.name, "pw") == path.read_bytes(), vm


@pytest.mark.parametrize("passphrase", [None, "pw"], ids=["plain", "encrypted"])
def test_a_damaged_baseline_chunk_is_read_whole_from_the_source_and_said(tmp_path, fake_disks, passphrase):
    repo, disk = str(tmp_path / "repo"), tmp_path / DISK
    content = make_image(str(disk), 16 * MiB, seed=9)  # chunks 2 and 4 hold random data
    fake_disks.backup(repo, "vm1", [str(disk)], passphrase=passphrase)
    damage_stored_chunk(repo, content[2 * MiB : 3 * MiB], passphrase)
    # chunk 2: more than half changed, so rebuilt over its (damaged) baseline chunk; chunk 4: patched
    ranges = [(2 * MiB + 300_000, 600 * KiB), (4 * MiB + 8 * KiB, 64 * KiB)]
    for offset, length in ranges:
        write_at(disk, offset, b"n" * length)
    fake_disks.bytes_read_total = 0
    result = fake_disks.backup(repo, "vm1", [str(disk)], passphrase=passphrase, changed_ranges={DISK: ranges})
    info = result["incremental"][DISK]
    assert fake_disks.bytes_read_total == MiB + 64 * KiB  # chunk 2 whole, chunk 4 only its range
    assert info["partial_chunks"] == info["patched_chunks"] == 1
    fallback = info["partial_fallbacks"]
    assert fallback["chunks"] == 1 and fallback["offsets"] == [2 * MiB]
    assert fallback["reason"].startswith(fallbacks.baseline_chunk_failed(""))
    assert _restored(tmp_path, repo, "vm1", DISK, passphrase) == disk.read_bytes()


def test_ranges_that_cover_whole_chunks_read_them_as_before(tmp_path, disk, fake_disks):
    repo = str(tmp_path / "repo")
    fake_disks.backup(repo, "vm1", [str(disk)])
    ranges = [(2 * MiB, 2 * MiB), (8 * MiB, 512 * KiB), (8 * MiB + 512 * KiB, 512 * KiB), (64 * MiB, 300 * KiB)]
    for offset, length in ranges:
        write_at(disk, offset, b"w" * length)
    fake_disks.bytes_read_total = 0
    result = fake_disks.backup(repo, "vm1", [str(disk)], changed_ranges={DISK: ranges})
    assert fake_disks.bytes_read_total == result["stats"]["bytes_read"] == 3 * MiB + 300 * KiB
    assert result["stats"]["bytes_read_baseline"] == 0 and result["incremental"][DISK]["partial_chunks"] == 0
    assert _restored(tmp_path, repo, "vm1", DISK) == disk.read_bytes()
