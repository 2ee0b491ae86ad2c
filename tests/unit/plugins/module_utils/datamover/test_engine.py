"""End-to-end tests of the engine API: round trips, dedup, check mode, listing, refusals."""

from __future__ import annotations

import os

import pytest
import runs
from datamover_fakes import make_image
from qemu import convert_to_vhdx, make_raw, raw_of

from ansible_collections.backup.hyperv.plugins.module_utils.datamover.base.errors import DataMoverError

MiB = 1 << 20


@pytest.fixture
def vm_files(tmp_path):
    disk = tmp_path / "src" / "disk0.raw"
    disk.parent.mkdir()
    content = make_image(str(disk), 24 * MiB + 4096, seed=1, hole_every=4)
    vmcx = tmp_path / "src" / "vm.vmcx"
    vmcx.write_bytes(b"<configuration/>" * 5000)
    return disk, content, vmcx


def test_raw_round_trip_is_byte_identical_and_sparse(tmp_path, vm_files, fake_disks):
    disk, content, vmcx = vm_files
    result = fake_disks.backup(str(tmp_path / "repo"), "vm1", [str(disk), str(vmcx)])
    stats = result["stats"]
    assert stats["bytes_logical"] == len(content) + vmcx.stat().st_size
    assert stats["bytes_zero"] > 0 and stats["bytes_read"] < stats["bytes_logical"]
    assert stats["bytes_stored"] < stats["bytes_read"]  # compressible chunks were compressed
    out = tmp_path / "out"
    runs.restore(str(tmp_path / "repo"), "vm1", str(out), format="raw")
    assert (out / "disk0.raw").read_bytes() == content
    assert (out / "vm.vmcx").read_bytes() == vmcx.read_bytes()
    assert os.stat(out / "disk0.raw").st_blocks * 512 < len(content)  # zero chunks left as holes


def test_vhdx_source_restores_to_vhdx_and_raw(tmp_path):
    raw = tmp_path / "base.raw"
    content = make_raw(raw, 16 * MiB, [(0, 3 * MiB, "data"), (5 * MiB, MiB, "zero"), (9 * MiB, 2 * MiB, "data")])
    vhdx = convert_to_vhdx(raw, tmp_path / "disk1.vhdx", block_size="1M")
    result = runs.backup(str(tmp_path / "repo"), "vm", [str(vhdx)], compression="fast")
    assert result["disks"][0]["format"] == "vhdx" and result["stats"]["bytes_read"] <= 6 * MiB
    runs.restore(str(tmp_path / "repo"), "vm", str(tmp_path / "o1"), format="vhdx")
    runs.restore(str(tmp_path / "repo"), "vm", str(tmp_path / "o2"), format="raw")
    assert raw_of(tmp_path / "o1" / "disk1.vhdx") == content
    assert (tmp_path / "o2" / "disk1.raw").read_bytes() == content


def test_dedup_across_disks_vms_and_points(tmp_path, fake_disks):
    a = tmp_path / "a.raw"
    content = make_image(str(a), 8 * MiB, seed=7)
    b = tmp_path / "b.raw"
    b.write_bytes(content)
    repo = str(tmp_path / "repo")
    first = fake_disks.backup(repo, "vm1", [str(a), str(b)])["stats"]
    assert first["chunks_reused"] == first["chunks_new"]  # b repeats a chunk for chunk
    second = fake_disks.backup(repo, "vm2", [str(b)])["stats"]
    third = fake_disks.backup(repo, "vm1", [str(a)])["stats"]
    for stats in (second, third):
        assert stats["chunks_new"] == 0 and stats["bytes_stored"] == 0 and stats["chunks_reused"] > 0


def test_check_mode_writes_nothing(tmp_path, vm_files, fake_disks):
    disk, _ignored, _ignored = vm_files
    repo = tmp_path / "repo"
    estimate = fake_disks.backup(str(repo), "vm1", [str(disk)], check_mode=True)
    assert not repo.exists() and estimate["restore_point"] is None
    assert estimate["stats"]["bytes_stored"] > 0
    fake_disks.backup(str(repo), "vm1", [str(disk)])
    before = sorted(p.name for p in repo.rglob("*"))
    again = fake_disks.backup(str(repo), "vm1", [str(disk)], check_mode=True)
    assert again["stats"]["chunks_new"] == 0 and sorted(p.name for p in repo.rglob("*")) == before


def test_list_shows_points_per_vm_oldest_first(tmp_path, vm_files, fake_disks):
    disk, _ignored, _ignored = vm_files
    repo = str(tmp_path / "repo")
    ids = [fake_disks.backup(repo, vm, [str(disk)])["restore_point"] for vm in ("vm1", "vm2", "vm1")]
    listing = runs.points(repo)["vms"]
    assert [p["id"] for p in listing["vm1"]] == [ids[0], ids[2]] and [p["id"] for p in listing["vm2"]] == [ids[1]]
    assert listing["vm1"][0]["disks"][0]["name"] == "disk0.raw"
    assert list(runs.points(repo, vm="vm2")["vms"]) == ["vm2"]


def test_missing_source_fails_before_anything_is_written(tmp_path, vm_files, fake_disks):
    disk, _ignored, _ignored = vm_files
    repo = tmp_path / "repo"
    with pytest.raises(DataMoverError, match="does not exist"):
        fake_disks.backup(str(repo), "vm1", [str(disk), str(tmp_path / "gone.vhdx")])
    with pytest.raises(DataMoverError, match="cannot read VM file"):
        fake_disks.backup(str(repo), "vm1", [str(disk), str(tmp_path / "gone.vmcx")])
    assert not repo.exists()


def test_restore_refuses_existing_destination_unless_overwrite(tmp_path, vm_files, fake_disks):
    disk, content, _ignored = vm_files
    repo = str(tmp_path / "repo")
    fake_disks.backup(repo, "vm1", [str(disk)])
    out = tmp_path / "out"
    out.mkdir()
    (out / "disk0.raw").write_bytes(b"keep me")
    with pytest.raises(DataMoverError, match="destination exists"):
        runs.restore(repo, "vm1", str(out), format="raw")
    assert (out / "disk0.raw").read_bytes() == b"keep me"
    runs.restore(repo, "vm1", str(out), format="raw", overwrite=True)
    assert (out / "disk0.raw").read_bytes() == content


@pytest.mark.parametrize("block_size", [1000, 1 << 17, 1 << 24, 3 << 20])
def test_invalid_block_size_is_refused(tmp_path, vm_files, fake_disks, block_size):
    with pytest.raises(DataMoverError, match="block_size"):
        fake_disks.backup(str(tmp_path / "repo"), "vm1", [str(vm_files[0])], block_size=block_size)


@pytest.mark.parametrize(
    ("block_size", "compression", "hash_algorithm"), [(1 << 18, "none", "sha256"), (1 << 23, "high", "blake3")]
)
def test_round_trip_across_settings(tmp_path, vm_files, fake_disks, block_size, compression, hash_algorithm):
    disk, content, _ignored = vm_files
    repo = str(tmp_path / "repo")
    fake_disks.backup(
        repo, "vm1", [str(disk)], block_size=block_size, compression=compression, hash_algorithm=hash_algorithm
    )
    runs.restore(repo, "vm1", str(tmp_path / "out"), format="raw")
    assert (tmp_path / "out" / "disk0.raw").read_bytes() == content
    assert runs.verify(repo)["ok"]


def test_directory_given_as_vm_file_is_refused(tmp_path, vm_files, fake_disks):
    with pytest.raises(DataMoverError, match="not a regular file"):
        fake_disks.backup(str(tmp_path / "repo"), "vm1", [str(vm_files[0]), str(tmp_path)])


def test_disks_with_the_same_stem_restore_to_distinct_files(tmp_path, fake_disks):
    first, second = tmp_path / "a" / "disk.raw", tmp_path / "disk.img"
    first.parent.mkdir()
    contents = [make_image(str(first), 2 * MiB, seed=1), make_image(str(second), 2 * MiB, seed=2)]
    fake_disks.backup(str(tmp_path / "repo"), "vm", [str(first), str(second)])
    result = runs.restore(str(tmp_path / "repo"), "vm", str(tmp_path / "out"), format="vhdx")
    paths = [o["path"] for o in result["outputs"]]
    assert len(set(paths)) == 2 and [os.path.basename(p) for p in paths] == ["disk.vhdx", "disk.img.vhdx"]
    runs.restore(str(tmp_path / "repo"), "vm", str(tmp_path / "raw"), format="raw")
    assert [(tmp_path / "raw" / n).read_bytes() for n in ("disk.raw", "disk.img")] == contents


def test_progress_reaches_the_total_for_backup_restore_and_verify(tmp_path, vm_files, fake_disks):
    disk, content, vmcx = vm_files
    repo = str(tmp_path / "repo")
    calls = {"backup": [], "restore": [], "verify": []}
    fake_disks.backup(repo, "vm1", [str(disk), str(vmcx)], progress=lambda d, t: calls["backup"].append((d, t)))
    runs.restore(repo, "vm1", str(tmp_path / "o"), format="raw", progress=lambda d, t: calls["restore"].append((d, t)))
    runs.verify(repo, progress=lambda d, t: calls["verify"].append((d, t)))
    logical = len(content) + vmcx.stat().st_size
    assert calls["backup"][-1] == (logical, logical) and calls["restore"][-1] == (logical, logical)
    assert calls["verify"][-1][0] == calls["verify"][-1][1] > 0
    for seen in calls.values():
        done = [d for d, _ignored in seen]
        assert done == sorted(done) and len(done) > 2


def test_peak_memory_does_not_grow_with_the_disk(tmp_path, fake_disks):
    import tracemalloc

    peaks = []
    for size in (64, 256):
        disk = tmp_path / f"d{size}.raw"
        disk.write_bytes(os.urandom(size * MiB))
        tracemalloc.start()
        fake_disks.backup(str(tmp_path / f"repo{size}"), "vm", [str(disk)], workers=2, compression="fast")
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
    # bounded by the chunks in flight and the pack appends queued (StoreLimits.queued_bytes), not by the disk: a
    # disk 4x larger (192 MiB more data) costs a few chunks more at most. How many 1 MiB chunks are in flight at the
    # peak depends on thread timing (the 64 MiB run's peak ranged 21-32 MiB over runs, the 256 MiB run's 32-34), so
    # the margin is eight chunks, far below what holding any share of the disk would cost.
    assert peaks[1] - peaks[0] < 8 * MiB, peaks
    assert max(peaks) < 48 * MiB, peaks


def test_restore_point_selection_and_clear_errors(tmp_path, vm_files, fake_disks):
    disk, content, _ignored = vm_files
    repo = str(tmp_path / "repo")
    first = fake_disks.backup(repo, "vm1", [str(disk)])["restore_point"]
    with open(disk, "r+b") as handle:
        handle.write(b"changed")
    fake_disks.backup(repo, "vm1", [str(disk)])
    runs.restore(repo, "vm1", str(tmp_path / "old"), restore_point=first, format="raw")
    assert (tmp_path / "old" / "disk0.raw").read_bytes() == content
    with pytest.raises(DataMoverError, match="has no restore point"):
        runs.restore(repo, "other-vm", str(tmp_path / "x"))
    with pytest.raises(DataMoverError, match="does not exist"):
        runs.restore(repo, "vm1", str(tmp_path / "x"), restore_point="20000101T000000.000000Z-00000000")
    with pytest.raises(DataMoverError, match="belongs to VM 'vm1'"):
        runs.restore(repo, "vm2", str(tmp_path / "x"), restore_point=first)
    with pytest.raises(DataMoverError, match="unknown restore format"):
        runs.restore(repo, "vm1", str(tmp_path / "x"), format="qcow2")
    assert not (tmp_path / "x").exists()
    # Hyper-V compares VM names case-blind: VM1 is vm1, its latest point and the one named
    runs.restore(repo, "VM1", str(tmp_path / "latest"), format="raw")
    assert (tmp_path / "latest" / "disk0.raw").read_bytes().startswith(b"changed")
    runs.restore(repo, "VM1", str(tmp_path / "named"), restore_point=first, format="raw")
    assert (tmp_path / "named" / "disk0.raw").read_bytes() == content
