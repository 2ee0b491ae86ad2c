"""Retention: keep the last N per VM; garbage chunks go, listed restore points stay restorable."""

from __future__ import annotations

import pytest
import runs
from datamover_fakes import make_image

from ansible_collections.backup.hyperv.plugins.module_utils.datamover.base.errors import DataMoverError

MiB = 1 << 20


def _pack_bytes(repo) -> int:
    return sum(p.stat().st_size for p in (repo / "packs").rglob("*.pack"))


def test_prune_keeps_last_n_and_collects_garbage(tmp_path, fake_disks):
    repo = tmp_path / "repo"
    disk = tmp_path / "d.raw"
    contents = {}
    for generation in range(3):
        contents[generation] = make_image(str(disk), 8 * MiB, seed=generation)
        fake_disks.backup(str(repo), "vm1", [str(disk)])
    other = tmp_path / "o.raw"
    other_content = make_image(str(other), 4 * MiB, seed=0)
    fake_disks.backup(str(repo), "vm2", [str(other)])
    before = _pack_bytes(repo)
    estimate = runs.prune(str(repo), 1, check_mode=True)
    assert len(estimate["removed"]) == 2 and _pack_bytes(repo) == before
    result = runs.prune(str(repo), 1)
    assert [p["vm"] for p in result["removed"]] == ["vm1", "vm1"]
    assert _pack_bytes(repo) < before and result["packs_deleted"] + result["packs_repacked"] > 0
    listing = runs.points(str(repo))["vms"]
    assert [len(v) for v in listing.values()] == [1, 1]
    assert runs.verify(str(repo))["ok"]
    runs.restore(str(repo), "vm1", str(tmp_path / "o1"), format="raw")
    runs.restore(str(repo), "vm2", str(tmp_path / "o2"), format="raw")
    assert (tmp_path / "o1" / "d.raw").read_bytes() == contents[2]
    assert (tmp_path / "o2" / "o.raw").read_bytes() == other_content  # shares chunks with dropped vm1 points


def test_prune_of_one_vm_leaves_others_alone(tmp_path, fake_disks):
    repo = tmp_path / "repo"
    disk = tmp_path / "d.raw"
    make_image(str(disk), 2 * MiB, seed=1)
    for vm in ("a", "a", "b", "b"):
        fake_disks.backup(str(repo), vm, [str(disk)])
    runs.prune(str(repo), 1, vm="a")
    listing = runs.points(str(repo))["vms"]
    assert len(listing["a"]) == 1 and len(listing["b"]) == 2


def test_prune_repacks_mostly_garbage_packs(tmp_path, fake_disks):
    repo = tmp_path / "repo"
    disk = tmp_path / "d.raw"
    keep = make_image(str(disk), 6 * MiB, seed=10)
    fake_disks.backup(str(repo), "vm", [str(disk)], compression="none")  # pack 1: 6 chunks
    with open(disk, "r+b") as handle:  # change 5 of 6 chunks (keep the first)
        for n in range(1, 6):
            handle.seek(n * MiB)
            handle.write(bytes([n]) * 100 + b"new")
    latest = disk.read_bytes()
    fake_disks.backup(str(repo), "vm", [str(disk)], compression="none")
    result = runs.prune(str(repo), 1)
    assert result["packs_repacked"] == 1
    runs.restore(str(repo), "vm", str(tmp_path / "out"), format="raw")
    assert (tmp_path / "out" / "d.raw").read_bytes() == latest != keep
    assert runs.verify(str(repo))["ok"]


def test_prune_refuses_keep_last_zero(tmp_path):
    runs.init(str(tmp_path / "repo"))
    with pytest.raises(DataMoverError, match="at least 1"):
        runs.prune(str(tmp_path / "repo"), 0)


class _Killed(BaseException):
    """Stands for a kill -9: no cleanup code of the engine catches it (BaseException, not Exception)."""


@pytest.mark.parametrize(
    ("method", "calls_before_kill"), [("delete_point", 1), ("write_index", 0), ("remove", 0), ("remove", 2)]
)
def test_prune_interrupted_at_any_step_keeps_listed_points_restorable(
    tmp_path, fake_disks, monkeypatch, method, calls_before_kill
):
    from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.repository import Repository

    repo = tmp_path / "repo"
    disk = tmp_path / "d.raw"
    for generation in range(3):
        make_image(str(disk), 6 * MiB, seed=generation)
        fake_disks.backup(str(repo), "vm1", [str(disk)], compression="none")
    original = getattr(Repository, method)
    calls = [0]

    def dying(self, *args, **kwargs):
        if calls[0] >= calls_before_kill:
            raise _Killed()
        calls[0] += 1
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Repository, method, dying)
    with pytest.raises(_Killed):
        runs.prune(str(repo), 1)
    monkeypatch.setattr(Repository, method, original)
    (repo / "locks" / "exclusive").unlink(missing_ok=True)  # a killed process leaves it; tested in test_lock
    assert runs.verify(str(repo))["ok"]
    for point in runs.points(str(repo))["vms"]["vm1"]:
        out = tmp_path / point["id"]
        runs.restore(str(repo), "vm1", str(out), restore_point=point["id"], format="raw")
    assert (out / "d.raw").read_bytes() == disk.read_bytes()  # the newest point is always kept
    runs.prune(str(repo), 1)
    assert runs.verify(str(repo))["ok"] and len(runs.points(str(repo))["vms"]["vm1"]) == 1
