"""Where a VM's files are on its Hyper-V host: disk chains and configuration files, as Hyper-V lays them out.

* A disk with `parent` in the estate is a differencing disk of that file (the lab makes the parent too).
* Each checkpoint (`checkpoints: [names]`, oldest first) adds a differencing layer to every disk, in the
  disk's folder: `<stem>_<GUID>.avhdx`. The VM then runs on the newest layer, which is the path
  Get-VMHardDiskDrive reports (`lab.windows.rct.live_disk`, which adds a recovery checkpoint's layer), and
  Get-VHD's ParentPath leads back through the older layers to the disk.
* The configuration files (`Virtual Machines\\` under the VM's ConfigurationLocation, which is also its
  SnapshotFileLocation: the estate's `location`, else the first disk's folder, else Hyper-V's default VM path)
  follow the configuration version ("Upgrade virtual machine version in Hyper-V on Windows or Windows Server",
  https://learn.microsoft.com/windows-server/virtualization/hyper-v/deploy/upgrade-virtual-machine-version-in-hyper-v-on-windows-or-windows-server):
  version 5.0 keeps `<id>.xml` and `<id>\\<id>.bin`/`.vsv` (the guest's memory, while the VM runs, is paused or
  saved); later versions `<id>.vmcx`, `.vmrs` (the same) and `.vmgs` (generation 2). A checkpoint keeps the
  same set, named by its id, in `Snapshots\\`.

Hyper-V names these files with upper-case GUIDs; `Get-VM`'s VMId and `Get-VMSnapshot`'s Id print in lower case.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from lab.estate.vms import MEMORY_STATES, Vm, VmDisk


@dataclass(frozen=True)
class ConfigurationFile:
    path: str
    needed: bool  # the VM (or checkpoint) cannot be restored without it


def _guid(seed: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, seed)).upper()


def checkpoint_id(vm: Vm, name: str) -> str:
    return _guid(f"lab-checkpoint:{vm.id}/{name}")


def disk_chain(vm: Vm, disk: VmDisk) -> list[str]:
    """The disk's files, newest first: the checkpoint layers, the disk itself, then its estate `parent`."""
    folder, name = disk.path.rsplit("\\", 1)
    stem = name.rsplit(".", 1)[0]
    layers = [f"{folder}\\{stem}_{_guid(f'lab-avhdx:{vm.id}/{c}/{disk.path}')}.avhdx" for c in vm.checkpoints]
    return [*reversed(layers), disk.path, *([disk.parent] if disk.parent else [])]


def _set_of(folder: str, file_id: str, vm: Vm) -> list[ConfigurationFile]:
    holds_memory = vm.state in MEMORY_STATES  # a runtime state file
    if vm.configuration_version < (6, 0):
        saved = [f"{folder}\\{file_id}\\{file_id}.bin", f"{folder}\\{file_id}\\{file_id}.vsv"] if holds_memory else []
        return [ConfigurationFile(f"{folder}\\{file_id}.xml", True), *(ConfigurationFile(p, False) for p in saved)]
    extensions = [*([".vmrs"] if holds_memory else []), *([".vmgs"] if vm.generation >= 2 else [])]
    return [
        ConfigurationFile(f"{folder}\\{file_id}.vmcx", True),
        *(ConfigurationFile(f"{folder}\\{file_id}{extension}", False) for extension in extensions),
    ]


# Get-VMHost VirtualMachinePath on a host nobody changed it on: where New-VM puts a VM's configuration without -Path
# ("Set-VMHost", https://learn.microsoft.com/powershell/module/hyper-v/set-vmhost).
DEFAULT_VM_PATH = "C:\\ProgramData\\Microsoft\\Windows\\Hyper-V"


def configuration_location(vm: Vm) -> str:
    """Get-VM ConfigurationLocation: the estate's `location`, else the first disk's folder, else the default."""
    if vm.location:
        return vm.location
    return vm.disks[0].path.rsplit("\\", 1)[0] if vm.disks else DEFAULT_VM_PATH


def configuration_files(vm: Vm) -> list[ConfigurationFile]:
    """The VM's configuration files, then each checkpoint's."""
    location = configuration_location(vm)
    files = _set_of(f"{location}\\Virtual Machines", vm.id.upper(), vm)
    for name in vm.checkpoints:
        files += _set_of(f"{location}\\Snapshots", checkpoint_id(vm, name), vm)
    return files
