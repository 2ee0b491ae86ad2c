"""Damage is isolated, never a silent loss (issue 17): verify says per restore point whether it is intact or
what it loses and which points share the damage; ``forget`` takes points out of the catalog and leaves the
data to prune; a salvage restore writes what it can and marks the rest."""

from __future__ import annotations

import io
import json

import pytest
import runs
from datamover_fakes import damage_stored_chunk, make_image, read_tree

from ansible_collections.backup.hyperv.plugins.module_utils.datamover import cli
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.base.errors import CorruptionError, DataMoverError
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.lock import RepositoryLock

MiB = 1 << 20


@pytest.fixture
def shared(tmp_path, fake_disks):
    """vm1 and vm2 backed up from the same 8 MiB disk (sharing every chunk), vm3 from another disk."""
    repo, disk, other = tmp_path / "repo", tmp_path / "disk0.raw", tmp_path / "other.raw"
    content = make_image(str(disk), 8 * MiB, seed=4)
    make_image(str(other), 4 * MiB, seed=9)
    ids = [fake_disks.backup(str(repo), vm, [str(disk)])["restore_point"] for vm in ("vm1", "vm2")]
    ids.append(fake_disks.backup(str(repo), "vm3", [str(other)])["restore_point"])
    return repo, content, ids


def packs_of(repo) -> dict:
    return {p.name: p.read_bytes() for p in (repo / "packs").rglob("*.pack")}


def test_verify_names_each_point_intact_or_what_it_loses_and_who_shares_it(shared):
    repo, content, (first, second, third) = shared
    assert [p["state"] for p in runs.verify(str(repo))["points"]] == ["intact"] * 3
    damage_stored_chunk(repo, content[2 * MiB : 3 * MiB])
    damage_stored_chunk(repo, content[4 * MiB : 5 * MiB])
    states = {p["restore_point"]: p for p in runs.verify(str(repo))["points"]}
    assert states[third] == {"vm": "vm3", "restore_point": third, "state": "intact"}
    assert states[first]["state"] == "damaged" and states[first]["shares_damage_with"] == [second]
    assert states[first]["parts"] == [{"name": "disk0.raw", "kind": "disk", "ranges": [[2 * MiB, MiB], [4 * MiB, MiB]]}]
    only_vm2 = runs.verify(str(repo), vm="vm2")
    assert [p["restore_point"] for p in only_vm2["points"]] == [second]
    assert only_vm2["points"][0]["shares_damage_with"] == [first]  # named though vm1 was not checked
    assert all(d["pack"] for d in only_vm2["damaged"])


def test_a_damaged_record_is_reported_and_the_rest_still_verified(shared):
    repo, content, (first, second, third) = shared
    record = repo / "points" / f"{first}.point"
    record.write_bytes(record.read_bytes()[:-1] + b"!")
    damage_stored_chunk(repo, content[:MiB])
    result = runs.verify(str(repo))
    states = {p["restore_point"]: p["state"] for p in result["points"]}
    assert states == {first: "unreadable", second: "damaged", third: "intact"}
    assert not result["ok"] and any(p.get("restore_point") == first for p in result["problems"])


def test_forget_removes_named_points_from_the_catalog_and_keeps_the_data(shared):
    repo, _ignored, (first, _ignored2, third) = shared
    before = packs_of(repo)
    planned = runs.run("forget", repo, check_mode=True, restore_points=[first, third])
    assert planned == {"changed": True, "forgotten": [{"id": first, "vm": "vm1"}, {"id": third, "vm": "vm3"}]}
    assert len(runs.points(repo)["vms"]) == 3  # check mode removed nothing
    result = runs.run("forget", repo, restore_points=[first, third])
    assert result["forgotten"] == planned["forgotten"] and result["changed"]
    assert list(runs.points(repo)["vms"]) == ["vm2"]
    assert packs_of(repo) == before  # the data stays; vm2 still restores from it
    assert runs.verify(str(repo))["ok"]
    assert runs.prune(str(repo), 1)["packs_deleted"] >= 1  # vm3's own data goes only now
    assert runs.verify(str(repo))["ok"]


def test_forget_refuses_an_unknown_id_and_removes_nothing(shared):
    repo, _ignored, (first, _ignored2, _ignored3) = shared
    with pytest.raises(DataMoverError, match=r"no restore point nope.*nothing was removed"):
        runs.run("forget", repo, restore_points=[first, "nope"])
    assert len(runs.points(repo)["vms"]) == 3
    with pytest.raises(DataMoverError, match="forget needs restore_points"):
        runs.run("forget", repo)


def test_forget_takes_the_exclusive_lock_as_prune_does(shared):
    repo, _ignored, (first, _ignored2, _ignored3) = shared
    reader = RepositoryLock(str(repo / "locks"), exclusive=False, timeout=0, operation="verify")
    with reader, pytest.raises(DataMoverError, match="locked"):
        runs.run("forget", repo, restore_points=[first])
    assert first in {p["id"] for p in runs.points(repo)["vms"]["vm1"]}


def test_forget_removes_a_point_whose_record_is_damaged(shared):
    repo, _ignored, (first, _ignored2, _ignored3) = shared
    record = repo / "points" / f"{first}.point"
    record.write_bytes(b"garbage")
    assert runs.run("forget", repo, restore_points=[first])["forgotten"] == [{"id": first, "vm": None}]
    assert not record.exists() and not (repo / "points" / f"{first}.chunks").exists()
    assert runs.verify(str(repo))["ok"]


def test_forget_on_the_command_line(shared):
    repo, _ignored, (first, _ignored2, _ignored3) = shared
    out, err = io.StringIO(), io.StringIO()
    status = cli.main(["forget", str(repo), first, "--json"], environ={}, stdout=out, stderr=err)
    assert status == 0 and json.loads(out.getvalue())["forgotten"] == [{"id": first, "vm": "vm1"}]
    status = cli.main(["forget", str(repo), first], environ={}, stdout=io.StringIO(), stderr=err)
    assert status == 1 and f"no restore point {first}" in err.getvalue()


def test_restore_of_a_damaged_point_fails_naming_disk_and_offset_unless_salvaging(tmp_path, shared):
    repo, content, (first, _ignored, _ignored2) = shared
    damage_stored_chunk(repo, content[2 * MiB : 3 * MiB])
    with pytest.raises(CorruptionError, match=f"disk disk0.raw at offset {2 * MiB}"):
        runs.restore(str(repo), "vm1", str(tmp_path / "out"), format="raw")
    assert read_tree(str(tmp_path / "out")) == {}
    result = runs.restore(str(repo), "vm1", str(tmp_path / "out"), format="raw", salvage=True)
    written = (tmp_path / "out" / "disk0.raw").read_bytes()
    expected = content[: 2 * MiB] + bytes(MiB) + content[3 * MiB :]
    assert written == expected and written != content
    marker = json.loads((tmp_path / "out" / "disk0.raw.damaged.json").read_text())
    assert marker["ranges"] == [[2 * MiB, MiB]] and marker["restore_point"] == first
    assert result["damaged"][0]["ranges"] == [[2 * MiB, MiB]] and "salvaged disk0.raw" in result["warnings"][0]


def test_a_whole_restore_over_a_salvaged_one_removes_the_old_marker(tmp_path, shared):
    repo, content, _ignored = shared
    out = tmp_path / "out"
    out.mkdir()
    (out / "disk0.raw.damaged.json").write_text("{}")
    result = runs.restore(str(repo), "vm1", str(out), format="raw", salvage=True, overwrite=True)
    assert "damaged" not in result and "warnings" not in result
    assert read_tree(str(out)) == {"disk0.raw": content}
