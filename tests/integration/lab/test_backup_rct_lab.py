"""`playbooks/backup.yml` with Hyper-V RCT on the lab: a full backup, five incrementals read by changed ranges,
and every restore point restored byte-exact (issue 12).

The estate is tests/lab/estates/healthy.yml (vm1 on hv1 and vm2 with two disks on hv2, on the CSV; vm3 on the
SMB3 share \\\\fs1\\vms), px1 deployed by `offhost_proxy.yml`. Between runs the lab writes random bytes into the
VMs' disks (`lab write`, `lab churn`); after each run a copy of every disk is kept, then each restore point is
restored on px1 and compared with the copy of its day (`qemu-img compare`, which compares guest contents).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from lab.estate.loader import load_estate
from lab.windows.hoststate import HostState
from lab.windows.storage import local_path
from lab_testkit import ESTATES, RunningLab, ansible_adhoc, run_lab
from test_site_lab import playbook, proxy_lab

from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.lock import RepositoryLock

REPO_ROOT = Path(__file__).resolve().parents[3]
BACKUP = REPO_ROOT / "playbooks" / "backup.yml"
COMMON = {"backup_repository": "C:\\Backup\\rct", "backup_passphrase": "Lab-Vault-Passphrase-rct"}
DISKS = {  # VM -> (host, the Windows paths of its disks), as healthy.yml places them
    "vm1": ("hv1", ["C:\\ClusterStorage\\Volume1\\vm1\\vm1.vhdx"]),
    "vm2": ("hv2", ["C:\\ClusterStorage\\Volume1\\vm2\\vm2.vhdx", "C:\\ClusterStorage\\Volume1\\vm2\\data.vhdx"]),
    "vm3": ("hv1", ["\\\\fs1\\vms\\vm3\\vm3.vhdx"]),
}
INCREMENTALS = 5
FILE_SLACK = 4096  # the VM's small configuration files, read in full every time
RCT_BLOCK = load_estate(ESTATES / "healthy.yml").model.rct_block  # the lab rounds changed ranges out to it


def lab_json(lab: RunningLab, *arguments: str) -> Any:
    return json.loads(run_lab(*arguments, "--state-dir", str(lab.state_dir)).stdout)


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningLab]:
    with proxy_lab(ESTATES / "healthy.yml", tmp_path_factory.mktemp("backup-rct")) as lab:
        yield lab


def keep_copies(lab: RunningLab, into: Path) -> dict[str, Path]:
    """A copy of every VM disk as the lab holds it now, by disk file name."""
    model = load_estate(ESTATES / "healthy.yml").model
    into.mkdir(parents=True)
    copies = {}
    for host, paths in DISKS.values():
        for path in paths:
            name = path.rsplit("\\", 1)[1]
            copies[name] = into / name
            shutil.copyfile(local_path(model, lab.state_dir, host, path), copies[name])
    return copies


def restore_points(lab: RunningLab, work: Path) -> dict[str, list[dict[str, Any]]]:
    arguments = {"operation": "list", **{key: COMMON[f"backup_{key}"] for key in ("repository", "passphrase")}}
    return ansible_adhoc(lab, work, "px1", "-m", "backup.hyperv.data_mover", "-a", json.dumps(arguments))["px1"]["vms"]


def tracked_bytes(disks: list[dict[str, Any]]) -> int:
    """The bytes of the RCT tracking blocks the written ranges of these disks touch: what the host reports as
    changed, and all the data mover reads of them (a chunk touched in part is read only in its ranges)."""
    return RCT_BLOCK * sum(
        len(
            {
                block
                for offset, length in disk["ranges"]
                for block in range(offset // RCT_BLOCK, (offset + length - 1) // RCT_BLOCK + 1)
            }
        )
        for disk in disks
    )


def backup(lab: RunningLab, work: Path) -> str:
    rc, output = playbook(lab, work, BACKUP, COMMON)
    assert rc == 0, output[-4000:]
    return output


def test_five_incrementals_with_rct_restore_byte_exact(deployed: RunningLab, tmp_path: Path) -> None:
    for vm, (host, paths) in DISKS.items():  # day 0: give every disk content of its own
        for index in range(len(paths)):
            lab_json(deployed, "write", host, vm, "--disk", str(index), "--percent", "40", "--seed", f"day0-{vm}")
    copies = [keep_copies(deployed, tmp_path / "day0")]
    backup(deployed, tmp_path)
    touched: list[dict[str, int]] = [{}]  # per day, per VM: the bytes of the tracking blocks the writes touched
    for day in range(1, INCREMENTALS + 1):
        written = lab_json(deployed, "churn", "--percent", "3", "--seed", f"day{day}")
        assert all("skipped" not in disk for disk in written), written
        touched.append({vm: tracked_bytes([d for d in written if d["vm"] == vm]) for vm in DISKS})
        copies.append(keep_copies(deployed, tmp_path / f"day{day}"))
        output = backup(deployed, tmp_path)
        assert "4 disk(s) read by RCT changed ranges" in output, output[-3000:]

    points = restore_points(deployed, tmp_path)
    # the churn's blocks are smaller than the data mover's chunks: most changed chunks are stored as patches
    incrementals = [how for vm in DISKS for point in points[vm][1:] for how in point["incremental"].values()]
    assert sum(how.get("patched_chunks", 0) for how in incrementals) > 0, incrementals
    jobs: list[list[dict[str, str]]] = [[] for _day in range(INCREMENTALS + 1)]  # a job names each VM once
    for vm in DISKS:
        assert len(points[vm]) == INCREMENTALS + 1, points[vm]
        for day, point in enumerate(points[vm]):
            modes = {disk: how["mode"] for disk, how in point["incremental"].items()}
            assert set(modes.values()) == {"full" if day == 0 else "changed_ranges"}, (vm, day, point["incremental"])
            if day:  # only the tracking blocks the writes touched were read, not the chunks around them
                assert point["stats"]["bytes_read"] <= touched[day][vm] + FILE_SLACK, (vm, day, point["stats"])
            jobs[day].append({"vm": vm, "restore_point": point["id"], "destination": f"C:\\Restore\\{vm}-day{day}"})
    secrets = {key: COMMON[f"backup_{key}"] for key in ("repository", "passphrase")}
    for entries in jobs:
        arguments = json.dumps({"operation": "restore", "jobs": entries, **secrets})
        restored = ansible_adhoc(deployed, tmp_path, "px1", "-m", "backup.hyperv.data_mover", "-a", arguments)["px1"]
        assert restored.get("results") and not restored.get("failed_vms"), restored

    for vm, (_host, paths) in DISKS.items():
        for day in range(INCREMENTALS + 1):
            for path in paths:
                name = path.rsplit("\\", 1)[1]
                restored_file = deployed.host_file("px1", "C", "Restore", f"{vm}-day{day}", name)
                compare = subprocess.run(["qemu-img", "compare", "-q", str(copies[day][name]), str(restored_file)])
                assert compare.returncode == 0, f"{vm} day {day} {name} differs from the disk of that day"


@pytest.fixture(scope="module")
def lying(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningLab]:
    """healthy.yml with hv1 leaving every other changed range out of its RCT answer."""
    with proxy_lab(ESTATES / "rct-drop-ranges.yml", tmp_path_factory.mktemp("backup-rct-lying")) as lab:
        yield lab


def restore_latest(lab: RunningLab, work: Path, vm: str, name: str) -> Path:
    secrets = {key: COMMON[f"backup_{key}"] for key in ("repository", "passphrase")}
    arguments = json.dumps({"operation": "restore", "vm": vm, "destination": f"C:\\Restore\\{name}", **secrets})
    restored = ansible_adhoc(lab, work, "px1", "-m", "backup.hyperv.data_mover", "-a", arguments)["px1"]
    assert restored.get("restore_point"), restored
    return lab.host_file("px1", "C", "Restore", name, "vm1.vhdx")


def test_an_audited_run_catches_a_host_that_under_reports_changes(lying: RunningLab, tmp_path: Path) -> None:
    """The baseline checks cannot see ranges that start at the right RCT id but leave changes out: that is the
    host's promise. Without an audit such an incremental stores stale blocks; an audited run reads in full,
    stores a right restore point, and fails the run naming the disk."""
    backup(lying, tmp_path)
    lab_json(lying, "write", "hv1", "vm1", "--ranges", "0:64K,2M:64K")  # two ranges: hv1 reports only the first
    unaudited = keep_copies(lying, tmp_path / "unaudited")["vm1.vhdx"]
    backup(lying, tmp_path)
    compare = subprocess.run(
        ["qemu-img", "compare", "-q", str(unaudited), str(restore_latest(lying, tmp_path, "vm1", "a"))]
    )
    assert compare.returncode == 1, "the lab's RCT answer was expected to leave a change out"

    lab_json(lying, "write", "hv1", "vm1", "--ranges", "1M:64K,3M:64K")
    audited = keep_copies(lying, tmp_path / "audited")["vm1.vhdx"]
    rc, output = playbook(lying, tmp_path, BACKUP, {**COMMON, "backup_rct_audit": True})
    assert rc != 0 and "RCT audit: the host did not report changes to hv1/vm1 vm1.vhdx" in output, output[-3000:]
    compare = subprocess.run(
        ["qemu-img", "compare", "-q", str(audited), str(restore_latest(lying, tmp_path, "vm1", "b"))]
    )
    assert compare.returncode == 0, "the audited restore point must hold the disk as it was"


@pytest.fixture(scope="module")
def busy_guest(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningLab]:
    """healthy.yml with vm1 writing 192 KiB into its checkpoint's layer during each backup."""
    with proxy_lab(ESTATES / "rct-guest-writes.yml", tmp_path_factory.mktemp("backup-rct-busy")) as lab:
        yield lab


def test_what_the_guest_writes_during_a_backup_is_in_the_next_incremental(
    busy_guest: RunningLab, tmp_path: Path
) -> None:
    """Each restore point holds the disk as its checkpoint froze it; what the guest wrote meanwhile (merged into the
    disk after the shadow copy) is after the point's RCT id, so the next run's ranges hold it. An id taken after
    the merge would leave those writes out of every later restore point."""
    frozen = []
    for day in range(3):
        frozen.append(keep_copies(busy_guest, tmp_path / f"day{day}")["vm1.vhdx"])  # what the checkpoint freezes
        backup(busy_guest, tmp_path)
    after = keep_copies(busy_guest, tmp_path / "after")["vm1.vhdx"]
    assert subprocess.run(["qemu-img", "compare", "-q", str(frozen[-1]), str(after)]).returncode == 1  # merged

    points = restore_points(busy_guest, tmp_path)["vm1"]
    assert [p["incremental"]["vm1.vhdx"]["mode"] for p in points] == ["full", "changed_ranges", "changed_ranges"]
    secrets = {key: COMMON[f"backup_{key}"] for key in ("repository", "passphrase")}
    jobs = [
        {"vm": "vm1", "restore_point": p["id"], "destination": f"C:\\Restore\\busy-{n}"} for n, p in enumerate(points)
    ]
    for job in jobs:
        arguments = json.dumps({"operation": "restore", "jobs": [job], **secrets})
        restored = ansible_adhoc(busy_guest, tmp_path, "px1", "-m", "backup.hyperv.data_mover", "-a", arguments)
        assert restored["px1"].get("results") and not restored["px1"].get("failed_vms"), restored
    for day, copy in enumerate(frozen):
        restored_file = busy_guest.host_file("px1", "C", "Restore", f"busy-{day}", "vm1.vhdx")
        compare = subprocess.run(["qemu-img", "compare", "-q", str(copy), str(restored_file)])
        assert compare.returncode == 0, f"day {day}: the restore point is not the disk its checkpoint froze"


def test_a_day_whose_backup_failed_is_in_the_next_incremental(deployed: RunningLab, tmp_path: Path) -> None:
    """Day 2's data mover cannot store vm1 (another proxy holds the repository's lock past lock_timeout) after its
    new reference point was made: the release drops that point and keeps the one the repository's latest restore
    point recorded, so day 3 reads by ranges since day 1 and its restore point holds day 2's writes too."""
    backup(deployed, tmp_path)
    before = len(restore_points(deployed, tmp_path)["vm1"])
    lab_json(deployed, "write", "hv1", "vm1", "--ranges", "128K:64K,3M:100K")  # day 2's writes
    locks = deployed.host_file("px1", "C", "Backup", "rct", "locks")
    with RepositoryLock(str(locks), exclusive=True, host="px9", operation="prune"):
        rc, output = playbook(deployed, tmp_path, BACKUP, {**COMMON, "backup_lock_timeout": 1})
    assert rc != 0 and "hv1/vm1" in output[output.rindex("fatal: ") :], output[-3000:]
    assert len(restore_points(deployed, tmp_path)["vm1"]) == before
    vm1 = load_estate(ESTATES / "healthy.yml").model.host("hv1").vms[0]
    held = HostState(deployed.state_dir / "hosts" / "hv1" / "state").read()["change_tracking"]["vms"][vm1.id.lower()]
    assert len(held["reference_points"]) == 1 and not held["checkpoint"]  # day 1's, which the repository knows

    lab_json(deployed, "write", "hv1", "vm1", "--ranges", "2M:4K")  # day 3's writes
    expected = keep_copies(deployed, tmp_path / "day3")["vm1.vhdx"]
    backup(deployed, tmp_path)
    newest = restore_points(deployed, tmp_path)["vm1"][-1]
    assert newest["incremental"]["vm1.vhdx"]["mode"] == "changed_ranges", newest["incremental"]
    compare = subprocess.run(
        ["qemu-img", "compare", "-q", str(expected), str(restore_latest(deployed, tmp_path, "vm1", "d3"))]
    )
    assert compare.returncode == 0, "day 3's restore point must hold day 2's writes, whose backup failed"
