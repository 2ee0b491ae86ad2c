"""Handler of `vm_restore_apply.ps1`: the steps the script runs, in its order, on the host's registered VMs and files
(the Windows semantics are in `lab.handlers.vm_restore`). A step that fails leaves the steps before it done, as on
Windows: the state document is written before the failure is raised.
"""

from __future__ import annotations

import uuid
from typing import Any

from lab.estate.vms import VmDisk
from lab.handlers import HandlerRegistry, ScriptCall, ScriptFailure
from lab.handlers.vm_restore import _exists, _join, _leaf, _local, compare, host_info, source_configuration, targets
from lab.windows import hyperv, rct
from lab.windows.hoststate import HostState, count
from lab.windows.vm_config import VmConfiguration, decode
from lab.windows.vmdisk import copy_sparse


def _configuration_file(entry: dict[str, Any]) -> str:
    return _join(entry["configuration_location"], f"Virtual Machines\\{entry['id'].upper()}.vmcx")


def _write_configuration(call: ScriptCall, entry: dict[str, Any]) -> None:
    target = _local(call, _configuration_file(entry))
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(hyperv.configuration_of(entry).encode())


def _remove_replaced(call: ScriptCall, state: dict, existing: dict[str, Any], steps: list[str]) -> None:
    """Stop-VM -TurnOff, Remove-ClusterGroup, Remove-VM, and the files the import writes again deleted."""
    if call.params["Stop"] and existing["state"] != "Off":
        existing["state"] = "Off"
        steps.append(f"Stop-VM -TurnOff {existing['name']}")
    if existing["clustered"]:
        existing["clustered"] = False
        steps.append(f"Remove-ClusterGroup {existing['name']}")
    del hyperv.registered(state, call.estate.model, call.host.name)[existing["id"]]
    steps.append(f"Remove-VM {existing['name']}")
    restored = {p.name.lower() for p in _local(call, call.params["Source"]).iterdir()}
    for disk in existing["disks"]:
        rct.invalidate(state, VmDisk(disk["path"], 0, None, None))  # a new or rewritten file: its RCT ids are gone
        if call.params["InPlace"]:
            continue  # the data mover rolled it back: it is the restore point's
        if _leaf(disk["path"]).lower() in restored and _exists(call, disk["path"]):
            _local(call, disk["path"]).unlink()
            steps.append(f"Remove-Item {disk['path']}")
    folder = _local(call, _join(existing["configuration_location"], "Virtual Machines"))
    for file in sorted(folder.glob(f"{existing['id'].upper()}.*")) if folder.is_dir() else []:
        file.unlink()
        steps.append(f"Remove-Item {file.name}")


def _copy(call: ScriptCall, source: str, target: str) -> None:
    """Import-VM -Copy of one file; it does not overwrite."""
    if _exists(call, target):
        raise ScriptFailure(f"Import-VM: Failed to copy file '{source}' to '{target}': The file exists.")
    _local(call, target).parent.mkdir(parents=True, exist_ok=True)
    copy_sparse(_local(call, source), _local(call, target))


def _import(call: ScriptCall, state: dict, configuration: VmConfiguration, switches: tuple, paths: tuple) -> dict:
    """Import-VM -CompatibilityReport of a -Copy report: the disks and files copied, the VM registered."""
    vm_path, vhd_path = paths
    vms = hyperv.registered(state, call.estate.model, call.host.name)
    new_id = str(uuid.uuid4()) if call.params["Location"] == "new" else configuration.id
    if new_id in vms:
        raise ScriptFailure(f"Import-VM: a virtual machine with identifier {new_id} is registered already.")
    source, in_place = call.params["Source"], call.params["InPlace"]
    for disk in () if in_place else configuration.disks:
        _copy(call, _join(source, _leaf(disk)), _join(vhd_path, _leaf(disk)))
    disks = tuple(_join(vhd_path, _leaf(disk)) for disk in configuration.disks)
    imported = VmConfiguration(
        new_id, configuration.name, configuration.generation, configuration.version, disks, switches
    )
    entry = hyperv.new_entry(imported, vm_path, False)
    folder = _join(vm_path, "Virtual Machines")
    for file in sorted(_local(call, source).glob(f"{configuration.id.upper()}.*")):
        if in_place:  # Move-Item into the VM's folder, then registered there
            file.replace(_local(call, _join(folder, file.name)))
        elif file.suffix.lower() not in (".vmcx", ".xml"):
            _copy(call, _join(source, file.name), _join(folder, f"{new_id.upper()}{file.suffix}"))
    vms[new_id] = entry
    _write_configuration(call, entry)
    count(call.state_dir, "vm_imports")
    return entry


def _finish(call: ScriptCall, entry: dict[str, Any], steps: list[str]) -> None:
    """Rename-VM (new), Add-ClusterVirtualMachineRole, Start-VM, the source folder removed."""
    if call.params["Location"] == "new":
        entry["name"] = call.params["Name"]
        _write_configuration(call, entry)
        steps.append(f"Rename-VM {entry['name']}")
    if call.params["ClusterRole"]:
        if host_info(call)["Cluster"] is None:
            raise ScriptFailure("Add-ClusterVirtualMachineRole: this host is not a node of a failover cluster.")
        entry["clustered"] = True
        steps.append(f"Add-ClusterVirtualMachineRole {entry['id']}")
    if call.params["Start"]:
        missing = [disk["path"] for disk in entry["disks"] if not _exists(call, disk["path"])]
        if missing:
            raise ScriptFailure(f"Start-VM: '{entry['name']}' failed to start: the file {missing[0]} was not found.")
        entry["state"] = "Running"
        steps.append(f"Start-VM {entry['name']}")
    if call.params["RemoveSource"] and not call.params["InPlace"]:
        source = _local(call, call.params["Source"])
        for file in source.iterdir():
            file.unlink()
        source.rmdir()
        steps.append(f"Remove-Item {call.params['Source']}")


def _prepare(call: ScriptCall, state: dict[str, Any], steps: list[str]) -> dict[str, Any]:
    """Prepare: only Stop-VM -TurnOff of the VM whose disks the data mover rolls back next."""
    existing = hyperv.by_name(hyperv.registered(state, call.estate.model, call.host.name), call.params["Vm"])
    if existing is None:
        raise ScriptFailure(f'Hyper-V was unable to find a virtual machine with name "{call.params["Vm"]}".')
    if call.params["Stop"] and existing["state"] != "Off":
        existing["state"] = "Off"
        steps.append(f"Stop-VM -TurnOff {existing['name']}")
    return existing


def _apply(call: ScriptCall, state: dict[str, Any], steps: list[str]) -> dict[str, Any]:
    if call.params["Prepare"]:
        return _prepare(call, state, steps)
    path = source_configuration(call)
    configuration = decode(_local(call, path).read_bytes()) if path else None
    if configuration is None:
        raise ScriptFailure(f"no configuration file in {call.params['Source']}")
    vms = hyperv.registered(state, call.estate.model, call.host.name)
    existing = hyperv.by_name(vms, call.params["Vm"]) if call.params["Location"] == "original" else None
    if call.params["Location"] == "original" and existing is None:
        raise ScriptFailure(f'Hyper-V was unable to find a virtual machine with name "{call.params["Vm"]}".')
    vm_path, vhd_path, _folders = targets(call, existing)
    if existing:
        _remove_replaced(call, state, existing, steps)
    found, switches = compare(call, configuration, vhd_path)
    if found:
        raise ScriptFailure(
            f"Compare-VM reports {len(found)} incompatibilities: {'; '.join(f['Message'] for f in found)}"
        )
    entry = _import(call, state, configuration, switches, (vm_path, vhd_path))
    steps.append(f"Import-VM {path}")
    _finish(call, entry, steps)
    return entry


def vm_restore_apply(call: ScriptCall) -> dict[str, Any]:
    steps: list[str] = []
    failure = None
    with HostState(call.state_dir).edit() as state:
        try:
            entry = _apply(call, state, steps)
        except ScriptFailure as exc:
            failure = exc  # the steps before it stay done: the state is written
    if failure is not None:
        raise failure
    return {"Vm": hyperv.vm_entry(entry), "Steps": steps}


def register(registry: HandlerRegistry) -> None:
    registry.add("vm_restore_apply", vm_restore_apply)
