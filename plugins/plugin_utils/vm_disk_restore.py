"""Pure decisions of ``backup.hyperv.vm_disk_restore``: input checks, which drive slot, refusals and the result.

Words: a *slot* is a drive's controller type, number and location (``SCSI 0:1``); ``mode: replace`` points an
existing drive of the VM at the restored disk (``Set-VMHardDiskDrive -Path``,
https://learn.microsoft.com/powershell/module/hyper-v/set-vmharddiskdrive), ``mode: attach`` adds a drive beside
the others (``Add-VMHardDiskDrive``, https://learn.microsoft.com/powershell/module/hyper-v/add-vmharddiskdrive).

What Hyper-V allows, and is checked here before anything changes: a generation 2 VM has SCSI controllers only
(https://learn.microsoft.com/windows-server/virtualization/hyper-v/plan/should-i-create-a-generation-1-or-2-virtual-machine-in-hyper-v);
IDE drives cannot be added or changed while the VM runs, SCSI drives can (hot add); a controller holds 2 IDE or
64 SCSI locations, a VM 2 IDE and 4 SCSI controllers; a slot holds one drive, and a disk file one slot.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Optional

from ansible_collections.backup.hyperv.plugins.plugin_utils.vm_restore import RUNNING_STATES
from ansible_collections.backup.hyperv.plugins.plugin_utils.windows_path import WindowsPathError, check_windows_path

MODES = ("replace", "attach")
# Controllers a VM has and locations each holds, by controller type.
LIMITS = {"IDE": (2, 2), "SCSI": (4, 64)}
SLOT_OPTIONS = ("controller_type", "controller_number", "controller_location")


class VmDiskRestoreError(ValueError):
    """The disk restore cannot go on as asked; nothing was changed on the host."""


@dataclass(frozen=True)
class Slot:
    kind: str
    number: int
    location: int

    def __str__(self) -> str:
        return f"{self.kind} {self.number}:{self.location}"


@dataclass(frozen=True)
class Decision:
    """What the apply step does: nothing (``slot`` None with ``refusals`` empty: already so), or ``slot``."""

    refusals: tuple[str, ...] = ()
    slot: Optional[Slot] = None
    stop: bool = False


def vm_disk_restore_argument_spec() -> dict[str, dict[str, Any]]:
    """Options of ``backup.hyperv.vm_disk_restore``."""
    return {
        "vm": {"type": "str", "required": True},
        "path": {"type": "str", "required": True},
        "mode": {"type": "str", "required": True, "choices": list(MODES)},
        "controller_type": {"type": "str", "choices": list(LIMITS)},
        "controller_number": {"type": "int"},
        "controller_location": {"type": "int"},
        "force": {"type": "bool", "default": False},
    }


VM_DISK_RESTORE_REQUIRED_TOGETHER = [list(SLOT_OPTIONS)]


def check_args(args: Mapping[str, Any]) -> None:
    """Raise VmDiskRestoreError for input Windows would refuse or misread; runs before any round trip."""
    try:
        check_windows_path("path", args["path"], absolute=True, forward_slashes=False)
    except WindowsPathError as exc:
        raise VmDiskRestoreError(str(exc)) from exc
    if not str(args["vm"]).strip():
        raise VmDiskRestoreError("vm must be a VM name, not blank")
    given = given_slot(args)
    if given is not None:
        controllers, locations = LIMITS[given.kind]
        if not (0 <= given.number < controllers and 0 <= given.location < locations):
            raise VmDiskRestoreError(
                f"{given} does not exist: a VM has {given.kind} controllers 0-{controllers - 1}, "
                f"each with locations 0-{locations - 1}"
            )


def given_slot(args: Mapping[str, Any]) -> Optional[Slot]:
    if args.get("controller_type") is None:
        return None
    return Slot(args["controller_type"], args["controller_number"], args["controller_location"])


def slot_of(drive: Mapping[str, Any]) -> Slot:
    return Slot(str(drive["ControllerType"]), int(drive["ControllerNumber"]), int(drive["ControllerLocation"]))


def leaf(windows_path: str) -> str:
    return windows_path.rstrip("\\").rsplit("\\", 1)[-1].casefold()


def decide(args: Mapping[str, Any], read: Mapping[str, Any]) -> Decision:
    """The slot to change, or why not; ``read``: vm_disk_restore_read.ps1's reply."""
    vm, path = read["Vm"], args["path"]
    if vm is None:
        return Decision((f"no VM named '{args['vm']}' on this host: give the name Get-VM shows",))
    if not read["PathExists"]:
        return Decision((f"the restored disk {path} does not exist on this host: restore it there first (data_mover)",))
    drives = {slot_of(drive): str(drive["Path"]) for drive in vm["Drives"] or []}
    dvds = {slot_of(drive) for drive in vm.get("DvdDrives") or []}
    if args["mode"] == "attach" and any(used.casefold() == path.casefold() for used in drives.values()):
        return Decision()  # attached already (a disk file is attached once: Hyper-V holds it open)
    slot = _replaced_slot(args, drives) if args["mode"] == "replace" else _attach_slot(args, vm, drives, dvds)
    if isinstance(slot, str):
        return Decision((slot,))
    if drives.get(slot, "").casefold() == path.casefold():
        return Decision()  # the drive already uses the restored disk
    running = vm["State"] in RUNNING_STATES
    found = _slot_refusals(args, vm, slot, drives, running)
    return Decision(tuple(found), slot if not found else None, running and args["mode"] == "replace")


def _replaced_slot(args: Mapping[str, Any], drives: Mapping[Slot, str]) -> Slot | str:
    """The drive to point at the restored disk: the one given, else the one whose file has its name."""
    given = given_slot(args)
    if given is not None:
        return given if given in drives else f"the VM has no drive at {given}: give the slot of one of its drives"
    same_name = [slot for slot, path in drives.items() if leaf(path) == leaf(args["path"])]
    if len(same_name) == 1:
        return same_name[0]
    return (
        f"no single drive of the VM uses a file named {leaf(args['path'])}: give controller_type, "
        "controller_number and controller_location of the drive to replace"
    )


def _attach_slot(
    args: Mapping[str, Any], vm: Mapping[str, Any], drives: Mapping[Slot, str], dvds: set[Slot]
) -> Slot | str:
    """The slot of the new drive: the one given (unless a DVD drive holds it), else the first one of the VM's
    first controller that no hard disk or DVD drive (Get-VMDvdDrive) uses."""
    given = given_slot(args)
    if given is not None:
        return f"{given} holds a DVD drive: give a free location" if given in dvds else given
    kind = "SCSI" if int(vm["Generation"]) >= 2 else "IDE"
    controllers, locations = LIMITS[kind]
    free = (Slot(kind, n, loc) for n in range(controllers) for loc in range(locations))
    slot = next((candidate for candidate in free if candidate not in drives and candidate not in dvds), None)
    return slot if slot is not None else f"every {kind} location of the VM is in use: detach a drive first"


def _slot_refusals(
    args: Mapping[str, Any], vm: Mapping[str, Any], slot: Slot, drives: Mapping[Slot, str], running: bool
) -> list[str]:
    found = []
    name, state = vm["Name"], str(vm["State"]).lower()
    if slot.kind == "IDE" and int(vm["Generation"]) >= 2:
        found.append(f"VM '{name}' is generation 2, which has no IDE controller: use SCSI")
    if args["mode"] == "attach" and slot in drives:
        found.append(f"{slot} of VM '{name}' is in use by {drives[slot]}: give a free location, or mode=replace")
    if slot.kind == "IDE" and running:
        found.append(f"VM '{name}' is {state}: IDE drives cannot be added or changed while it runs; shut it down")
    elif args["mode"] == "replace" and running and not args["force"]:
        found.append(f"VM '{name}' is {state}: shut it down (Stop-VM) or set force to turn it off")
    return found


def script_params(args: Mapping[str, Any]) -> dict[str, Any]:
    return {"Vm": args["vm"], "Path": args["path"]}


def apply_params(args: Mapping[str, Any], decision: Decision) -> dict[str, Any]:
    slot = decision.slot
    if slot is None:  # apply runs only for a decided slot: a bug if not
        raise ValueError("internal error: no controller slot was decided for the disk")
    placement = {"ControllerType": slot.kind, "ControllerNumber": slot.number, "ControllerLocation": slot.location}
    return {**script_params(args), "Mode": args["mode"], **placement, "Stop": decision.stop}


def drives_of(vm: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """The VM's drives as the module returns them."""
    if not vm:
        return []
    return [
        {
            "controller_type": drive["ControllerType"],
            "controller_number": int(drive["ControllerNumber"]),
            "controller_location": int(drive["ControllerLocation"]),
            "path": str(drive["Path"]),
        }
        for drive in vm["Drives"] or []
    ]
