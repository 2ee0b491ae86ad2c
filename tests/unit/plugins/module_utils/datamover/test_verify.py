"""Verify and restore against damage: damaged pack bytes, missing packs, damaged index and records."""

from __future__ import annotations

import pytest
import runs
from datamover_fakes import damage_stored_chunk, make_image, read_tree

from ansible_collections.backup.hyperv.plugins.module_utils.datamover.base.errors import CorruptionError

MiB = 1 << 20


@pytest.fixture
def two_points(tmp_path, fake_disks):
    repo = tmp_path / "repo"
    disk = tmp_path / "disk0.raw"
    content = make_image(str(disk), 8 * MiB, seed=4)
    first = fake_disks.backup(str(repo), "vm1", [str(disk)])["restore_point"]
    second = fake_disks.backup(str(repo), "vm2", [str(disk)])["restore_point"]
    return repo, content, (first, second)


def _damage_chunk_at(repo, content: bytes, offset: int) -> None:
    """Flip one byte inside the stored blob of the chunk holding ``offset``."""
    damage_stored_chunk(repo, content[offset : offset + MiB])


def test_verify_of_healthy_repository(two_points):
    repo, _ignored, _ignored = two_points
    result = runs.verify(str(repo))
    assert result["ok"] and result["checked_chunks"] > 0 and result["restore_points"] == 2


def test_damaged_chunk_is_named_by_disk_and_offset_and_restore_refuses(tmp_path, two_points):
    repo, content, (first, second) = two_points
    _damage_chunk_at(repo, content, 2 * MiB)
    result = runs.verify(str(repo))
    assert not result["ok"] and result["damaged_chunks"] == 1
    places = {(d["vm"], d["restore_point"], d["disk"], d["offset"]) for d in result["damaged"]}
    assert places == {("vm1", first, "disk0.raw", 2 * MiB), ("vm2", second, "disk0.raw", 2 * MiB)}
    only_vm2 = runs.verify(str(repo), vm="vm2")
    assert {d["vm"] for d in only_vm2["damaged"]} == {"vm2"}
    one_point = runs.verify(str(repo), restore_point=first)
    assert {d["restore_point"] for d in one_point["damaged"]} == {first} and one_point["restore_points"] == 1
    assert runs.verify(str(repo), vm="vm1", restore_point="latest")["restore_points"] == 1
    with pytest.raises(CorruptionError, match=f"disk disk0.raw at offset {2 * MiB}"):
        runs.restore(str(repo), "vm1", str(tmp_path / "out"), format="raw")
    assert read_tree(str(tmp_path / "out")) == {}  # the partial output was removed


def test_missing_pack_and_damaged_index_are_reported(two_points):
    repo, _ignored, _ignored = two_points
    packs = sorted((repo / "packs").rglob("*.pack"))
    packs[0].unlink()
    index_file = next((repo / "index").glob("*.idx"))
    data = bytearray(index_file.read_bytes())
    data[40] ^= 1
    index_file.write_bytes(bytes(data))
    result = runs.verify(str(repo))
    reasons = " ".join(p["reason"] for p in result["problems"])
    assert not result["ok"] and "damaged" in reasons
    assert all(d["reason"] for d in result["damaged"]) and result["damaged"]


def test_index_naming_a_missing_pack_is_reported(two_points):
    repo, _ignored, _ignored = two_points
    next((repo / "packs").rglob("*.pack")).unlink()
    result = runs.verify(str(repo))
    assert any("missing" in p["reason"] for p in result["problems"]) and result["damaged"]


def test_damaged_restore_point_record_is_reported(two_points):
    repo, _ignored, (first, _ignored) = two_points
    chunk_file = repo / "points" / f"{first}.chunks"
    chunk_file.write_bytes(chunk_file.read_bytes()[:-1] + b"!")
    result = runs.verify(str(repo))
    assert not result["ok"] and any(p.get("restore_point") == first for p in result["problems"])


def test_damaged_index_file_is_reported_but_does_not_block_restore_or_backup(tmp_path, two_points, fake_disks):
    repo, content, _ignored = two_points
    for index_file in (repo / "index").glob("*.idx"):
        index_file.write_bytes(index_file.read_bytes()[:-3] + b"bad")
    assert any("index" in p for p in runs.verify(str(repo))["problems"])
    runs.restore(str(repo), "vm1", str(tmp_path / "out"), format="raw")
    assert (tmp_path / "out" / "disk0.raw").read_bytes() == content
    again = fake_disks.backup(str(repo), "vm3", [str(tmp_path / "disk0.raw")])
    assert again["stats"]["chunks_new"] == 0  # chunks found through the packs' own tables
    runs.prune(str(repo), 1)  # rewrites the index and drops the damaged files
    assert runs.verify(str(repo))["ok"]
