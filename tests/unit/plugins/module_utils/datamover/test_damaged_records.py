"""A damaged or unreadable restore point record stops neither ``list``, ``prune`` nor ``forget`` (issue 17): list
names it, with the reason, lists every other point and says damage was found (``ok`` false, exit status 3); prune
applies retention to the records it can read, keeps the damaged point and its chunks (read from its chunk list
file), collects no chunk at all while a point's chunks are unknown, and says damage was found; once forgotten,
prune runs clean."""

from __future__ import annotations

import errno
import io
import json
from pathlib import Path

import pytest
import runs
from datamover_fakes import make_image

from ansible_collections.backup.hyperv.plugins.module_utils.datamover import cli
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.repository import Repository

MiB = 1 << 20


@pytest.fixture
def catalog(tmp_path, fake_disks):
    """vm1 backed up twice from a changing disk, vm2 once; returns (repository, [vm1 old, vm1 new, vm2])."""
    repo, disk, other = tmp_path / "repo", tmp_path / "disk0.raw", tmp_path / "other.raw"
    make_image(str(disk), 4 * MiB, seed=1)
    make_image(str(other), 4 * MiB, seed=2)
    ids = [fake_disks.backup(str(repo), "vm1", [str(disk)])["restore_point"]]
    make_image(str(disk), 4 * MiB, seed=3)
    ids.append(fake_disks.backup(str(repo), "vm1", [str(disk)])["restore_point"])
    ids.append(fake_disks.backup(str(repo), "vm2", [str(other)])["restore_point"])
    return repo, ids


def tree(repo: Path) -> dict:
    return {str(p.relative_to(repo)): p.read_bytes() for p in repo.rglob("*") if p.is_file() and "locks" not in p.parts}


def damage(repo: Path, point_id: str, how: str) -> None:
    record = repo / "points" / f"{point_id}.point"
    if how == "damaged":
        record.write_bytes(record.read_bytes()[:-1] + b"!")
    else:  # unreadable: a folder where the file should be (reading it fails with an OS error)
        record.unlink()
        record.mkdir()


@pytest.mark.parametrize("how", ["damaged", "unreadable"])
def test_list_names_a_damaged_record_and_lists_the_rest(catalog, how):
    repo, (old, new, other) = catalog
    damage(repo, new, how)
    result = runs.points(repo)
    assert {vm: [p["id"] for p in points] for vm, points in result["vms"].items()} == {"vm1": [old], "vm2": [other]}
    assert [entry["id"] for entry in result["damaged"]] == [new] and result["damaged"][0]["reason"], result
    assert result["ok"] is False
    only_vm2 = runs.points(repo, vm="vm2")
    assert [entry["id"] for entry in only_vm2["damaged"]] == [new]  # its VM is unknown: named whatever vm is


def test_list_of_an_intact_catalog_is_ok_with_nothing_damaged(catalog):
    repo, _ids = catalog
    result = runs.points(repo)
    assert result["ok"] is True and result["damaged"] == []


def test_the_command_line_list_shows_the_damage_and_exits_3(catalog):
    repo, (_old, new, other) = catalog
    damage(repo, new, "damaged")
    out, err = io.StringIO(), io.StringIO()
    assert cli.main(["list", str(repo), "--json"], environ={}, stdout=out, stderr=err) == 3, err.getvalue()
    document = json.loads(out.getvalue())
    assert document["damaged"][0]["id"] == new and document["vms"]["vm2"][0]["id"] == other


def packs(repo: Path) -> dict:
    return {str(p.relative_to(repo)): p.read_bytes() for p in (repo / "packs").rglob("*") if p.is_file()}


@pytest.fixture
def history(tmp_path, fake_disks):
    """vm1 backed up three times from a changing disk, vm2 once; returns (repository, [vm1 x3, vm2])."""
    repo, disk, other = tmp_path / "repo", tmp_path / "disk0.raw", tmp_path / "other.raw"
    make_image(str(other), 4 * MiB, seed=2)
    ids = []
    for seed in (1, 3, 5):
        make_image(str(disk), 4 * MiB, seed=seed)
        ids.append(fake_disks.backup(str(repo), "vm1", [str(disk)])["restore_point"])
    ids.append(fake_disks.backup(str(repo), "vm2", [str(other)])["restore_point"])
    return repo, ids


def test_prune_goes_on_past_a_damaged_record_and_keeps_its_chunks(history):
    repo, (oldest, middle, newest, other) = history
    record = repo / "points" / f"{newest}.point"
    saved = record.read_bytes()
    damage(repo, newest, "damaged")
    result = runs.prune(str(repo), 1)
    assert [p["id"] for p in result["removed"]] == [oldest]  # retention on the records it can read
    assert result["ok"] is False and result["damaged"][0]["id"] == newest and result["damaged"][0]["chunks_known"]
    assert result["chunks_deleted"] > 0  # the dropped point's own chunks went
    record.write_bytes(saved)  # the admin puts the record back from a copy: nothing it needs was collected
    assert runs.verify(str(repo))["ok"]
    assert {vm: [p["id"] for p in points] for vm, points in runs.points(repo)["vms"].items()} == {
        "vm1": [middle, newest],
        "vm2": [other],
    }


@pytest.mark.parametrize("check_mode", [True, False])
def test_prune_collects_no_chunk_while_a_points_chunks_are_unknown(history, check_mode):
    repo, (oldest, _middle, newest, _other) = history
    damage(repo, newest, "unreadable")
    (repo / "points" / f"{newest}.chunks").write_bytes(b"damaged beyond reading")
    before = packs(repo)
    result = runs.prune(str(repo), 1, check_mode=check_mode)
    assert [p["id"] for p in result["removed"]] == [oldest] and result["chunks_deleted"] == 0
    assert result["damaged"] == [{"id": newest, "reason": result["damaged"][0]["reason"], "chunks_known": False}]
    assert packs(repo) == before  # the unknown point may use any chunk
    assert (repo / "points" / f"{oldest}.point").exists() == check_mode


def test_prune_treats_a_damaged_chunk_list_as_unknown_chunks(history):
    repo, (_oldest, _middle, newest, _other) = history
    chunks = repo / "points" / f"{newest}.chunks"
    content = chunks.read_bytes()
    chunks.write_bytes(content[:-1] + bytes([content[-1] ^ 0xFF]))  # a flipped last byte, whatever it was
    before = packs(repo)
    result = runs.prune(str(repo), 1)
    assert result["ok"] is False and [d["id"] for d in result["damaged"]] == [newest]
    assert packs(repo) == before


def test_the_command_line_prune_reports_the_damage_and_exits_3(history):
    repo, (_oldest, _middle, newest, _other) = history
    damage(repo, newest, "damaged")
    out, err = io.StringIO(), io.StringIO()
    assert cli.main(["prune", str(repo), "--keep-last", "1", "--json"], environ={}, stdout=out, stderr=err) == 3
    assert json.loads(out.getvalue())["damaged"][0]["id"] == newest


def test_after_forgetting_the_damaged_point_prune_runs(catalog):
    repo, (old, new, other) = catalog
    damage(repo, new, "damaged")
    runs.run("forget", repo, restore_points=[new])
    result = runs.prune(str(repo), 1)
    assert result["removed"] == [] and runs.points(repo)["ok"]
    assert {vm: [p["id"] for p in points] for vm, points in runs.points(repo)["vms"].items()} == {
        "vm1": [old],
        "vm2": [other],
    }
    assert runs.verify(str(repo))["ok"]


def test_forget_removes_a_record_the_disk_cannot_read(catalog, monkeypatch):
    repo, (_old, new, _other) = catalog
    real = Repository.read_point

    def failing(self, point_id):
        if point_id == new:
            raise OSError(errno.EIO, "Input/output error")
        return real(self, point_id)

    monkeypatch.setattr(Repository, "read_point", failing)
    assert runs.run("forget", repo, restore_points=[new])["forgotten"] == [{"id": new, "vm": None}]
    assert not (repo / "points" / f"{new}.point").exists()
