"""Handlers of `vm_disk_restore_read.ps1` and `vm_disk_restore_apply.ps1`: Get-VMHardDiskDrive, Stop-VM -TurnOff,
Set-VMHardDiskDrive and Add-VMHardDiskDrive against the host's registered VMs (`lab.windows.hyperv`) and files.

What Hyper-V does, and the lab refuses likewise (the lab does not know Windows' exact wording for each):
- a controller location holds one drive: Add-VMHardDiskDrive at a location in use fails;
- IDE drives cannot be added or changed while the VM runs (SCSI drives can: hot add,
  https://learn.microsoft.com/powershell/module/hyper-v/add-vmharddiskdrive); a generation 2 VM has no IDE
  controller;
- the disk file must exist and is attached once (Hyper-V holds it open);
- Set-VMHardDiskDrive changes a drive that exists (the script throws when Get-VMHardDiskDrive finds none at the slot).
Hyper-V rewrites the VM's configuration file after a change; so does the lab. A step that fails leaves the steps
before it done (the state document is written before the failure is raised).
"""

from __future__ import annotations

from typing import Any

from lab.handlers import HandlerRegistry, ScriptCall, ScriptFailure
from lab.handlers.vm_restore import _exists
from lab.handlers.vm_restore_apply import _write_configuration
from lab.windows import hyperv
from lab.windows.hoststate import HostState

RUNNING = ("Running", "Paused", "Saved")


def _vm_entry(entry: dict[str, Any] | None) -> dict[str, Any] | None:
    """Get-DiskVmEntry: the VM and its drives as the scripts report them."""
    if entry is None:
        return None
    drives = [
        {
            "ControllerType": disk["controller_type"],
            "ControllerNumber": disk["controller_number"],
            "ControllerLocation": disk["controller_location"],
            "Path": disk["path"],
        }
        for disk in entry["disks"]
    ]
    # the lab's VMs have no DVD drives (Get-VMDvdDrive lists none)
    vm = {"Name": entry["name"], "State": entry["state"], "Generation": entry["generation"], "Drives": drives}
    return {**vm, "DvdDrives": []}


def vm_disk_restore_read(call: ScriptCall) -> dict[str, Any]:
    with HostState(call.state_dir).edit() as state:
        vm = hyperv.by_name(hyperv.registered(state, call.estate.model, call.host.name), call.params["Vm"])
        return {"Vm": _vm_entry(vm), "PathExists": _exists(call, call.params["Path"])}


def _slot(params: dict[str, Any]) -> tuple[str, int, int]:
    # Bound already (lab.handlers.binding): [string] and [int], the script's defaults where left out.
    return params["ControllerType"].upper(), params["ControllerNumber"], params["ControllerLocation"]


def _drive_at(entry: dict[str, Any], slot: tuple[str, int, int]) -> dict[str, Any] | None:
    keys = ("controller_type", "controller_number", "controller_location")
    return next((disk for disk in entry["disks"] if tuple(disk[key] for key in keys) == slot), None)


def _refuse_change(entry: dict[str, Any], slot: tuple[str, int, int], path_exists: bool) -> None:
    where = f"{slot[0]} {slot[1]}:{slot[2]}"
    if not path_exists:
        raise ScriptFailure("Failed to add device 'Virtual Hard Disk': the system cannot find the file specified.")
    if slot[0] == "IDE" and entry["generation"] >= 2:
        raise ScriptFailure(f"Hyper-V: VM '{entry['name']}' (generation 2) has no IDE controller for {where}.")
    if slot[0] == "IDE" and entry["state"] in RUNNING:
        raise ScriptFailure(
            f"Hyper-V: the operation cannot be performed while the virtual machine is in its current state "
            f"({entry['state']}): IDE drive {where} of '{entry['name']}'."
        )


def _change(call: ScriptCall, entry: dict[str, Any], steps: list[str]) -> None:
    params = call.params
    if params["Stop"] and entry["state"] != "Off":
        entry["state"] = "Off"
        steps.append(f"Stop-VM -TurnOff {entry['name']}")
    slot, path = _slot(params), params["Path"]
    where = f"{slot[0]} {slot[1]}:{slot[2]}"
    drive = _drive_at(entry, slot)
    if params["Mode"] == "replace":
        if drive is None:
            raise ScriptFailure(f"VM {entry['name']} has no drive at {where}")
        _refuse_change(entry, slot, _exists(call, path))
        drive["path"] = path
        steps.append(f"Set-VMHardDiskDrive {where} -Path {path}")
    else:
        if drive is not None:
            raise ScriptFailure(
                f"Hyper-V: controller location {where} of '{entry['name']}' is in use by {drive['path']}."
            )
        _refuse_change(entry, slot, _exists(call, path))
        if any(disk["path"].lower() == path.lower() for disk in entry["disks"]):
            raise ScriptFailure(f"Hyper-V: {path} is attached to '{entry['name']}' already (the file is in use).")
        keys = ("controller_type", "controller_number", "controller_location")
        entry["disks"].append({"path": path, **dict(zip(keys, slot))})
        steps.append(f"Add-VMHardDiskDrive {where} -Path {path}")
    _write_configuration(call, entry)


def vm_disk_restore_apply(call: ScriptCall) -> dict[str, Any]:
    steps: list[str] = []
    failure = None
    with HostState(call.state_dir).edit() as state:
        entry = hyperv.by_name(hyperv.registered(state, call.estate.model, call.host.name), call.params["Vm"])
        if entry is None:
            raise ScriptFailure(f'Hyper-V was unable to find a virtual machine with name "{call.params["Vm"]}".')
        try:
            _change(call, entry, steps)
        except ScriptFailure as exc:
            failure = exc  # the steps before it stay done: the state is written
    if failure is not None:
        raise failure
    return {"Vm": _vm_entry(entry), "Steps": steps}


def register(registry: HandlerRegistry) -> None:
    registry.add("vm_disk_restore_read", vm_disk_restore_read)
    registry.add("vm_disk_restore_apply", vm_disk_restore_apply)
