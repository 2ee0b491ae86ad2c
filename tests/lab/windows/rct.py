"""Resilient change tracking (RCT) of a host's virtual disks, with the recovery checkpoints and reference points
built on it, kept in the host's state document under `change_tracking`.

Windows tracks the writes to every VHDX of a VM at configuration version 6.2 or later; a reference point
(`Msvm_VirtualSystemReferencePoint`, ReferencePointType 2) holds one RCT id per disk, and
`Msvm_ImageManagementService.GetVirtualDiskChanges` answers the byte ranges written since an id
(https://learn.microsoft.com/windows/win32/hyperv_v2/msvm-imagemanagementservice-getvirtualdiskchanges).
The lab keeps, per disk (by its estate path, lower case), a random disk GUID, a write sequence and the ranges
each write touched. An RCT id is `rct:<disk guid>:<sequence>` (opaque to the collection). The changes since
an id are the union of the ranges written after its sequence, rounded out to the tracking block and coalesced:
a superset of what was written, never a subset. The block (the estate's `rct_block`, 256 KiB by default,
`lab.estate.model.DEFAULT_RCT_BLOCK`) is the lab's assumption; Microsoft documents no granularity. A resize,
a replaced disk or a storage migration gives the disk a new GUID, so every older id is unknown to the host.

Per VM (by its id, lower case): the recovery checkpoint (`checkpoint`: its InstanceID and the `.avhdx` layer
it added on each disk) and the reference points (`reference_points`: InstanceID, RCT id per disk).
"""

from __future__ import annotations

import uuid
from typing import Any

from lab.estate.vms import Vm, VmDisk
from lab.windows.vm_layout import disk_chain

ID_PREFIX = "rct:"


class UnknownRctId(LookupError):
    """The host does not know this RCT id for the disk (GetVirtualDiskChanges fails)."""


def tracking(state: dict[str, Any]) -> dict[str, Any]:
    """The `change_tracking` part of a host's state document (made on first use)."""
    return state.setdefault("change_tracking", {"disks": {}, "vms": {}})


def vm_record(state: dict[str, Any], vm: Vm) -> dict[str, Any]:
    return tracking(state)["vms"].setdefault(vm.id.lower(), {"checkpoint": None, "reference_points": []})


def disk_record(state: dict[str, Any], disk: VmDisk) -> dict[str, Any]:
    record = tracking(state)["disks"].setdefault(disk.path.lower(), {"sequence": 0, "writes": []})
    record.setdefault("guid", str(uuid.uuid4()))
    return record


def current_id(record: dict[str, Any]) -> str:
    return f"{ID_PREFIX}{record['guid']}:{record['sequence']}"


def record_write(state: dict[str, Any], disk: VmDisk, ranges: list[tuple[int, int]]) -> int:
    """One write event touching `ranges` (offset, length); returns its sequence."""
    record = disk_record(state, disk)
    record["sequence"] += 1
    record["writes"] += [[record["sequence"], offset, length] for offset, length in ranges]
    return record["sequence"]


def invalidate(state: dict[str, Any], disk: VmDisk) -> None:
    """A resize, a replaced disk or a storage migration: a new disk GUID, no history; older ids are unknown."""
    tracking(state)["disks"][disk.path.lower()] = {"guid": str(uuid.uuid4()), "sequence": 0, "writes": []}


def _coalesce(ranges: list[tuple[int, int]], block: int, size: int) -> list[list[int]]:
    """The ranges rounded out to `block` (clipped to the disk), sorted, overlapping or touching ones merged."""
    rounded = sorted((o // block * block, min(-(-(o + n) // block) * block, size)) for o, n in ranges if n > 0)
    merged: list[list[int]] = []
    for start, end in rounded:
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return [[start, end - start] for start, end in merged]


def changes_since(record: dict[str, Any], rct_id: str, block: int, size: int) -> list[list[int]]:
    """GetVirtualDiskChanges over the whole disk: [[offset, length], ...] written since `rct_id`."""
    guid, _, sequence = rct_id[len(ID_PREFIX) :].rpartition(":") if rct_id.startswith(ID_PREFIX) else ("", "", "")
    if guid != record["guid"] or not sequence.isdigit() or int(sequence) > record["sequence"]:
        raise UnknownRctId(rct_id)
    return _coalesce([(o, n) for s, o, n in record["writes"] if s > int(sequence)], block, size)


def recovery_layer(state: dict[str, Any], vm: Vm, disk: VmDisk) -> str | None:
    """The `.avhdx` the VM's recovery checkpoint added on the disk (the VM runs on it), or None."""
    checkpoint = vm_record(state, vm)["checkpoint"] if vm.id.lower() in tracking(state)["vms"] else None
    return checkpoint["layers"].get(disk.path.lower()) if checkpoint else None


def live_chain(state: dict[str, Any], vm: Vm, disk: VmDisk) -> list[str]:
    """The disk's files newest first as the host has them now: a recovery checkpoint's layer on top of the
    estate's chain (`lab.windows.vm_layout.disk_chain`)."""
    layer = recovery_layer(state, vm, disk)
    return [*([layer] if layer else []), *disk_chain(vm, disk)]


def live_disk(state: dict[str, Any], vm: Vm, disk: VmDisk) -> str:
    """What Get-VMHardDiskDrive reports now: the newest file of the live chain."""
    return live_chain(state, vm, disk)[0]
