"""``repair`` (issue 17): the index rebuilt from the packs of a real test repository whose index files and
packs were deleted or damaged; damaged and missing chunks dropped and the restore points they hit named; the
next backup of the same content stores them again, so the repository heals."""

from __future__ import annotations

import io
import json

import pytest
import runs
from datamover_fakes import damage_stored_chunk, make_image, read_tree

from ansible_collections.backup.hyperv.plugins.module_utils.datamover import cli
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.base.errors import CorruptionError
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.run.values import BackupEntry
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.chunk_store import StoreLimits

MiB = 1 << 20


@pytest.fixture
def repo_of(tmp_path, fake_disks):
    """vm1 and vm2 from one 8 MiB disk, in small packs (several packs to lose one of)."""
    repo, disk = tmp_path / "repo", tmp_path / "disk0.raw"
    content = make_image(str(disk), 8 * MiB, seed=4)
    with fake_disks.open_session(repo, limits=StoreLimits(pack_target=2 * MiB)) as session:
        ids = [session.backup(BackupEntry(vm, (str(disk),)))["restore_point"] for vm in ("vm1", "vm2")]
    return repo, disk, content, ids


def index_files(repo) -> list:
    return sorted((repo / "index").glob("*.idx"))


def restored(repo, tmp_path, vm: str, **params) -> bytes:
    out = tmp_path / f"out-{vm}-{len(list(tmp_path.iterdir()))}"
    runs.restore(str(repo), vm, str(out), format="raw", **params)
    return read_tree(str(out))["disk0.raw"]


def test_a_healthy_repository_is_left_as_it_is(repo_of):
    repo, _disk, _content, _ids = repo_of
    before = index_files(repo)
    result = runs.run("repair", repo)
    assert not result["changed"] and result["points"] == [] and result["chunks_dropped"] == []
    assert index_files(repo) == before


def test_missing_index_files_are_rebuilt_from_the_packs_check_mode_writing_nothing(tmp_path, repo_of):
    repo, _disk, content, _ids = repo_of
    indexed = runs.run("repair", repo, check_mode=True)["chunks_indexed"]
    for path in index_files(repo):
        path.unlink()
    planned = runs.run("repair", repo, check_mode=True)
    assert planned["changed"] and planned["chunks_indexed"] == indexed and index_files(repo) == []
    result = runs.run("repair", repo)
    assert result["changed"] and len(index_files(repo)) == 1 and result["points"] == []
    assert runs.verify(str(repo))["ok"] and restored(repo, tmp_path, "vm1") == content


def test_a_damaged_index_file_is_replaced_and_reported(repo_of):
    repo, _disk, _content, _ids = repo_of
    victim = index_files(repo)[0]
    victim.write_bytes(victim.read_bytes()[:-3] + b"bad")
    result = runs.run("repair", repo)
    assert [d["index"] for d in result["index_files_damaged"]] == [victim.name]
    assert result["index_files_replaced"] == 1 and not victim.exists()
    assert runs.verify(str(repo))["ok"]


def test_a_missing_pack_is_dropped_the_points_it_hits_named_and_the_next_backup_heals(tmp_path, repo_of, fake_disks):
    repo, disk, content, (first, second) = repo_of
    lost = sorted((repo / "packs").rglob("*.pack"))[0]
    lost.unlink()
    result = runs.run("repair", repo)
    assert result["packs_missing"] == [lost.stem]
    hit = {p["restore_point"]: p for p in result["points"]}
    assert set(hit) == {first, second} and hit[first]["shares_damage_with"] == [second]
    assert hit[first]["parts"][0]["name"] == "disk0.raw" and hit[first]["parts"][0]["ranges"]
    with pytest.raises(CorruptionError, match=r"disk disk0\.raw at offset"):
        restored(repo, tmp_path, "vm1")
    healed = fake_disks.backup(str(repo), "vm1", [str(disk)])
    assert healed["stats"]["chunks_new"] > 0  # the index no longer claims the lost chunks: stored again
    assert runs.verify(str(repo))["ok"]  # the older points reference the same ids: healed too
    assert restored(repo, tmp_path, "vm2") == content


def test_a_damaged_chunk_is_dropped_and_stored_again_by_the_next_backup(tmp_path, repo_of, fake_disks):
    repo, disk, content, _ids = repo_of
    damage_stored_chunk(repo, content[2 * MiB : 3 * MiB])
    planned = runs.run("repair", repo, check_mode=True)
    assert len(planned["chunks_dropped"]) == 1 and "checksum" in planned["chunks_dropped"][0]["reason"]
    untouched = runs.verify(str(repo))
    assert untouched["damaged_chunks"] == 1  # check mode changed nothing
    result = runs.run("repair", repo)
    assert [p["parts"][0]["ranges"] for p in result["points"]] == [[[2 * MiB, MiB]]] * 2
    assert fake_disks.backup(str(repo), "vm3", [str(disk)])["stats"]["chunks_new"] == 1
    assert runs.verify(str(repo))["ok"] and restored(repo, tmp_path, "vm1") == content


def test_a_pack_with_a_damaged_table_is_read_through_an_intact_index_file(tmp_path, repo_of):
    repo, _disk, content, _ids = repo_of
    pack = sorted((repo / "packs").rglob("*.pack"))[0]
    data = bytearray(pack.read_bytes())
    data[-40] ^= 0xFF  # inside the trailer's table digest
    pack.write_bytes(bytes(data))
    result = runs.run("repair", repo)
    assert [p["pack"] for p in result["packs_table_from_index"]] == [pack.stem] and result["points"] == []
    assert restored(repo, tmp_path, "vm1") == content


def test_a_pack_nothing_describes_is_reported_unreadable(repo_of):
    repo, _disk, _content, (first, second) = repo_of
    pack = sorted((repo / "packs").rglob("*.pack"))[0]
    pack.write_bytes(pack.read_bytes()[:-10])
    for path in index_files(repo):
        path.unlink()
    result = runs.run("repair", repo)
    assert [p["pack"] for p in result["packs_unreadable"]] == [pack.stem]
    assert {p["restore_point"] for p in result["points"]} == {first, second}


def test_repair_on_the_command_line(repo_of):
    repo, _disk, _content, _ids = repo_of
    for path in index_files(repo):
        path.unlink()
    out = io.StringIO()
    status = cli.main(["repair", str(repo), "--dry-run", "--json"], environ={}, stdout=out, stderr=io.StringIO())
    assert status == 0 and json.loads(out.getvalue())["changed"] and index_files(repo) == []


def test_a_healed_chunk_survives_a_later_index_loss_and_prune(tmp_path, repo_of, fake_disks):
    """Repair rewrites the pack that held the damaged copy, so no pack's table lists it any more: after a backup
    stored a good copy, a lost index rebuilt from the tables cannot pick the damaged copy, and prune cannot take
    the good copy's pack for garbage (the index had one location per chunk, the last table read won)."""
    repo, disk, content, _ids = repo_of
    packs_before = {p.stem for p in (repo / "packs").rglob("*.pack")}
    damage_stored_chunk(repo, content[2 * MiB : 3 * MiB])
    result = runs.run("repair", repo)
    assert len(result["packs_rewritten"]) == 1 and result["packs_rewritten"][0] in packs_before
    assert result["packs_rewritten"][0] not in {p.stem for p in (repo / "packs").rglob("*.pack")}
    assert fake_disks.backup(str(repo), "vm3", [str(disk)])["stats"]["chunks_new"] == 1  # the heal
    for path in index_files(repo):
        path.unlink()
    runs.prune(str(repo), keep_last=1)
    assert runs.verify(str(repo))["ok"]
    for vm in ("vm1", "vm2", "vm3"):
        assert restored(repo, tmp_path, vm) == content


def test_a_pack_whose_table_is_damaged_is_rewritten_and_verify_passes_again(tmp_path, repo_of):
    repo, _disk, content, _ids = repo_of
    pack = sorted((repo / "packs").rglob("*.pack"))[0]
    pack.write_bytes(pack.read_bytes()[:-10])  # a torn trailer; the index file still names its chunks
    assert not runs.verify(str(repo))["ok"]
    planned = runs.run("repair", repo, check_mode=True)
    assert planned["packs_rewritten"] == [pack.stem] and pack.exists()  # check mode writes nothing
    result = runs.run("repair", repo)
    assert result["packs_rewritten"] == [pack.stem] and result["points"] == [] and not pack.exists()
    assert runs.verify(str(repo))["ok"]
    assert restored(repo, tmp_path, "vm1") == content and restored(repo, tmp_path, "vm2") == content
