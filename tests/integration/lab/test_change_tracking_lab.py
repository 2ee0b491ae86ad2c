"""backup.hyperv.change_tracking end to end through the lab (ansible over WinRM to hv1, one round trip per task):
checkpoint, reference point, a write, a checkpoint whose ranges cover the write, a release that keeps one
reference point; a VM of configuration version 5.0 and an RCT id the host does not know get their reasons."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from lab_testkit import DATA, RunningLab, ansible_adhoc, estate_lab, handled_since, run_lab

DISK = "C:\\ClusterStorage\\Volume1\\vm1\\vm1.vhdx"
WRITE_OFFSET, WRITE_LENGTH = 3 * 1024 * 1024 + 512, 4096  # inside vm1's 4 MiB disk, off the tracking block grid


class Hv1:
    """The module run on hv1, each run checked to be one round trip of the state's script."""

    def __init__(self, lab: RunningLab, work_dir: Path) -> None:
        self.lab = lab
        self.work_dir = work_dir

    def run(self, script: str, args: dict[str, Any]) -> dict[str, Any]:
        before = len(self.lab.log("hv1"))
        module_args = ("-m", "backup.hyperv.change_tracking", "-a", json.dumps(args))
        result = ansible_adhoc(self.lab, self.work_dir, "hv1", *module_args)["hv1"]
        assert not result.get("failed"), result.get("msg")
        assert handled_since(self.lab, "hv1", before) == [f"collection:{script}"]
        return result

    def checkpoint(self, **args: Any) -> dict[str, Any]:
        return self.run("change_tracking_checkpoint", {"state": "checkpoint", **args})

    def reference(self, checkpoints: dict[str, str]) -> dict[str, Any]:
        return self.run("change_tracking_reference", {"state": "reference", "checkpoints": checkpoints})

    def release(self, release: dict[str, dict[str, str]]) -> dict[str, Any]:
        return self.run("change_tracking_release", {"state": "absent", "release": release})


def covers(ranges: list[list[int]], offset: int, length: int) -> bool:
    """Whether the ranges together hold every byte of [offset, offset + length)."""
    position = offset
    for start, size in sorted(ranges):
        if start <= position < start + size:
            position = start + size
    return position >= offset + length


def test_checkpoint_reference_write_incremental_release(tmp_path):
    with estate_lab(DATA / "change-tracking.yml", tmp_path / "lab") as lab:
        hv1 = Hv1(lab, tmp_path)
        first = hv1.checkpoint(vms=["vm1", "old1"])
        assert first["changed"] is True
        vm1, old1 = first["vms"]["vm1"], first["vms"]["old1"]
        assert vm1["checkpoint"] and vm1["disks"][0]["path"] == DISK and vm1["disks"][0]["ranges"] is None
        assert vm1["disks"][0]["reason"] == "no RCT id recorded for this disk in the repository"
        assert old1["checkpoint"] is None and old1["failed"] is False and old1["version"] == "5.0"
        assert old1["disks"][0]["reason"].startswith("configuration version 5.0 has no resilient change tracking")

        base = hv1.reference({"vm1": vm1["checkpoint"]})["vms"]["vm1"]
        assert base["reference_point"] and set(base["change_ids"]) == {"vm1.vhdx"}

        run_lab("write", "hv1", "vm1", "--ranges", f"{WRITE_OFFSET}:{WRITE_LENGTH}", "--state-dir", str(lab.state_dir))
        second = hv1.checkpoint(vms=["vm1"], since={"vm1": base["change_ids"]})["vms"]["vm1"]
        (disk,) = second["disks"]
        assert disk["reason"] is None and disk["since"] == base["change_ids"]["vm1.vhdx"]
        assert covers(disk["ranges"], WRITE_OFFSET, WRITE_LENGTH), disk["ranges"]
        assert sum(size for _, size in disk["ranges"]) < disk["size"]  # an incremental, not the whole disk

        newer = hv1.reference({"vm1": second["checkpoint"]})["vms"]["vm1"]["reference_point"]
        released = hv1.release({"vm1": {"keep": newer}})
        assert released["changed"] is True
        assert released["released"] == {"vm1": {"checkpoints": [], "reference_points": [base["reference_point"]]}}
        again = hv1.release({"vm1": {"keep": newer}})  # only the kept reference point is left: nothing to destroy
        assert again["changed"] is False and again["released"]["vm1"] == {"checkpoints": [], "reference_points": []}


def test_an_rct_id_the_host_does_not_know_is_a_full_read_with_its_reason(tmp_path):
    with estate_lab(DATA / "change-tracking.yml", tmp_path / "lab") as lab:
        hv1 = Hv1(lab, tmp_path)
        unknown = "rct:00000000-0000-0000-0000-000000000000:1"
        vm1 = hv1.checkpoint(vms=["vm1"], since={"vm1": {"VM1.VHDX": unknown}})["vms"]["vm1"]
        (disk,) = vm1["disks"]
        assert disk["since"] == unknown and disk["ranges"] is None  # the disk's name is matched case-blind
        assert disk["reason"].startswith(f"the host does not know RCT id {unknown} for this disk")
        released = hv1.release({"vm1": {"checkpoint": vm1["checkpoint"]}})
        assert released["released"]["vm1"]["checkpoints"] == [vm1["checkpoint"]]
        assert hv1.release({"vm1": {"checkpoint": vm1["checkpoint"]}})["changed"] is False  # already gone
