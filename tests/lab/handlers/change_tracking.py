"""Handlers of `change_tracking_{checkpoint,reference,release}.ps1`: recovery checkpoints, RCT reference points
and GetVirtualDiskChanges, answered from the host's state (`lab.windows.rct`) and files.

What Windows does (Hyper-V WMI v2, https://learn.microsoft.com/windows/win32/hyperv_v2/):
- `Msvm_VirtualSystemSnapshotService.CreateSnapshot` with the recovery snapshot type (32768) freezes the VM's
  disks: the VM writes to a new differencing layer per disk from then on (msvm-virtualsystemsnapshotservice).
  The lab adds `<stem>_<GUID>.avhdx` beside each disk (a VHD disk gets an `.avhd` that is a sparse copy: the
  lab writes no VHD differencing disk); host_facts and shadow_copy_read then list it as the VM's disk.
- `ConvertToReferencePoint` turns a recovery snapshot into an `Msvm_VirtualSystemReferencePoint`
  (ReferencePointType 2, one RCT id per disk) and merges the snapshot's layers
  (msvm-virtualsystemsnapshotservice-converttoreferencepoint). The lab's layers are empty (it refuses writes
  while a recovery checkpoint exists), so the merge removes them.
- `Msvm_ImageManagementService.GetVirtualDiskChanges` (msvm-imagemanagementservice-getvirtualdiskchanges)
  answers the changed ranges since an RCT id, or fails for an id the host does not know.
- RCT needs a VHDX disk and configuration version 6.2 or later ("Upgrade virtual machine version in Hyper-V on
  Windows or Windows Server", Update-VMVersion).
- `Msvm_VirtualSystemSnapshotSettingData.ConsistencyLevel` 1 asks the guest to quiesce its applications (its VSS,
  through the backup integration service), 2 takes the disks as they are (msvm-virtualsystemsnapshotsettingdata).
  A running VM's `quiesce_error` makes level 1 fail with that message; the script then asks level 2 when
  `CrashConsistentFallback` is true. A VM that is not running has nothing to quiesce. A VM between states
  (starting, saving, ...) or in a Critical one gets no checkpoint at either level: CreateSnapshot returns 32775,
  invalid state for this operation (`lab.estate.vms.SETTLED_STATES`).
- The RCT id a reference point holds for a disk is the disk's at the checkpoint: the state the frozen file holds.
  What the guest writes while the checkpoint is held goes into its layer and is tracked after that id; the
  conversion (or DestroySnapshot) merges the layer into the disk. The lab's layers stay empty, so a VM's
  `writes_while_checkpointed` makes the guest write that many random bytes per base VHDX right after the
  checkpoint: tracked at once, kept pending, and written into the disk when the checkpoint goes (so the next
  run's changes since the reference point hold them, and a shadow copy taken meanwhile does not).
A VM's `moves_during_backup: NODE` live-migrates it to NODE right after its checkpoint is taken (a migration during
the backup: its checkpoint goes along, so this host's later steps find neither). A VM that holds a recovery
checkpoint already gets no second one: the script looks for one first and fails the VM
naming it (another backup application's, or one a run made when its reply was lost). A VM's `checkpoint_error` makes
CreateSnapshot fail with that message (at either level); a host's `rct_drop_ranges` makes GetVirtualDiskChanges leave
out every other range (the second, fourth, ...): a lying answer for tests of the collection's checks.
"""

from __future__ import annotations

import random
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from lab.estate.vms import SETTLED_STATES, Vm, VmDisk
from lab.handlers import HandlerRegistry, ScriptCall, ScriptFailure
from lab.windows import rct
from lab.windows.hoststate import HostState, count
from lab.windows.migration import MoveError, move_vm
from lab.windows.placement import host_vms
from lab.windows.provision import make_layer
from lab.windows.storage import local_path, vhd_format
from lab.windows.vmdisk import POINT_IN_TIME, copy_sparse, virtual_size, write_random

RCT_VERSION = (6, 2)
UNKNOWN_ID_ERROR = "GetVirtualDiskChanges returned 32768 (Failed)"
INVALID_STATE_ERROR = "CreateSnapshot returned 32775 (invalid state for this operation)"  # as the script words it
NO_CONSISTENCY = {"Consistency": None, "ConsistencyMessage": None}  # no checkpoint taken


def _local(call: ScriptCall, windows_path: str) -> Path:
    return local_path(call.estate.model, call.state_dir.parents[2], call.host.name, windows_path)


def _find_vm(call: ScriptCall, state: dict[str, Any], name: str) -> Vm | None:
    """The VM of that name the host runs now (`placement.host_vms`: after the live migrations of `lab move`)."""
    running = host_vms(call.estate.model, state, call.host.name)
    return next((vm for vm in running if vm.name.lower() == name.lower()), None)


def _not_found(call: ScriptCall, name: str) -> str:
    return f"VM '{name}' was not found on {call.estate.model.host(call.host.name).computer_name}"


def _gone_since_checkpoint(call: ScriptCall, name: str) -> str:
    """The reference script's words for a VM its host no longer has (moved during the backup, or removed)."""
    return (
        f"{_not_found(call, name)} after its checkpoint was taken: it moved to another node of the cluster during "
        "the backup (or was removed); the next run backs it up where it runs"
    )


def _entries(call: ScriptCall, key: str, name_key: str) -> list[dict[str, Any]]:
    """The script's parameter `key`: a list of mappings each naming a VM, else the script throws (bad input)."""
    entries = call.params.get(key)
    if not isinstance(entries, list) or not all(isinstance(e, dict) and e.get(name_key) for e in entries):
        raise ScriptFailure(f"Cannot bind argument to parameter '{key}': a list of entries with {name_key} is needed.")
    return entries


def _file_name(windows_path: str) -> str:
    return windows_path.rsplit("\\", 1)[-1]


def _new_layer(call: ScriptCall, disk: VmDisk, frozen: str) -> str:
    """A differencing layer on `frozen`, named as Hyper-V names a checkpoint's (`<disk stem>_<GUID>.avhdx`)."""
    folder, name = disk.path.rsplit("\\", 1)
    vhd = frozen.lower().endswith((".vhd", ".avhd"))
    layer = f"{folder}\\{name.rsplit('.', 1)[0]}_{str(uuid.uuid4()).upper()}.{'avhd' if vhd else 'avhdx'}"
    with POINT_IN_TIME:  # a shadow copy taken meanwhile holds the layer whole or not at all
        if vhd:
            copy_sparse(_local(call, frozen), _local(call, layer))
        else:
            make_layer(_local(call, layer), _local(call, frozen), frozen, virtual_size(_local(call, frozen)))
    return layer


def _disk_changes(call: ScriptCall, state: dict[str, Any], disk: VmDisk, frozen: str, since: str | None) -> dict:
    """One disk of a VM that got its checkpoint: Ranges since its RCT id, or the Reason for a full read."""
    file = _local(call, frozen)
    size = virtual_size(file)
    entry = {"Path": frozen, "Name": _file_name(frozen), "Size": size, "Since": since, "Ranges": None, "Reason": None}
    disk_format = vhd_format(file, frozen)
    if disk_format != "VHDX":
        return {**entry, "Reason": f"{disk_format} disk: resilient change tracking needs VHDX"}
    if not since:
        return {**entry, "Reason": "no RCT id recorded for this disk in the repository"}
    try:
        ranges = rct.changes_since(rct.disk_record(state, disk), since, call.estate.model.rct_block, size)
    except rct.UnknownRctId:
        return {
            **entry,
            "Reason": f"the host does not know RCT id {since} for this disk (moved, storage-migrated, resized, "
            f"merged or replaced since): {UNKNOWN_ID_ERROR}",
        }
    if call.estate.model.host(call.host.name).rct_drop_ranges:
        ranges = ranges[::2]  # the fault: every other range left out
    return {**entry, "Ranges": ranges}


def _consistency(vm: Vm, fallback: bool) -> dict[str, Any]:
    """The level the checkpoint gets: application, or crash when the running guest cannot quiesce and the fallback
    is allowed; else the failure, worded as the script words it. A VM between states refuses both levels."""
    if vm.state not in SETTLED_STATES:
        return _refused_at_both_levels(vm, INVALID_STATE_ERROR, fallback)
    quiesce = vm.quiesce_error if vm.state == "Running" else None
    if quiesce is None:
        return {**NO_CONSISTENCY, "Consistency": "application", "Failed": False, "Message": None}
    if not fallback:
        return {**NO_CONSISTENCY, "Failed": True, "Message": _no_application_checkpoint(vm, quiesce)}
    failed = f"the application-consistent checkpoint failed: {quiesce}"
    return {"Consistency": "crash", "ConsistencyMessage": failed, "Failed": False, "Message": None}


def _refused_at_both_levels(vm: Vm, error: str, fallback: bool) -> dict[str, Any]:
    """CreateSnapshot failing with `error` whatever the level asked, worded as the script words it."""
    if not fallback:
        return {**NO_CONSISTENCY, "Failed": True, "Message": _no_application_checkpoint(vm, error)}
    message = f"no recovery checkpoint of VM '{vm.name}': application consistent: {error}; crash consistent: {error}"
    return {**NO_CONSISTENCY, "Failed": True, "Message": message}


def _no_application_checkpoint(vm: Vm, error: str) -> str:
    return (
        f"no application-consistent recovery checkpoint of VM '{vm.name}' (the crash-consistent fallback is off): "
        f"{error}"
    )


def _checkpoint_vm(
    call: ScriptCall, state: dict[str, Any], vm: Vm, since: dict[str, str], fallback: bool
) -> dict[str, Any]:
    version = f"{vm.configuration_version[0]}.{vm.configuration_version[1]}"
    reply = {"Name": vm.name, "Id": vm.id.lower(), "Version": version, "Checkpoint": None, **NO_CONSISTENCY}
    reply["Failed"] = False
    if vm.configuration_version < RCT_VERSION:
        reason = f"configuration version {version} has no resilient change tracking (6.2 or later; Update-VMVersion)"
        disks = [rct.live_disk(state, vm, disk) for disk in vm.disks]
        return {**reply, "Message": None, "Disks": [_unchanged(call, path, since, reason) for path in disks]}
    record = rct.vm_record(state, vm)
    if record["checkpoint"]:  # the script looks for one first (Msvm_SnapshotOfVirtualSystem)
        return {**reply, "Failed": True, "Message": _held_message(vm.name, record["checkpoint"]), "Disks": []}
    if vm.checkpoint_error:
        return {**reply, "Failed": True, "Message": vm.checkpoint_error, "Disks": []}
    consistency = _consistency(vm, fallback)
    if consistency["Failed"]:
        return {**reply, **consistency, "Disks": []}
    reply.update(consistency)
    frozen = {disk.path.lower(): rct.live_disk(state, vm, disk) for disk in vm.disks}
    layers = {d.path.lower(): _new_layer(call, d, frozen[d.path.lower()]) for d in vm.disks}
    ids = {disk.path.lower(): rct.current_id(rct.disk_record(state, disk)) for disk in vm.disks}  # the frozen state
    created = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%SZ")  # CreationTime, as the script prints it
    record["checkpoint"] = {
        "id": f"Microsoft:{str(uuid.uuid4()).upper()}",
        "layers": layers,
        "ids": ids,
        "created": created,
    }
    count(call.state_dir, "checkpoints")
    disks = []
    for disk in vm.disks:
        path = frozen[disk.path.lower()]
        disks.append(_disk_changes(call, state, disk, path, since.get(_file_name(path).lower())))
    _guest_writes(call, state, vm, frozen, record["checkpoint"])
    return {**reply, "Checkpoint": record["checkpoint"]["id"], "Message": None, "Disks": disks}


def _held_message(name: str, held: dict[str, Any]) -> str:
    """The script's words for a VM that holds a recovery checkpoint already."""
    created = held.get("created") or "at an unknown time"
    return (
        f"VM '{name}' already has recovery checkpoint {held['id']} (created {created}): another backup application "
        "is backing it up, or a run of this collection lost the reply that named it. Hyper-V would stack a new one on "
        f"it, so none was taken. Once no backup of the VM runs, remove it (Get-VMSnapshot -VMName '{name}' "
        "-SnapshotType Recovery | Remove-VMSnapshot); the next run backs the VM up."
    )


def _guest_writes(call: ScriptCall, state: dict[str, Any], vm: Vm, frozen: dict[str, str], held: dict) -> None:
    """The running guest's writes into its checkpoint's layers (`writes_while_checkpointed` bytes per base VHDX, at
    a place drawn from the checkpoint's id): tracked now, after the checkpoint's RCT ids; kept pending until the
    layer is merged (`_merge_guest_writes`)."""
    if not vm.writes_while_checkpointed or vm.state != "Running":
        return
    draw = random.Random(held["id"])
    for disk in vm.disks:
        path = frozen[disk.path.lower()]
        if path.lower() != disk.path.lower() or disk.parent or vhd_format(_local(call, path), path) != "VHDX":
            continue  # qemu-io writes base VHDX files only
        size = virtual_size(_local(call, path))
        length = min(vm.writes_while_checkpointed, size)
        offset = draw.randrange(0, size - length + 1) // 512 * 512
        rct.record_write(state, disk, [(offset, length)])
        held.setdefault("pending", []).append(
            {"path": path, "ranges": [[offset, length]], "seed": f"{held['id']}{path}"}
        )


def _merge_guest_writes(call: ScriptCall, held: dict[str, Any]) -> None:
    """ConvertToReferencePoint or DestroySnapshot merges the layer: the guest's writes reach the disk (a new file
    for it, so that a shadow copy of the volume keeps the frozen state)."""
    with POINT_IN_TIME:
        for write in held.get("pending", []):
            write_random(_local(call, write["path"]), [(o, n) for o, n in write["ranges"]], write["seed"])


def _unchanged(call: ScriptCall, path: str, since: dict[str, str], reason: str) -> dict[str, Any]:
    name = _file_name(path)
    size = virtual_size(_local(call, path))
    return {
        "Path": path,
        "Name": name,
        "Size": size,
        "Since": since.get(name.lower()),
        "Ranges": None,
        "Reason": reason,
    }


def change_tracking_checkpoint(call: ScriptCall) -> dict[str, Any]:
    replies, moving = [], []
    with HostState(call.state_dir).edit() as state:
        for asked in _entries(call, "Vms", "Name"):
            vm = _find_vm(call, state, str(asked["Name"]))
            if vm is None:
                replies.append(_failed_checkpoint(call, str(asked["Name"])))
                continue
            since = {str(name).lower(): str(value) for name, value in (asked.get("Since") or {}).items() if value}
            replies.append(_checkpoint_vm(call, state, vm, since, bool(call.params["CrashConsistentFallback"])))
            if replies[-1]["Checkpoint"] and vm.moves_during_backup not in (None, call.host.name):
                moving.append(vm)
    for vm in moving:  # the estate's migration during the backup, once the host's state is written
        try:
            move_vm(call.estate.model, call.state_dir.parents[2], call.host.name, vm.name, str(vm.moves_during_backup))
        except MoveError as exc:
            raise ScriptFailure(f"lab: the estate's moves_during_backup of {vm.name}: {exc}") from exc
    return {"vms": replies}


def _failed_checkpoint(call: ScriptCall, name: str) -> dict[str, Any]:
    reply = {"Name": name, "Id": None, "Version": None, "Checkpoint": None, **NO_CONSISTENCY, "Failed": True}
    return {**reply, "Message": _not_found(call, name), "Disks": []}


def _remove_layers(call: ScriptCall, checkpoint: dict[str, Any]) -> None:
    with POINT_IN_TIME:  # not while a shadow copy of the volume is being taken
        for layer in checkpoint["layers"].values():
            _local(call, layer).unlink(missing_ok=True)


def _reference_vm(call: ScriptCall, state: dict[str, Any], vm: Vm, checkpoint_id: str) -> dict[str, Any]:
    record = rct.vm_record(state, vm)
    held = record["checkpoint"]
    if not held or held["id"].lower() != checkpoint_id.lower():
        message = f"checkpoint {checkpoint_id} of VM '{vm.name}' is gone or is not a recovery checkpoint"
        return {"Name": vm.name, "ReferencePoint": None, "Failed": True, "Message": message, "Disks": []}
    _remove_layers(call, held)  # ConvertToReferencePoint merges the snapshot: its layers go
    _merge_guest_writes(call, held)
    record["checkpoint"] = None
    disks, ids = [], {}
    for disk in vm.disks:
        path = rct.live_disk(state, vm, disk)
        vhdx = vhd_format(_local(call, path), path) == "VHDX"
        ids[disk.path.lower()] = held["ids"][disk.path.lower()] if vhdx else None  # the checkpoint's, not now's
        disks.append({"Path": path, "Name": _file_name(path), "ChangeId": ids[disk.path.lower()]})
    point = {"id": f"Microsoft:{str(uuid.uuid4()).upper()}", "disks": ids}
    record["reference_points"].append(point)
    count(call.state_dir, "reference_points")
    return {"Name": vm.name, "ReferencePoint": point["id"], "Failed": False, "Message": None, "Disks": disks}


def change_tracking_reference(call: ScriptCall) -> dict[str, Any]:
    replies = []
    with HostState(call.state_dir).edit() as state:
        for asked in _entries(call, "Checkpoints", "Vm"):
            name, checkpoint_id = str(asked["Vm"]), str(asked.get("Checkpoint") or "")
            vm = _find_vm(call, state, name)
            if vm is None:
                replies.append(
                    {
                        "Name": name,
                        "ReferencePoint": None,
                        "Failed": True,
                        "Message": _gone_since_checkpoint(call, name),
                        "Disks": [],
                    }
                )
                continue
            replies.append(_reference_vm(call, state, vm, checkpoint_id))
    return {"vms": replies}


def _release_vm(call: ScriptCall, state: dict[str, Any], vm: Vm, asked: dict[str, Any]) -> tuple[list, list]:
    record = rct.vm_record(state, vm)
    checkpoints = []
    wanted = str(asked.get("Checkpoint") or "").lower()
    if wanted and record["checkpoint"] and record["checkpoint"]["id"].lower() == wanted:
        _remove_layers(call, record["checkpoint"])  # DestroySnapshot of an unconverted recovery checkpoint
        _merge_guest_writes(call, record["checkpoint"])
        checkpoints.append(record["checkpoint"]["id"])
        record["checkpoint"] = None
    keep, drop = str(asked.get("Keep") or "").lower(), str(asked.get("Drop") or "").lower()
    points = record["reference_points"]
    gone = [p for p in points if (keep and p["id"].lower() != keep) or (drop and p["id"].lower() == drop)]
    record["reference_points"] = [p for p in points if p not in gone]  # DestroyReferencePoint
    return checkpoints, [p["id"] for p in gone]


def change_tracking_release(call: ScriptCall) -> dict[str, Any]:
    replies = []
    with HostState(call.state_dir).edit() as state:
        for asked in _entries(call, "Vms", "Name"):
            vm = _find_vm(call, state, str(asked["Name"]))
            checkpoints, points = _release_vm(call, state, vm, asked) if vm else ([], [])
            replies.append(
                {
                    "Name": str(asked["Name"]),
                    "OnHost": vm is not None,  # a VM moved away took its records along (lab.windows.migration)
                    "DestroyedCheckpoints": checkpoints,
                    "DestroyedReferencePoints": points,
                }
            )
    return {"vms": replies}


def register(registry: HandlerRegistry) -> None:
    registry.add("change_tracking_checkpoint", change_tracking_checkpoint)
    registry.add("change_tracking_reference", change_tracking_reference)
    registry.add("change_tracking_release", change_tracking_release)
