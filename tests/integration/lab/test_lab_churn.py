"""`lab write`, `lab churn`, `lab disk` and `lab stats` on a running lab, through the command line."""

from __future__ import annotations

import json
import subprocess

from lab_testkit import ESTATES, ProvisionedLab, ansible_adhoc, estate_lab, run_lab

# isort: split
from lab.churn import DiskChange
from lab.estate.loader import load_estate

VM1 = ("C", "ClusterStorage", "Volume1", "vm1", "vm1.vhdx")


def lab_json(*arguments: str, check: bool = True) -> object:
    return json.loads(run_lab(*arguments, check=check).stdout or "null")


def qemu_read(path, offset: int, length: int) -> bytes:
    """The disk's virtual bytes at offset (qemu-img dd into a raw file)."""
    raw = path.with_name("read.raw")
    subprocess.run(["qemu-img", "convert", "-O", "raw", str(path), str(raw)], check=True, timeout=60)
    try:
        with open(raw, "rb") as stream:
            stream.seek(offset)
            return stream.read(length)
    finally:
        raw.unlink()


def test_write_churn_disk_and_stats_change_the_disks_and_count_what_the_collection_did(tmp_path):
    with estate_lab(ESTATES / "healthy.yml", tmp_path / "lab") as lab:
        state = ("--state-dir", str(lab.state_dir))
        disk = lab.host_file("hv1", *VM1)
        written = lab_json("write", "hv1", "vm1", "--ranges", "64K:4K,1M:512", "--seed", "1", *state)
        assert (written["ranges"], written["bytes"], written["sequence"]) == ([[65536, 4096], [1 << 20, 512]], 4608, 1)
        assert qemu_read(disk, 65536, 4096).count(0) < 100  # random bytes, not zeros
        percent = lab_json("write", "hv1", "vm1", "--percent", "10", "--seed", "2", *state)
        assert percent["bytes"] == round(64 * 0.10) * 65536  # a 4 MiB disk: 64 pieces of 64 KiB
        churned = lab_json("churn", "--percent", "5", "--seed", "3", *state)
        assert {(c["host"], c["vm"]) for c in churned if "bytes" in c} == {
            ("hv1", "vm1"),
            ("hv1", "vm3"),
            ("hv2", "vm2"),
        }
        before = qemu_read(disk, 65536, 4096)
        resized = lab_json("disk", "hv1", "vm1", "--resize", "8M", *state)
        assert resized["size"] == 8 << 20 and qemu_read(disk, 65536, 4096) == before  # the content kept
        refused = run_lab("write", "hv1", "vm9", "--percent", "1", *state, check=False)
        assert refused.returncode == 1 and "hv1 has no VM 'vm9'" in refused.stderr
        lab_json("stats", "--reset", *state)
        ansible_adhoc(lab, tmp_path, "hv1", "-m", "backup.hyperv.shadow_copy", "-a", json.dumps({"vms": ["vm1"]}))
        counted = lab_json("stats", *state)
        assert counted["hv1"]["snapshot_sets"] == 1 and counted["hv1"]["commands"] >= 2
        assert counted["hv1"]["http_requests"] > counted["hv1"]["commands"] and counted["px1"]["commands"] == 0


def test_a_lab_write_after_a_shadow_copy_leaves_the_copy_as_it_was(tmp_path):
    lab = ProvisionedLab(load_estate(ESTATES / "healthy.yml"), tmp_path)
    disk = lab.host_file("hv1", "C:\\ClusterStorage\\Volume1\\vm1\\vm1.vhdx")
    before = disk.read_bytes()
    volumes = [{"Path": "C:\\ClusterStorage\\Volume1\\", "Alias": "Vol1"}]
    made = lab.call(
        "hv1", "shadow_copy_create", {"Volumes": volumes, "MetadataDir": "C:\\m", "InProgressTimeoutSeconds": 600}
    )
    copy = tmp_path / "shared" / "shadows" / made["SnapshotSetId"].strip("{}") / "Vol1" / "vm1" / "vm1.vhdx"
    assert copy.stat().st_ino == disk.stat().st_ino  # a hard link: no data copied
    DiskChange(lab.estate, lab.state_dir, "hv1", "vm1", 0).write([(0, 1 << 20)], None, 5)
    assert copy.read_bytes() == before and disk.read_bytes() != before and disk.stat().st_nlink == 1
