"""The VMs a Hyper-V host has registered (Get-VM), kept in its state document under `hyperv_vms`.

The estate's VMs are registered at first use; Import-VM adds one, Remove-VM takes one away, Stop-VM/Start-VM set
its state, Add-ClusterVirtualMachineRole / Remove-ClusterGroup its cluster role, Add-VMHardDiskDrive a drive
(`lab.handlers.vm_restore`, `lab.handlers.vm_disk_restore`). Each entry: id (lower case), name, state,
generation, version, configuration_location (the folder holding `Virtual Machines\\`), disks (each a path and
its controller type, number and location), switches (one per network adapter, None: disconnected), clustered.
The other handlers (host_facts, change_tracking, shadow_copy) read the estate's VMs where they run now
(`lab.windows.placement`: `lab move` live-migrates one within its cluster).
"""

from __future__ import annotations

from typing import Any

from lab.estate.hosts import WindowsHost
from lab.estate.model import WindowsEstate
from lab.estate.vms import Vm
from lab.windows.placement import host_vms
from lab.windows.vm_config import VmConfiguration
from lab.windows.vm_layout import configuration_location, disk_chain

KEY = "hyperv_vms"


def _version(vm: Vm) -> str:
    return f"{vm.configuration_version[0]}.{vm.configuration_version[1]}"


def controller_slots(generation: int, count: int) -> list[tuple[str, int, int]]:
    """Where the drives of a new VM sit: SCSI 0 at 0, 1, ... (generation 2); IDE 0:0, 0:1, 1:0, 1:1 (generation 1)."""
    if generation >= 2:
        return [("SCSI", 0, index) for index in range(count)]
    return [("IDE", index // 2, index % 2) for index in range(count)]


def estate_configuration(vm: Vm, host: WindowsHost) -> VmConfiguration:
    """An estate VM's configuration file: its live disks (the newest layer of each chain) and adapters."""
    switches = vm.switches if vm.switches is not None else tuple(host.switches[:1])
    disks = tuple(disk_chain(vm, disk)[0] for disk in vm.disks)
    return VmConfiguration(vm.id.lower(), vm.name, vm.generation, _version(vm), disks, switches)


def new_entry(configuration: VmConfiguration, location: str, clustered: bool, state: str = "Off") -> dict[str, Any]:
    slots = controller_slots(configuration.generation, len(configuration.disks))
    return {
        "id": configuration.id,
        "name": configuration.name,
        "state": state,
        "generation": configuration.generation,
        "version": configuration.version,
        "configuration_location": location,
        "disks": [
            {"path": path, "controller_type": kind, "controller_number": number, "controller_location": where}
            for path, (kind, number, where) in zip(configuration.disks, slots)
        ],
        "switches": list(configuration.switches),
        "clustered": clustered,
    }


def registered(state: dict[str, Any], model: WindowsEstate, host_name: str) -> dict[str, dict[str, Any]]:
    """The host's registered VMs by id (lower case); on first use, the ones it runs (`placement.host_vms`)."""
    if KEY not in state:
        host = model.host(host_name)
        clustered = model.cluster_of(host_name) is not None
        state[KEY] = {}
        for vm in host_vms(model, state, host_name):
            location = configuration_location(vm)
            state[KEY][vm.id.lower()] = new_entry(estate_configuration(vm, host), location, clustered, vm.state)
    return state[KEY]


def by_name(vms: dict[str, dict[str, Any]], name: str) -> dict[str, Any] | None:
    """Get-VM -Name: the first VM of that name, case-blind."""
    return next((entry for entry in vms.values() if entry["name"].lower() == name.lower()), None)


def configuration_of(entry: dict[str, Any]) -> VmConfiguration:
    """The configuration file Hyper-V keeps for a registered VM."""
    disks = tuple(disk["path"] for disk in entry["disks"])
    switches = tuple(entry["switches"])
    return VmConfiguration(entry["id"], entry["name"], entry["generation"], entry["version"], disks, switches)


def vm_entry(entry: dict[str, Any] | None) -> dict[str, Any] | None:
    """A VM as vm_restore_read.ps1 and vm_restore_apply.ps1 report it (Get-VmEntry)."""
    if entry is None:
        return None
    return {
        "Name": entry["name"],
        "Id": entry["id"],
        "State": entry["state"],
        "Version": entry["version"],
        "Clustered": entry["clustered"],
        "ConfigurationLocation": entry["configuration_location"],
        "Disks": [disk["path"] for disk in entry["disks"]],
        "Adapters": [{"Name": "Network Adapter", "Switch": switch} for switch in entry["switches"]],
    }
