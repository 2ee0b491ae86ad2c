"""The change tracking handlers in-process: a recovery checkpoint adds a layer the VM runs on, the reference
point gives RCT ids, GetVirtualDiskChanges answers a coalesced superset of what `lab write` wrote, and the
events that make Windows forget an id (resize, replace, migrate) give the reason for a full read."""

from __future__ import annotations

import pytest
import yaml
from lab_testkit import ESTATES, ProvisionedLab

# isort: split
from lab.churn import ChurnError, DiskChange
from lab.estate.loader import load_estate
from lab.handlers import ScriptFailure

VM1_DISK = "C:\\ClusterStorage\\Volume1\\vm1\\vm1.vhdx"
FROZEN_DISK = "C:\\ClusterStorage\\Volume1\\frozen\\frozen.vhdx"
OFF_DISK = "C:\\ClusterStorage\\Volume1\\off\\off.vhdx"
BUSY_DISK = "C:\\ClusterStorage\\Volume1\\busy\\busy.vhdx"
QUIESCE = "Production checkpoints cannot be created for 'frozen'. (Virtual machine ID 1B2C)"
K = 1024
ESTATE = {
    "extends": str(ESTATES / "healthy.yml"),
    "rct_block": "64K",
    "hosts": [
        {
            "name": "hv1",
            "vms": [
                {"name": "vm1", "disks": [{"path": VM1_DISK, "size": "8M"}]},
                {"name": "old", "version": "5.0", "disks": [{"path": "C:\\ClusterStorage\\Volume1\\old\\old.vhdx"}]},
                {"name": "vhd", "disks": [{"path": "C:\\ClusterStorage\\Volume1\\vhd\\vhd.vhd"}]},
                {"name": "broken", "checkpoint_error": "CreateSnapshot returned 32768 (Failed)", "disks": []},
                {"name": "frozen", "quiesce_error": QUIESCE, "disks": [{"path": FROZEN_DISK, "size": "1M"}]},
                {"name": "off", "state": "Off", "quiesce_error": QUIESCE, "disks": [{"path": OFF_DISK, "size": "1M"}]},
                {"name": "busy", "writes_while_checkpointed": "64K", "disks": [{"path": BUSY_DISK, "size": "1M"}]},
            ],
        }
    ],
}


@pytest.fixture
def lab(tmp_path) -> ProvisionedLab:
    path = tmp_path / "estate.yml"
    path.write_text(yaml.safe_dump(ESTATE))
    return ProvisionedLab(load_estate(path), tmp_path / "lab")


def checkpoint(lab: ProvisionedLab, vms: list[dict], fallback: bool = True) -> list[dict]:
    return lab.call("hv1", "change_tracking_checkpoint", {"Vms": vms, "CrashConsistentFallback": fallback})["vms"]


def full_cycle(lab: ProvisionedLab, since: dict | None = None) -> tuple[dict, dict]:
    """Checkpoint, reference, keep only the new reference point: (checkpoint reply, reference reply) of vm1."""
    made = checkpoint(lab, [{"Name": "vm1", "Since": since or {}}])[0]
    reference = lab.call(
        "hv1", "change_tracking_reference", {"Checkpoints": [{"Vm": "vm1", "Checkpoint": made["Checkpoint"]}]}
    )["vms"][0]
    release = {"Vms": [{"Name": "vm1", "Checkpoint": made["Checkpoint"], "Keep": reference["ReferencePoint"]}]}
    lab.call("hv1", "change_tracking_release", release)
    return made, reference


def write(lab: ProvisionedLab, ranges: list[tuple[int, int]]) -> None:
    DiskChange(lab.estate, lab.state_dir, "hv1", "vm1", 0).write(ranges, None, 7)


def test_a_recovery_checkpoint_adds_a_layer_the_vm_runs_on_until_it_becomes_a_reference_point(lab):
    made = checkpoint(lab, [{"Name": "VM1"}])[0]
    assert (made["Name"], made["Failed"], made["Version"], made["Checkpoint"].startswith("Microsoft:")) == (
        "vm1",
        False,
        "10.0",
        True,
    )
    [disk] = made["Disks"]
    assert (disk["Path"], disk["Name"], disk["Size"], disk["Ranges"]) == (VM1_DISK, "vm1.vhdx", 8 << 20, None)
    assert disk["Reason"] == "no RCT id recorded for this disk in the repository"
    facts = lab.call("hv1", "host_facts", {})
    layer = next(vm for vm in facts["vms"] if vm["name"] == "vm1")["disks"][0]["path"]
    assert layer.startswith("C:\\ClusterStorage\\Volume1\\vm1\\vm1_") and layer.endswith(".avhdx")
    read = lab.call("hv1", "shadow_copy_read", {"Vms": ["vm1"], "MetadataDir": "C:\\m", "ExposeRoot": "C:\\m"})
    assert read["vms"][0]["Files"][0]["Path"] == layer and read["vms"][0]["Files"][0]["Parents"] == [VM1_DISK]
    with pytest.raises(ChurnError, match="recovery checkpoint"):
        write(lab, [(0, 4096)])
    reference = lab.call(
        "hv1", "change_tracking_reference", {"Checkpoints": [{"Vm": "vm1", "Checkpoint": made["Checkpoint"]}]}
    )["vms"][0]
    assert reference["Failed"] is False and reference["Disks"][0]["ChangeId"].startswith("rct:")
    assert reference["Disks"][0]["Path"] == VM1_DISK and not lab.host_file("hv1", layer).exists()
    again = lab.call(
        "hv1", "change_tracking_reference", {"Checkpoints": [{"Vm": "vm1", "Checkpoint": made["Checkpoint"]}]}
    )["vms"][0]
    assert again["Failed"] is True and "is gone or is not a recovery checkpoint" in again["Message"]


def test_the_changes_are_a_coalesced_superset_of_what_was_written_since_the_id(lab):
    _made, first = full_cycle(lab)
    since = {"VM1.VHDX": first["Disks"][0]["ChangeId"]}  # file names compared case-blind
    write(lab, [(10 * K, 4 * K), (70 * K, 1 * K), (1 << 20, 200 * K)])
    write(lab, [(60 * K, 8 * K)])
    made, second = full_cycle(lab, since)
    # 64 KiB blocks: [0, 128K) from the first three writes, [1M, 1M+256K) from the 200 KiB
    assert made["Disks"][0]["Ranges"] == [[0, 128 * K], [1 << 20, 256 * K]]
    assert made["Disks"][0]["Since"] == first["Disks"][0]["ChangeId"] and made["Disks"][0]["Reason"] is None
    later, _ = full_cycle(lab, {"vm1.vhdx": second["Disks"][0]["ChangeId"]})
    assert later["Disks"][0]["Ranges"] == []  # nothing written since the second reference point


@pytest.mark.parametrize("change", [{"resize": 16 << 20}, {"replace": True}, {"migrate": True}])
def test_a_resize_a_replaced_disk_or_a_migration_makes_the_host_forget_the_id(lab, change):
    _made, first = full_cycle(lab)
    DiskChange(lab.estate, lab.state_dir, "hv1", "vm1", 0).change(**change)
    made, _ = full_cycle(lab, {"vm1.vhdx": first["Disks"][0]["ChangeId"]})
    assert made["Disks"][0]["Ranges"] is None
    assert made["Disks"][0]["Reason"].startswith(f"the host does not know RCT id {first['Disks'][0]['ChangeId']}")
    assert made["Disks"][0]["Size"] == change.get("resize", 8 << 20)


def test_what_has_no_rct_and_what_fails_alone(lab):
    replies = checkpoint(lab, [{"Name": "nope"}, {"Name": "old"}, {"Name": "vhd"}, {"Name": "broken"}])
    assert [(r["Name"], r["Failed"]) for r in replies] == [
        ("nope", True),
        ("old", False),
        ("vhd", False),
        ("broken", True),
    ]
    assert replies[0]["Message"] == "VM 'nope' was not found on HV1"
    assert replies[1]["Checkpoint"] is None and replies[1]["Disks"][0]["Reason"] == (
        "configuration version 5.0 has no resilient change tracking (6.2 or later; Update-VMVersion)"
    )
    assert replies[2]["Checkpoint"] and replies[2]["Disks"][0]["Reason"] == (
        "VHD disk: resilient change tracking needs VHDX"
    )
    assert replies[3]["Message"] == "CreateSnapshot returned 32768 (Failed)" and replies[3]["Checkpoint"] is None
    assert [r["Consistency"] for r in replies] == [None, None, "application", None]
    with pytest.raises(ScriptFailure):
        checkpoint(lab, [{"Nom": "vm1"}])
    with pytest.raises(ScriptFailure, match="CrashConsistentFallback"):  # mandatory, as the script declares it
        lab.call("hv1", "change_tracking_checkpoint", {"Vms": [{"Name": "vm1"}]})


def test_a_guest_that_cannot_quiesce_gets_a_crash_consistent_checkpoint_unless_the_fallback_is_off(lab):
    refused = checkpoint(lab, [{"Name": "frozen"}, {"Name": "off"}], fallback=False)
    assert refused[0]["Failed"] is True and refused[0]["Checkpoint"] is None and refused[0]["Consistency"] is None
    assert refused[0]["Message"] == (
        "no application-consistent recovery checkpoint of VM 'frozen' (the crash-consistent fallback is off): "
        + QUIESCE
    )
    assert refused[1]["Failed"] is False and refused[1]["Consistency"] == "application"  # off: nothing to quiesce
    lab.call("hv1", "change_tracking_release", {"Vms": [{"Name": "off", "Checkpoint": refused[1]["Checkpoint"]}]})
    crash = checkpoint(lab, [{"Name": "frozen"}])[0]
    assert crash["Failed"] is False and crash["Checkpoint"] and crash["Consistency"] == "crash"
    assert crash["ConsistencyMessage"] == f"the application-consistent checkpoint failed: {QUIESCE}"


def test_release_destroys_an_unconverted_checkpoint_and_the_other_reference_points_once(lab):
    _made, first = full_cycle(lab)
    made = checkpoint(lab, [{"Name": "vm1"}])[0]
    reference = lab.call(
        "hv1", "change_tracking_reference", {"Checkpoints": [{"Vm": "vm1", "Checkpoint": made["Checkpoint"]}]}
    )["vms"][0]
    drop = {"Vms": [{"Name": "vm1", "Checkpoint": None, "Keep": None, "Drop": reference["ReferencePoint"]}]}
    assert lab.call("hv1", "change_tracking_release", drop)["vms"][0]["DestroyedReferencePoints"] == [
        reference["ReferencePoint"]
    ]
    pending = checkpoint(lab, [{"Name": "vm1"}])[0]
    release = {"Vms": [{"Name": "vm1", "Checkpoint": pending["Checkpoint"], "Keep": first["ReferencePoint"]}]}
    done = lab.call("hv1", "change_tracking_release", release)["vms"][0]
    assert (done["DestroyedCheckpoints"], done["DestroyedReferencePoints"]) == ([pending["Checkpoint"]], [])
    assert lab.call("hv1", "change_tracking_release", release)["vms"][0]["DestroyedCheckpoints"] == []
    facts = lab.call("hv1", "host_facts", {})
    assert next(vm for vm in facts["vms"] if vm["name"] == "vm1")["disks"][0]["path"] == VM1_DISK


def test_a_lying_host_leaves_out_every_other_range(tmp_path):
    lying = {**ESTATE, "hosts": [{**ESTATE["hosts"][0], "rct_drop_ranges": True}]}
    path = tmp_path / "estate.yml"
    path.write_text(yaml.safe_dump(lying))
    lab = ProvisionedLab(load_estate(path), tmp_path / "lab")
    _made, first = full_cycle(lab)
    write(lab, [(0, 4 * K), (1 << 20, 4 * K), (2 << 20, 4 * K)])
    made, _ = full_cycle(lab, {"vm1.vhdx": first["Disks"][0]["ChangeId"]})
    assert made["Disks"][0]["Ranges"] == [[0, 64 * K], [2 << 20, 64 * K]]  # [1M, +64K) left out


def test_what_the_guest_writes_while_its_checkpoint_is_held_is_merged_after_and_tracked_after_the_id(lab):
    """The reference point's RCT id is the frozen state's: the guest's writes into the checkpoint's layer reach the
    disk when the layer is merged, and the next changes since that id hold them (else an incremental would miss
    them for ever)."""
    disk = lab.host_file("hv1", BUSY_DISK)
    first = checkpoint(lab, [{"Name": "busy"}])[0]
    frozen = disk.read_bytes()
    reference = lab.call(
        "hv1", "change_tracking_reference", {"Checkpoints": [{"Vm": "busy", "Checkpoint": first["Checkpoint"]}]}
    )["vms"][0]
    assert disk.read_bytes() != frozen  # merged at the conversion
    since = {"busy.vhdx": reference["Disks"][0]["ChangeId"]}
    second = checkpoint(lab, [{"Name": "busy", "Since": since}])[0]
    ranges = second["Disks"][0]["Ranges"]
    assert ranges and sum(length for _offset, length in ranges) in (64 * K, 128 * K)  # one 64K write, block-rounded
    lab.call("hv1", "change_tracking_release", {"Vms": [{"Name": "busy", "Checkpoint": second["Checkpoint"]}]})
