"""The decisions of backup.hyperv.vm_disk_restore: which drive slot, and every refusal Hyper-V would make."""

from __future__ import annotations

import pytest

from ansible_collections.backup.hyperv.plugins.plugin_utils.vm_disk_restore import (
    Slot,
    VmDiskRestoreError,
    apply_params,
    check_args,
    decide,
)

RESTORED = "C:\\Restore\\data.vhdx"
TWO_SCSI = (("SCSI", 0, 0, "C:\\VMs\\os.vhdx"), ("SCSI", 0, 1, "C:\\VMs\\data.vhdx"))


def args(mode="replace", slot=(None, None, None), force=False, path=RESTORED):
    placement = dict(zip(("controller_type", "controller_number", "controller_location"), slot))
    return {"vm": "vm2", "path": path, "mode": mode, "force": force, **placement}


def read(state="Off", generation=2, drives=TWO_SCSI, exists=True, dvds=()):
    keys = ("ControllerType", "ControllerNumber", "ControllerLocation", "Path")
    listed = [dict(zip(keys, drive)) for drive in drives]
    dvd_drives = [dict(zip(keys, dvd)) for dvd in dvds]
    vm = {"Name": "vm2", "State": state, "Generation": generation, "Drives": listed, "DvdDrives": dvd_drives}
    return {"Vm": vm, "PathExists": exists}


def test_replace_finds_the_drive_by_the_file_name():
    decision = decide(args(), read())
    assert decision.refusals == () and decision.slot == Slot("SCSI", 0, 1) and not decision.stop
    assert apply_params(args(), decision) == {
        "Vm": "vm2",
        "Path": RESTORED,
        "Mode": "replace",
        "ControllerType": "SCSI",
        "ControllerNumber": 0,
        "ControllerLocation": 1,
        "Stop": False,
    }


def test_replace_of_a_running_vm_needs_force_which_turns_it_off():
    assert "set force" in decide(args(), read(state="Running")).refusals[0]
    decision = decide(args(force=True), read(state="Running"))
    assert decision.slot == Slot("SCSI", 0, 1) and decision.stop


def test_replace_needs_a_drive_at_the_slot_or_a_single_one_of_that_name():
    assert "no drive at SCSI 0:5" in decide(args(slot=("SCSI", 0, 5)), read()).refusals[0]
    assert "no single drive" in decide(args(path="C:\\Restore\\other.vhdx"), read()).refusals[0]


def test_attach_takes_the_first_free_scsi_location_even_while_running():
    decision = decide(args("attach"), read(state="Running"))
    assert decision.slot == Slot("SCSI", 0, 2) and decision.refusals == () and not decision.stop


@pytest.mark.parametrize(
    ("generation", "drives", "dvd", "chosen"),
    [
        (2, (("SCSI", 0, 0, "C:\\VMs\\os.vhdx"),), ("SCSI", 0, 1), Slot("SCSI", 0, 2)),
        (1, (("IDE", 0, 0, "C:\\VMs\\os.vhdx"), ("IDE", 0, 1, "C:\\VMs\\d.vhdx")), ("IDE", 1, 0), Slot("IDE", 1, 1)),
    ],
    ids=["generation 2", "generation 1 (its DVD drive at IDE 1:0 by default)"],
)
def test_attach_skips_the_locations_dvd_drives_hold(generation, drives, dvd, chosen):
    # Get-VMHardDiskDrive lists no DVD drive; Add-VMHardDiskDrive at a DVD drive's location fails on Windows.
    assert decide(args("attach"), read(generation=generation, drives=drives, dvds=[dvd])).slot == chosen
    refused = decide(args("attach", dvd), read(generation=generation, drives=drives, dvds=[dvd]))
    assert refused.slot is None and "holds a DVD drive" in refused.refusals[0]


def test_attach_refuses_a_location_in_use():
    refused = decide(args("attach", ("SCSI", 0, 0)), read())
    assert refused.slot is None and "SCSI 0:0 of VM 'vm2' is in use by C:\\VMs\\os.vhdx" in refused.refusals[0]


def test_ide_changes_are_refused_while_the_vm_runs_and_on_generation_2():
    ide = (("IDE", 0, 0, "C:\\VMs\\os.vhdx"),)
    running = decide(args("attach"), read(state="Running", generation=1, drives=ide))
    assert running.slot is None and "IDE drives cannot be added or changed while it runs" in running.refusals[0]
    off = decide(args("attach"), read(generation=1, drives=ide))
    assert off.slot == Slot("IDE", 0, 1)
    assert "has no IDE controller" in decide(args("attach", ("IDE", 1, 0)), read()).refusals[0]


def test_a_drive_already_using_the_disk_is_no_change():
    same = (("SCSI", 0, 1, RESTORED.upper()),)
    for mode in ("replace", "attach"):
        decision = decide(args(mode), read(drives=same))
        assert decision.refusals == () and decision.slot is None


def test_missing_vm_or_disk_is_refused():
    assert "no VM named 'vm2'" in decide(args(), {"Vm": None, "PathExists": True}).refusals[0]
    assert "does not exist on this host" in decide(args(), read(exists=False)).refusals[0]


@pytest.mark.parametrize(
    ("given", "error"),
    [
        ({"path": "data.vhdx"}, "path"),
        ({"slot": ("IDE", 2, 0)}, "IDE controllers 0-1"),
        ({"slot": ("SCSI", 0, 64)}, "locations 0-63"),
    ],
)
def test_input_windows_would_refuse_is_refused_before_any_round_trip(given, error):
    with pytest.raises(VmDiskRestoreError, match=error):
        check_args(args(**given))
