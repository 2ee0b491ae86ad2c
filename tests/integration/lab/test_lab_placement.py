"""`lab move` (lab.windows.placement) in-process: a live migration within a cluster carries the VM's checkpoint,
reference points and disk tracking to the new node, which then lists it and answers its RCT ids, and releases the
checkpoint it took along (the old node says the VM is not on it); Windows' refusals (a host outside the cluster, a
file only the old node reaches) move nothing."""

from __future__ import annotations

import pytest
from lab_testkit import ESTATES, ProvisionedLab

# isort: split
from lab.estate.loader import load_estate
from lab.windows.hoststate import HostState
from lab.windows.migration import MoveError, move_vm
from lab.windows.placement import host_vms


@pytest.fixture
def lab(tmp_path) -> ProvisionedLab:
    return ProvisionedLab(load_estate(ESTATES / "local-storage.yml"), tmp_path)


def running(lab: ProvisionedLab, host: str) -> list[str]:
    state = HostState(lab.state_dir / "hosts" / host / "state").read()
    return [vm.name for vm in host_vms(lab.estate.model, state, host)]


def move(lab: ProvisionedLab, host: str, vm: str, to: str) -> dict:
    return move_vm(lab.estate.model, lab.state_dir, host, vm, to)


def convert(lab: ProvisionedLab, host: str, vm: str) -> dict:
    """A checkpoint converted into a reference point: the VM's disks' RCT ids, by file name."""
    made = lab.call(host, "change_tracking_checkpoint", {"Vms": [{"Name": vm}], "CrashConsistentFallback": True})
    checkpoint = made["vms"][0]["Checkpoint"]
    point = lab.call(host, "change_tracking_reference", {"Checkpoints": [{"Vm": vm, "Checkpoint": checkpoint}]})
    return {disk["Name"]: disk["ChangeId"] for disk in point["vms"][0]["Disks"]}


def test_a_moved_vm_runs_on_the_other_node_with_its_reference_points_and_rct_ids(lab):
    ids = convert(lab, "hv1", "vm1")
    move(lab, "hv1", "vm1", "hv2")
    assert "vm1" not in running(lab, "hv1") and running(lab, "hv2")[-1] == "vm1"
    asked = {"Vms": [{"Name": "vm1", "Since": ids}], "CrashConsistentFallback": True}
    gone = lab.call("hv1", "change_tracking_checkpoint", asked)["vms"][0]
    assert gone["Failed"] and "was not found" in gone["Message"]
    there = lab.call("hv2", "change_tracking_checkpoint", asked)["vms"][0]
    assert not there["Failed"] and there["Disks"][0]["Ranges"] == [] and there["Disks"][0]["Reason"] is None
    converted = {"Checkpoints": [{"Vm": "vm1", "Checkpoint": there["Checkpoint"]}]}
    elsewhere = lab.call("hv1", "change_tracking_reference", converted)["vms"][0]
    assert elsewhere["Failed"] and "after its checkpoint was taken: it moved to another node" in elsewhere["Message"]
    move(lab, "hv2", "vm1", "hv1")  # during a backup: its recovery checkpoint goes along
    assert "vm1" in running(lab, "hv1") and "vm1" not in running(lab, "hv2")
    release = {"Vms": [{"Name": "vm1", "Checkpoint": there["Checkpoint"]}]}
    assert lab.call("hv2", "change_tracking_release", release)["vms"][0] == {
        "Name": "vm1",
        "OnHost": False,
        "DestroyedCheckpoints": [],
        "DestroyedReferencePoints": [],
    }
    released = lab.call("hv1", "change_tracking_release", release)["vms"][0]
    assert released["OnHost"] and released["DestroyedCheckpoints"] == [there["Checkpoint"]]


@pytest.mark.parametrize(
    ("host", "vm", "to", "words"),
    [
        ("hv1", "vm1", "px1", "not two nodes of one failover cluster"),
        ("hv1", "vm1", "hv1", "not two nodes of one failover cluster"),
        ("hv1", "vm1", "hv9", "no host 'hv9'"),
        ("hv2", "vm1", "hv1", "hv2 runs no VM named 'vm1'"),
        ("hv1", "vm6", "hv2", r"vm6's file D:\\Hyper-V\\vm6\\vm6.vhdx is on storage of hv1 that hv2 does not reach"),
        ("hv1", "vm5", "hv2", r"vm5's file C:\\ProgramData\\Microsoft\\Windows\\Hyper-V\\.* does not reach"),
    ],
)
def test_a_move_windows_refuses_moves_nothing(lab, host, vm, to, words):
    before = {name: running(lab, name) for name in ("hv1", "hv2")}
    with pytest.raises(MoveError, match=words):
        move(lab, host, vm, to)
    assert {name: running(lab, name) for name in ("hv1", "hv2")} == before
