"""`playbooks/backup.yml` with VMs that fail in their own ways inside one volume group
(tests/lab/estates/group-vm-faults.yml): vm1's guest cannot quiesce, so the job takes a crash-consistent checkpoint
and says so in the summary line and the HTML report (with `backup_crash_consistent_fallback: false` vm1 fails
alone, naming why, and keeps no checkpoint on its host); vm4's runtime state file cannot be read, so the shadow copy
set leaves vm4 out and vm1, in the same group, is still stored."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from lab_testkit import ESTATES, RunningLab, ansible_adhoc
from test_site_lab import playbook, proxy_lab

# isort: split
from lab.windows.hoststate import HostState

REPO_ROOT = Path(__file__).resolve().parents[3]
BACKUP = REPO_ROOT / "playbooks" / "backup.yml"
COMMON = {
    "backup_repository": "C:\\Backup\\faults",
    "backup_passphrase": "Lab-Vault-Passphrase-faults",
    "backup_vms": ["vm1", "vm2", "vm3"],  # vm4 has its own test
}
QUIESCE = "Production checkpoints cannot be created for 'vm1'."


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningLab]:
    with proxy_lab(ESTATES / "group-vm-faults.yml", tmp_path_factory.mktemp("backup-group-faults")) as lab:
        yield lab


def restore_points(lab: RunningLab, work: Path) -> dict[str, int]:
    arguments = {"operation": "list", **{key: COMMON[f"backup_{key}"] for key in ("repository", "passphrase")}}
    result = ansible_adhoc(lab, work, "px1", "-m", "backup.hyperv.data_mover", "-a", json.dumps(arguments))["px1"]
    return {vm: len(points) for vm, points in result.get("vms", {}).items()}


def test_a_guest_that_cannot_quiesce_is_stored_crash_consistent_and_named(deployed: RunningLab, tmp_path: Path) -> None:
    report = tmp_path / "backup.html"
    before = restore_points(deployed, tmp_path)
    rc, output = playbook(deployed, tmp_path, BACKUP, {**COMMON, "backup_report_html": str(report)})
    assert rc == 0, output[-3000:]
    assert "crash consistent (the guest could not quiesce): hv1/vm1;" in output, output[-3000:]
    assert "hv2/vm2" not in output.split("crash consistent")[1].split(";")[0]  # vm2's guest quiesced
    after = restore_points(deployed, tmp_path)
    assert {vm: after.get(vm, 0) - before.get(vm, 0) for vm in ("vm1", "vm2", "vm3")} == {"vm1": 1, "vm2": 1, "vm3": 1}
    page = report.read_text()
    assert "<td>crash (the application-consistent checkpoint failed: Production checkpoints cannot be created" in page
    assert page.count("<td>application</td>") == 2, page


def test_without_the_fallback_the_guest_that_cannot_quiesce_fails_alone(deployed: RunningLab, tmp_path: Path) -> None:
    before = restore_points(deployed, tmp_path)
    rc, output = playbook(deployed, tmp_path, BACKUP, {**COMMON, "backup_crash_consistent_fallback": False})
    assert rc != 0, output[-3000:]
    assert (
        "checkpoint: no application-consistent recovery checkpoint of VM 'vm1' (the crash-consistent fallback is off): "
        f"{QUIESCE}"
    ) in output, output[-3000:]
    after = restore_points(deployed, tmp_path)
    assert {vm: after.get(vm, 0) - before.get(vm, 0) for vm in ("vm1", "vm2", "vm3")} == {"vm1": 0, "vm2": 1, "vm3": 1}
    held = HostState(deployed.state_dir / "hosts" / "hv1" / "state").read()["change_tracking"]["vms"]
    assert held and all(not record["checkpoint"] for record in held.values()), held  # none left on the host


def test_a_vm_whose_files_cannot_be_read_fails_alone_and_its_group_is_stored(
    deployed: RunningLab, tmp_path: Path
) -> None:
    before = restore_points(deployed, tmp_path)
    rc, output = playbook(deployed, tmp_path, BACKUP, {**COMMON, "backup_vms": ["vm1", "vm4"]})
    assert rc != 0, output[-3000:]
    last_failure = output[output.rindex("fatal: ") :]
    failed = "Backup failed on px1 for: hv1/vm4: shadow copy: files the VMs need cannot be read on their host"
    assert failed in last_failure and "7C2B9E41-5D3A-4F6E-8B1C-2A9D0E3F4B5C.vmrs" in last_failure, last_failure
    assert "configuration files. px1: 1 VM(s) stored, 1 failed" in last_failure, last_failure  # vm1 is not named
    after = restore_points(deployed, tmp_path)
    assert {vm: after.get(vm, 0) - before.get(vm, 0) for vm in ("vm1", "vm4")} == {"vm1": 1, "vm4": 0}
    held = HostState(deployed.state_dir / "hosts" / "hv1" / "state").read()["change_tracking"]["vms"]
    assert all(not record["checkpoint"] for record in held.values()), held  # vm4's checkpoint was destroyed


def test_a_vm_between_states_fails_alone_and_saved_and_off_vms_are_stored(deployed: RunningLab, tmp_path: Path) -> None:
    """vm5 is saving its state: Hyper-V refuses its checkpoint at both consistency levels, and it fails alone with
    what to do; vm6 (saved) and vm7 (off) in the same volume group are stored, vm6 with its saved memory."""
    vms = ["vm1", "vm5", "vm6", "vm7"]
    before = restore_points(deployed, tmp_path)
    rc, output = playbook(deployed, tmp_path, BACKUP, {**COMMON, "backup_vms": vms})
    assert rc != 0, output[-3000:]
    last_failure = output[output.rindex("fatal: ") :]
    refused = "CreateSnapshot returned 32775 (invalid state for this operation)"
    assert f"hv1/vm5: checkpoint: no recovery checkpoint of VM 'vm5': application consistent: {refused}" in last_failure
    assert "The next run backs it up once its state has settled." in last_failure, last_failure
    assert "px1: 3 VM(s) stored, 1 failed" in last_failure, last_failure
    after = restore_points(deployed, tmp_path)
    assert {vm: after.get(vm, 0) - before.get(vm, 0) for vm in vms} == {"vm1": 1, "vm5": 0, "vm6": 1, "vm7": 1}
    held = HostState(deployed.state_dir / "hosts" / "hv1" / "state").read()["change_tracking"]["vms"]
    assert all(not record["checkpoint"] for record in held.values()), held
    runtime_state = {vm: [f for f in stored_files(deployed, tmp_path, vm) if f.endswith(".vmrs")] for vm in vms[2:]}
    assert [len(runtime_state["vm6"]), len(runtime_state["vm7"])] == [1, 0], runtime_state  # the saved memory


def stored_files(lab: RunningLab, work: Path, vm: str) -> list[str]:
    """The names of the files (not disks) the VM's latest restore point holds."""
    arguments = {
        "operation": "list",
        "vm": vm,
        **{key: COMMON[f"backup_{key}"] for key in ("repository", "passphrase")},
    }
    result = ansible_adhoc(lab, work, "px1", "-m", "backup.hyperv.data_mover", "-a", json.dumps(arguments))["px1"]
    return [file["name"] for file in result["vms"][vm][-1]["files"]]
