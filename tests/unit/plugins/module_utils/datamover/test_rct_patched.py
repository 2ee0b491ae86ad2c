"""Patched chunks end to end (issue 12): incrementals whose changes are smaller than a chunk store only them.

Every restore point of a chain of incrementals (pieces laid over pieces, over data, zero and unallocated chunks,
the short last chunk) restores byte for byte as the disk was at its backup, after prune too; verify, salvage,
rollback, the guest file view and the RCT audit read a patched chunk as its content, and a damaged piece is
named where it is used.
"""

from __future__ import annotations

import random

import pytest
import runs
from datamover_fakes import make_image, write_at

from ansible_collections.backup.hyperv.plugins.module_utils.datamover.base.errors import DataMoverError
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.guest.view import DiskView
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.catalog import chunk_lists, find_point
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.constants import KIND_PATCHED
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.patches import Patch
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.repository import Repository

MiB, KiB = 1 << 20, 1 << 10
DISK = "disk0.raw"
SIZE = 24 * MiB + 300 * KiB  # a short last chunk too


def _write_day(path, rng: random.Random, pieces: int) -> list:
    """Random writes of 1 byte to 200 KiB anywhere (some all zero); return them as ranges."""
    ranges = []
    for _ignored in range(pieces):
        length = rng.choice([1, 512, 4096, 33 * KiB, 96 * KiB, 200 * KiB])
        offset = rng.randrange(0, SIZE - length)
        write_at(path, offset, bytes(length) if rng.random() < 0.2 else rng.randbytes(length))
        ranges.append((offset, length))
    return ranges


def _restore(tmp_path, repo, point: str, name: str, passphrase=None, **params) -> bytes:
    out = tmp_path / "out" / point
    runs.restore(repo, "vm1", str(out), restore_point=point, format="raw", passphrase=passphrase, **params)
    return (out / DISK).read_bytes()


def _chain(tmp_path, fake_disks, passphrase, days: int = 5, pieces: int = 40):
    """A full backup and ``days`` incrementals; returns the repository and each point's (id, content, result)."""
    repo, disk = str(tmp_path / "repo"), tmp_path / DISK
    make_image(str(disk), SIZE, seed=3, hole_every=4)  # data, text, zero and unallocated chunks
    rng = random.Random(77)
    first = fake_disks.backup(repo, "vm1", [str(disk)], passphrase=passphrase)
    chain = [(first["restore_point"], disk.read_bytes(), first)]
    for _day in range(days):
        ranges = _write_day(disk, rng, pieces)
        result = fake_disks.backup(repo, "vm1", [str(disk)], passphrase=passphrase, changed_ranges={DISK: ranges})
        assert result["incremental"][DISK]["mode"] == "changed_ranges"
        chain.append((result["restore_point"], disk.read_bytes(), result))
    return repo, disk, chain


@pytest.mark.parametrize("passphrase", [None, "pw"], ids=["plain", "encrypted"])
def test_five_incrementals_of_pieces_over_pieces_restore_every_point_exactly(tmp_path, fake_disks, passphrase):
    repo, _disk, chain = _chain(tmp_path, fake_disks, passphrase)
    for point, content, _result in chain:
        assert _restore(tmp_path, repo, point, DISK, passphrase) == content, point
    incrementals = [result["incremental"][DISK] for _point, _content, result in chain[1:]]
    assert all(info["patched_chunks"] > 0 for info in incrementals)
    # chunks changed day after day outgrow the half-chunk bound and are rebuilt whole at some point
    assert any(info["partial_chunks"] > info["patched_chunks"] for info in incrementals)
    for _point, _content, result in chain[1:]:
        stats = result["stats"]
        rebuilt = result["incremental"][DISK]["partial_chunks"] - result["incremental"][DISK]["patched_chunks"]
        assert stats["bytes_read_baseline"] <= 2 * MiB * rebuilt  # a patched chunk reads nothing of its baseline
        assert stats["bytes_logical"] == SIZE
    checked = runs.verify(repo, passphrase=passphrase)
    assert checked["ok"] and checked["damaged"] == []


def test_prune_keeps_the_bases_and_pieces_later_points_need(tmp_path, fake_disks):
    repo, _disk, chain = _chain(tmp_path, fake_disks, None, days=3)
    pruned = runs.prune(repo, keep_last=1)
    assert pruned["changed"]
    point, content, _result = chain[-1]
    assert _restore(tmp_path, repo, point, DISK) == content
    assert runs.verify(repo)["ok"]


def _a_patched_piece(repo: str, point_id: str):
    """(chunk number, blob id) of the first stored extent of a patched chunk of ``point_id``."""
    opened = Repository(repo)
    opened.load_index()
    (chunks,) = chunk_lists(opened, find_point(opened, "vm1", point_id))
    for number, reference in chunks.stored_chunks():
        if isinstance(reference, Patch):
            for extent in reference.extents:
                if extent.blob is not None:
                    return number, extent.blob, opened
    raise AssertionError("no patched chunk with a stored extent")


def _flip_blob(opened: Repository, chunk_id: bytes) -> None:
    location = opened.index.lookup(chunk_id)
    with open(opened.pack_path(location.pack_id), "r+b") as handle:
        handle.seek(location.offset + location.stored_length // 2)
        byte = handle.read(1)
        handle.seek(-1, 1)
        handle.write(bytes([byte[0] ^ 0xFF]))


def test_a_damaged_piece_is_named_where_it_is_used_and_salvage_writes_the_rest(tmp_path, fake_disks):
    repo, _disk, chain = _chain(tmp_path, fake_disks, None, days=1)
    point, content, _result = chain[-1]
    number, blob, opened = _a_patched_piece(repo, point)
    _flip_blob(opened, blob)
    checked = runs.verify(repo)
    assert not checked["ok"]
    assert {(d["restore_point"], d["offset"]) for d in checked["damaged"]} == {(point, number * MiB)}
    with pytest.raises(DataMoverError, match=f"at offset {number * MiB}"):
        _restore(tmp_path, repo, point, DISK)
    salvaged = _restore(tmp_path, repo, point, DISK, salvage=True)
    lost = slice(number * MiB, (number + 1) * MiB)
    assert salvaged[lost] == bytes(MiB) and salvaged[: lost.start] == content[: lost.start]
    assert _restore(tmp_path, repo, chain[0][0], DISK) == chain[0][1]  # the full backup does not use the piece


def test_rollback_and_the_guest_view_read_patched_chunks_as_their_content(tmp_path, fake_disks):
    repo, _disk, chain = _chain(tmp_path, fake_disks, None, days=2)
    point, content, _result = chain[-1]
    opened = Repository(repo)
    opened.load_index()
    (chunks,) = chunk_lists(opened, find_point(opened, "vm1", point))
    patched = [number for number, reference in chunks.stored_chunks() if isinstance(reference, Patch)]
    assert patched and chunks.count_of(KIND_PATCHED) == len(patched)
    view = DiskView(opened, chunks, "disk")
    for number in patched[:8]:
        assert view.read_at(number * MiB + 1000, 70_000) == content[number * MiB + 1000 : number * MiB + 71_000]
    live = tmp_path / "live"
    live.mkdir()
    changed = bytearray(content)
    for number in patched[:3]:  # the live disk drifted inside patched chunks since the backup
        changed[number * MiB + 5 : number * MiB + 9] = b"LIVE"
    (live / DISK).write_bytes(bytes(changed))
    runs.restore(repo, "vm1", str(live), restore_point=point, format="raw", rollback=True)
    assert (live / DISK).read_bytes() == content


def test_an_audit_over_a_patched_baseline_passes_honest_ranges_and_names_a_missed_change(tmp_path, fake_disks):
    repo, disk, chain = _chain(tmp_path, fake_disks, None, days=1)
    point, _content, _result = chain[-1]
    number, _blob, _opened = _a_patched_piece(repo, point)
    write_at(disk, 3 * MiB + 10, b"told")  # reported
    honest = {DISK: {"since": None, "ranges": [[3 * MiB + 10, 4]], "reason": None, "audit": True}}
    result = fake_disks.backup(repo, "vm1", [str(disk)], changed_ranges=honest)
    assert result["incremental"][DISK]["rct_audit"]["chunks_missed"] == 0
    # the audited point is a full read: no patches; patch a chunk again, then leave a change out
    ranges = [(number * MiB + 100, 4096)]
    write_at(disk, number * MiB + 100, b"p" * 4096)
    again = fake_disks.backup(repo, "vm1", [str(disk)], changed_ranges={DISK: ranges})
    assert again["incremental"][DISK]["patched_chunks"] == 1
    write_at(disk, number * MiB + 200_000, b"unreported")
    lying = {DISK: {"since": None, "ranges": [], "reason": None, "audit": True}}
    audited = fake_disks.backup(repo, "vm1", [str(disk)], changed_ranges=lying)
    assert audited["incremental"][DISK]["rct_audit"]["missed_offsets"] == [number * MiB]
    out = _restore(tmp_path, repo, audited["restore_point"], DISK)
    assert out == disk.read_bytes()
