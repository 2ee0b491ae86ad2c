"""A damaged or unreadable restore point record stops neither ``list`` nor ``forget`` (issue 17): list names it,
with the reason, lists every other point and says damage was found (``ok`` false, exit status 3); prune deletes
nothing while such a record is in the catalog (its chunks are unknown, so no chunk can be proved unused) and says
to forget it; once forgotten, prune runs."""

from __future__ import annotations

import errno
import io
import json
from pathlib import Path

import pytest
import runs
from datamover_fakes import make_image

from ansible_collections.backup.hyperv.plugins.module_utils.datamover import cli
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.base.errors import DataMoverError
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


@pytest.mark.parametrize("check_mode", [True, False])
def test_prune_deletes_nothing_while_a_record_is_damaged_and_says_to_forget_it(catalog, check_mode):
    repo, (_old, new, _other) = catalog
    damage(repo, new, "damaged")
    before = tree(repo)
    with pytest.raises(DataMoverError, match=rf"prune refused, nothing was deleted: .*{new}.*forget"):
        runs.prune(str(repo), 1, check_mode=check_mode)
    assert tree(repo) == before


def test_prune_deletes_nothing_while_a_chunk_list_is_damaged(catalog):
    repo, (_old, new, _other) = catalog
    chunks = repo / "points" / f"{new}.chunks"
    content = chunks.read_bytes()
    chunks.write_bytes(content[:-1] + bytes([content[-1] ^ 0xFF]))  # a flipped last byte, whatever it was
    before = tree(repo)
    with pytest.raises(DataMoverError, match=rf"prune refused, nothing was deleted: .*{new}.*forget"):
        runs.prune(str(repo), 1)
    assert tree(repo) == before


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
