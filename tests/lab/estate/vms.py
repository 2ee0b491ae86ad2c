"""The VMs of a host in the estate: their disks (with differencing parents), checkpoints, configuration
version and the files the connecting account may not read.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Any

from lab.estate.fields import EstateError, Where, check_keys, integer, sequence, size, text

_WINDOWS_PATH = re.compile(r"^([A-Za-z]:\\|\\\\[^\\]+\\[^\\]+\\)")


@dataclass(frozen=True)
class VmDisk:
    path: str
    size: int
    file: str | None  # a controller file to link instead of making one with qemu-img
    parent: str | None  # a differencing disk of this file (the lab makes it); see lab.windows.vm_layout


@dataclass(frozen=True)
class Vm:
    name: str
    id: str
    state: str
    generation: int
    disks: tuple[VmDisk, ...]
    configuration_version: tuple[int, int]  # Get-VM Version; 5.0 keeps .xml/.bin/.vsv files
    checkpoints: tuple[str, ...]  # checkpoint names, oldest first: each adds an .avhdx layer to every disk
    denied: tuple[str, ...]  # Windows paths of the VM's files the connecting account may not read
    checkpoint_error: str | None = None  # CreateSnapshot fails with this message (lab.handlers.change_tracking)
    # The guest cannot quiesce (no backup integration service, a VSS writer that times out): an application-consistent
    # CreateSnapshot of the running VM fails with this message, a crash-consistent one succeeds.
    quiesce_error: str | None = None
    # The running guest goes on writing while its recovery checkpoint is held: that many random bytes per disk,
    # into the checkpoint's layer (lab.handlers.change_tracking), merged into the disk when the checkpoint goes.
    writes_while_checkpointed: int = 0
    # The virtual switch of each network adapter (None: disconnected); None: one adapter on the host's first switch.
    switches: tuple[str | None, ...] | None = None
    # Get-VM ConfigurationLocation (its `Virtual Machines\\` and `Snapshots\\` folders); None: the first disk's folder,
    # or Hyper-V's default VM path for a VM without disks (lab.windows.vm_layout.configuration_location).
    location: str | None = None
    # Host disk numbers attached to the VM as pass-through disks (a physical disk, no file): Get-VMHardDiskDrive lists
    # each with a Path describing the host disk (`passthrough_path`); no checkpoint or shadow copy holds it.
    passthrough: tuple[int, ...] = ()
    # A live migration during the backup: right after its recovery checkpoint is taken on another host, the lab moves
    # the VM to this node of its cluster (lab.handlers.change_tracking, lab.windows.migration).
    moves_during_backup: str | None = None


# Get-VM State (Microsoft.HyperV.PowerShell.VMState; Msvm_ComputerSystem EnabledState,
# https://learn.microsoft.com/windows/win32/hyperv_v2/msvm-computersystem): the states a VM settles in, and the
# transitions and "Critical" states (its storage unreachable) in which Hyper-V refuses a checkpoint with 32775,
# "invalid state for this operation" (the older CreateVirtualSystemSnapshot page names the states it takes:
# https://learn.microsoft.com/previous-versions/windows/desktop/virtual/createvirtualsystemsnapshot-msvm-virtualsystemmanagementservice).
SETTLED_STATES = ("Running", "Off", "Saved", "Paused")
BUSY_STATES = ("Starting", "Stopping", "Saving", "Pausing", "Resuming", "Reset", "FastSaving")
CRITICAL_STATES = tuple(f"{state}Critical" for state in (*SETTLED_STATES, "Starting", "Stopping", "Saving"))
# The states whose guest memory Hyper-V keeps in the runtime state file (.vmrs; .bin and .vsv before version 6.0).
MEMORY_STATES = ("Running", "Saved", "Paused")


def vm_state(value: Any, where: Where) -> str:
    """A Get-VM State name, in Hyper-V's spelling (the estate may write it in any case)."""
    if isinstance(value, bool):  # YAML 1.1 reads an unquoted Off (and On, No, Yes) as a boolean
        raise EstateError(f"{where}: {value!r} is YAML's reading of an unquoted word: quote the state ('Off')")
    name = text(value, where)
    known = {state.lower(): state for state in (*SETTLED_STATES, *BUSY_STATES, *CRITICAL_STATES)}
    if name.lower() not in known:
        raise EstateError(f"{where}: {name!r} is not a VM state (Get-VM State: {', '.join(known.values())})")
    return known[name.lower()]


def windows_path(value: Any, where: Where, unc: bool = True) -> str:
    path = text(value, where)
    if not _WINDOWS_PATH.match(path) or (not unc and path.startswith("\\\\")):
        kinds = "a drive path (C:\\...) or a UNC path (\\\\server\\share\\...)" if unc else "a drive path (C:\\...)"
        raise EstateError(f"{where}: {path!r} is not {kinds}")
    return path


def parse_vm(entry: Any, where: Where, host: str) -> Vm:
    optional = {
        "id",
        "state",
        "generation",
        "disks",
        "version",
        "checkpoints",
        "denied",
        "checkpoint_error",
        "quiesce_error",
        "writes_while_checkpointed",
        "switches",
        "location",
        "passthrough",
        "moves_during_backup",
    }
    check_keys(entry, where, {"name"}, optional)
    name = text(entry["name"], where / "name")
    disks = []
    for index, disk in enumerate(sequence(entry.get("disks"), where / "disks")):
        at = where / f"disks[{index}]"
        check_keys(disk, at, {"path"}, {"size", "file", "parent"})
        parent = windows_path(disk["parent"], at / "parent") if "parent" in disk else None
        path = windows_path(disk["path"], at / "path")
        disks.append(VmDisk(path, size(disk.get("size", "4M"), at), disk.get("file"), parent))
    return Vm(
        name=name,
        id=text(entry.get("id", str(uuid.uuid5(uuid.NAMESPACE_URL, f"lab-vm:{host}/{name}"))), where / "id"),
        state=vm_state(entry.get("state", "Running"), where / "state"),
        generation=integer(entry.get("generation", 2), where / "generation", 1),
        disks=tuple(disks),
        configuration_version=_configuration_version(entry.get("version", "10.0"), where / "version"),
        checkpoints=tuple(
            text(c, where / "checkpoints") for c in sequence(entry.get("checkpoints"), where / "checkpoints")
        ),
        denied=tuple(windows_path(d, where / "denied") for d in sequence(entry.get("denied"), where / "denied")),
        checkpoint_error=text(entry["checkpoint_error"], where / "checkpoint_error")
        if "checkpoint_error" in entry
        else None,
        quiesce_error=text(entry["quiesce_error"], where / "quiesce_error") if "quiesce_error" in entry else None,
        writes_while_checkpointed=size(entry["writes_while_checkpointed"], where / "writes_while_checkpointed")
        if "writes_while_checkpointed" in entry
        else 0,
        switches=None if "switches" not in entry else switch_names(entry["switches"], where / "switches", True),
        location=windows_path(entry["location"], where / "location").rstrip("\\") if "location" in entry else None,
        passthrough=tuple(
            integer(number, where / "passthrough", 0) for number in sequence(entry.get("passthrough"), where)
        ),
        moves_during_backup=text(entry["moves_during_backup"], where / "moves_during_backup")
        if "moves_during_backup" in entry
        else None,
    )


def passthrough_path(number: int) -> str:
    """What the lab's Get-VMHardDiskDrive reports as the Path of a pass-through disk: the host disk, not a file (the
    lab's rendering; the collection only relies on it naming no file)."""
    return f"Disk {number} 10.00 GB Bus 0 Lun {number} Target 0"


def switch_names(value: Any, where: Where, disconnected: bool = False) -> tuple[str | None, ...]:
    """Virtual switch names (Get-VMSwitch Name); a VM's adapter may be disconnected (null)."""
    return tuple(None if name is None and disconnected else text(name, where) for name in sequence(value, where))


def _configuration_version(value: Any, where: Where) -> tuple[int, int]:
    """`5.0` .. `12.0`: the configuration versions Windows Server 2016-2025 run (5.0 only as an unupgraded VM)."""
    match = re.fullmatch(r"(\d+)\.(\d+)", str(value))
    if not match or not 5 <= int(match[1]) <= 12:
        raise EstateError(f"{where}: {value!r} is not a VM configuration version (5.0 to 12.0)")
    return int(match[1]), int(match[2])
