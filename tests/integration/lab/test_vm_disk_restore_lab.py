"""Disk restore into an existing VM on the lab (issue 13): the lab answers Set-VMHardDiskDrive and
Add-VMHardDiskDrive as Hyper-V does, and `backup.hyperv.vm_disk_restore` replaces vm2's data disk and attaches a
restored disk beside its drives.

healthy.yml: vm2 on hv2 (generation 2, running) has SCSI 0:0 vm2.vhdx and SCSI 0:1 data.vhdx. The "restored" disk
is a copy of data.vhdx under another folder, as the data mover would have written it.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from lab.estate.loader import load_estate
from lab.handlers import ScriptFailure
from lab.windows import hyperv
from lab.windows.hoststate import HostState
from lab.windows.storage import local_path
from lab.windows.vm_config import decode
from lab_testkit import ESTATES, ProvisionedLab, RunningLab, ansible_adhoc
from test_site_lab import staged_lab

ESTATE = ESTATES / "healthy.yml"
MODEL = load_estate(ESTATE).model
DATA = "C:\\ClusterStorage\\Volume1\\vm2\\data.vhdx"
RESTORED = "C:\\ClusterStorage\\Volume1\\restore\\data.vhdx"


def with_restored_disk(lab: ProvisionedLab) -> None:
    target = lab.host_file("hv2", RESTORED)
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(lab.host_file("hv2", DATA), target)


def apply(lab: ProvisionedLab, mode: str, slot: tuple[str, int, int], stop: bool = False) -> dict[str, Any]:
    params = {"Vm": "vm2", "Path": RESTORED, "Mode": mode, "Stop": stop}
    placement = dict(zip(("ControllerType", "ControllerNumber", "ControllerLocation"), slot))
    return lab.call("hv2", "vm_disk_restore_apply", {**params, **placement})


def test_the_lab_refuses_a_location_in_use_and_an_ide_change_while_running(tmp_path: Path) -> None:
    lab = ProvisionedLab(load_estate(ESTATE), tmp_path)
    with_restored_disk(lab)
    assert lab.call("hv2", "vm_disk_restore_read", {"Vm": "vm2", "Path": RESTORED})["Vm"]["State"] == "Running"
    with pytest.raises(ScriptFailure, match="SCSI 0:1 of 'vm2' is in use"):
        apply(lab, "attach", ("SCSI", 0, 1))
    with HostState(lab.contexts["hv2"].state_dir).edit() as state:  # vm2 as a generation 1 VM on IDE
        entry = hyperv.by_name(hyperv.registered(state, MODEL, "hv2"), "vm2")
        entry["generation"] = 1
        for index, disk in enumerate(entry["disks"]):
            disk.update(controller_type="IDE", controller_number=0, controller_location=index)
    with pytest.raises(ScriptFailure, match="cannot be performed while the virtual machine is in its current state"):
        apply(lab, "attach", ("IDE", 1, 0))
    with pytest.raises(ScriptFailure, match="in its current state"):
        apply(lab, "replace", ("IDE", 0, 1))
    replaced = apply(lab, "replace", ("IDE", 0, 1), stop=True)  # turned off first: IDE may change
    assert replaced["Vm"]["State"] == "Off" and replaced["Vm"]["Drives"][1]["Path"] == RESTORED
    assert replaced["Steps"] == ["Stop-VM -TurnOff vm2", f"Set-VMHardDiskDrive IDE 0:1 -Path {RESTORED}"]


def test_a_scsi_drive_is_added_to_a_running_vm_and_the_configuration_follows(tmp_path: Path) -> None:
    lab = ProvisionedLab(load_estate(ESTATE), tmp_path)
    with_restored_disk(lab)
    added = apply(lab, "attach", ("SCSI", 0, 2))
    assert added["Vm"]["State"] == "Running" and added["Vm"]["Drives"][2]["Path"] == RESTORED
    with HostState(lab.contexts["hv2"].state_dir).edit() as state:
        entry = hyperv.by_name(hyperv.registered(state, MODEL, "hv2"), "vm2")
    configuration = lab.host_file(
        "hv2", f"{entry['configuration_location']}\\Virtual Machines\\{entry['id'].upper()}.vmcx"
    )
    assert RESTORED in decode(configuration.read_bytes()).disks


def module(lab: RunningLab, work: Path, *options: str, **args: Any) -> dict[str, Any]:
    arguments = json.dumps({"vm": "vm2", "path": RESTORED} | args)
    return ansible_adhoc(lab, work, "hv2", "-m", "backup.hyperv.vm_disk_restore", "-a", arguments, *options)["hv2"]


def registered(lab: RunningLab) -> dict[str, Any]:
    document = json.loads((lab.state_dir / "hosts" / "hv2" / "state" / "windows.json").read_text())
    return next(entry for entry in document["hyperv_vms"].values() if entry["name"] == "vm2")


def test_the_module_replaces_a_disk_and_attaches_one_on_the_lab(tmp_path: Path) -> None:
    with staged_lab(ESTATE, tmp_path / "lab") as lab:
        restored = local_path(MODEL, lab.state_dir, "hv2", RESTORED)
        restored.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(local_path(MODEL, lab.state_dir, "hv2", DATA), restored)

        refused = module(lab, tmp_path, mode="replace")
        assert refused["msg"].startswith("nothing was changed") and "set force" in refused["msg"], refused
        assert not refused["changed"] and registered(lab)["disks"][1]["path"] == DATA
        taken = module(lab, tmp_path, mode="attach", controller_type="SCSI", controller_number=0, controller_location=1)
        assert taken["msg"].startswith("nothing was changed") and "in use by" in taken["msg"], taken
        planned = module(lab, tmp_path, "--check", mode="replace", force=True)
        assert planned["changed"] and planned["slot"] == "SCSI 0:1" and registered(lab)["state"] == "Running"

        replaced = module(lab, tmp_path, mode="replace", force=True)
        assert replaced["changed"] and replaced["steps"][0] == "Stop-VM -TurnOff vm2", replaced
        assert [d["path"] for d in registered(lab)["disks"]][1] == RESTORED and registered(lab)["state"] == "Off"
        again = module(lab, tmp_path, mode="replace", force=True)
        assert not again["changed"] and "msg" not in again, again
        assert not module(lab, tmp_path, mode="attach")["changed"]  # attached already, at SCSI 0:1
        shutil.copyfile(restored, restored.with_name("data-copy.vhdx"))
        copy = RESTORED.replace("data.vhdx", "data-copy.vhdx")
        attached = module(lab, tmp_path, mode="attach", path=copy)  # the first free SCSI location
        assert attached["changed"] and attached["slot"] == "SCSI 0:2", attached
        assert [d["path"] for d in registered(lab)["disks"]] == [*[d["path"] for d in replaced["drives"]], copy]
