"""Handlers of `vm_restore_read.ps1` and `vm_restore_apply.ps1`: Compare-VM, Import-VM, Stop-VM, Remove-VM,
Start-VM, Add-ClusterVirtualMachineRole against the host's registered VMs (`lab.windows.hyperv`) and files.

What Windows does, and the lab refuses likewise:
- Compare-VM for `Import-VM -Copy [-GenerateNewId] -VhdSourcePath` (https://learn.microsoft.com/powershell/module/hyper-v/compare-vm):
  an adapter on a switch the host lacks is MessageId 33012 "Could not find Ethernet switch '<name>'." (the page's
  example), repaired by connecting or disconnecting the report's adapter (the script's switch mapping); a drive
  whose file is not in the source folder is an incompatibility whose Source is the drive (the lab does not know
  Windows' MessageId for it and reports none).
- Import-VM keeps the VM ID unless -GenerateNewId; an ID registered already is refused (Hyper-V requires unique
  IDs); a configuration version newer than the host's (`lab.windows.vm_config.supported_versions`) cannot be
  imported. -Copy copies the disks into VhdDestinationPath and the configuration into
  `<VirtualMachinePath>\\Virtual Machines\\<ID>.vmcx`, and refuses to overwrite a file.
- Import-VM without -Copy (the script's InPlace, after a quick rollback) registers the configuration where it is and
  the disks at the paths it names.
- Remove-VM refuses a VM that is not off; Start-VM refuses a VM whose disk file is missing;
  Add-ClusterVirtualMachineRole needs a cluster node.
The checks the script makes beside Compare-VM (ID registered, version, storage roots, the VM to replace) are made
here as the script makes them. The params arrive bound (`lab.handlers.binding`): of the script's types, every
parameter present, a left-out one with the default its param() block declares.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lab.handlers import HandlerRegistry, ScriptCall, ScriptFailure
from lab.windows import hyperv
from lab.windows.hostfs import HostPathError
from lab.windows.hoststate import HostState
from lab.windows.storage import local_path
from lab.windows.vm_config import VmConfiguration, decode, supported_versions


def _local(call: ScriptCall, windows_path: str) -> Path:
    return local_path(call.estate.model, call.state_dir.parents[2], call.host.name, windows_path)


def _exists(call: ScriptCall, windows_path: str) -> bool:
    try:
        return _local(call, windows_path).exists()
    except HostPathError:
        return False


def _folder(path: str) -> str:
    return path.rsplit("\\", 1)[0]


def _leaf(path: str) -> str:
    return path.rsplit("\\", 1)[-1]


def _join(folder: str, name: str) -> str:
    return folder.rstrip("\\") + "\\" + name


def _incompatibility(kind: str, message: str, subject: str | None, message_id: int | None = None) -> dict:
    return {"Kind": kind, "MessageId": message_id, "Message": message, "Subject": subject}


def host_info(call: ScriptCall) -> dict[str, Any]:
    model = call.estate.model
    host = model.host(call.host.name)
    cluster = model.cluster_of(call.host.name)
    return {
        "ComputerName": host.computer_name,
        "Build": host.os.build,
        "SupportedVersions": supported_versions(host.os.build),
        "Cluster": cluster.name if cluster else None,
        "Switches": list(host.switches),
    }


def source_configuration(call: ScriptCall) -> str | None:
    """Get-SourceConfiguration: the file named, else the only .vmcx/.xml of the source folder."""
    source, named = call.params["Source"], call.params["Configuration"]
    if named:
        path = _join(source, named)
        return path if _exists(call, path) and _local(call, path).is_file() else None
    try:
        folder = _local(call, source)
        found = sorted(p.name for p in folder.iterdir() if p.is_file() and p.suffix.lower() in (".vmcx", ".xml"))
    except (HostPathError, OSError):
        return None
    if len(found) > 1:
        raise ScriptFailure(
            f"the source folder {source} holds {len(found)} configuration files: name one in configuration"
        )
    return _join(source, found[0]) if found else None


def targets(call: ScriptCall, existing: dict[str, Any] | None) -> tuple[str, str, list[str]]:
    """Get-RestoreTarget: (VirtualMachinePath, VhdDestinationPath, the replaced VM's disk folders)."""
    if call.params["Location"] == "new":
        return call.params["VirtualMachinePath"], call.params["VhdPath"], []
    folders = sorted({_folder(disk["path"]) for disk in existing["disks"]}, key=str.lower)
    return existing["configuration_location"], folders[0] if folders else "", folders


def _mapped(configuration: VmConfiguration, switches: Any) -> tuple[str | None, ...]:
    """The adapters' switches after the script's Connect-/Disconnect-VMNetworkAdapter on the report."""
    # Switches may be $null (sent as null): the script's @($Switches) then maps nothing.
    mapping = {str(e["Source"]).lower(): e.get("Target") for e in switches or [] if isinstance(e, dict)}
    return tuple(mapping.get(s.lower(), s) if s is not None else None for s in configuration.switches)


def compare(call: ScriptCall, configuration: VmConfiguration, vhd_path: str) -> tuple[list[dict], tuple]:
    """Compare-VM's incompatibilities after the mapping, with the script's version check; and the mapped switches."""
    host = host_info(call)
    found = []
    if configuration.version not in host["SupportedVersions"]:
        found.append(_incompatibility("version", "configuration version not supported", configuration.version))
    switches = _mapped(configuration, call.params["Switches"])
    known = {name.lower() for name in host["Switches"]}
    for switch in dict.fromkeys(s for s in switches if s is not None and s.lower() not in known):
        found.append(_incompatibility("switch", f"Could not find Ethernet switch '{switch}'.", switch, 33012))
    folder = vhd_path if call.params["InPlace"] else call.params["Source"]  # registered where they are
    for disk in configuration.disks:
        if not _exists(call, _join(folder, _leaf(disk))):
            message = f"Virtual hard disk file '{_leaf(disk)}' was not found in {folder}."
            found.append(_incompatibility("path", message, _join(vhd_path, _leaf(disk))))
    if call.params["Location"] == "new":  # the script's check after Compare-VM: Import-VM -Copy does not overwrite
        for copy in (_join(vhd_path, _leaf(disk)) for disk in configuration.disks):
            if _exists(call, copy):
                found.append(_incompatibility("file_exists", "a file of that name exists", copy))
    return found, switches


def _precheck(call: ScriptCall, vms: dict, existing: dict | None) -> tuple[list[dict], str | None]:
    """The script's checks before Compare-VM: the VM to replace or the new name, the configuration file."""
    params, found = call.params, []
    if params["Location"] == "original" and existing is None:
        return [_incompatibility("missing_vm", f"VM '{params['Vm']}' was not found", params["Vm"])], None
    if params["Location"] == "new" and hyperv.by_name(vms, params["Name"]):
        found.append(_incompatibility("name_taken", f"VM '{params['Name']}' exists", params["Name"]))
    path = source_configuration(call)
    if path is None:
        found.append(_incompatibility("path", "no configuration file", f"the configuration file in {params['Source']}"))
    return found, path


def _postcheck(call: ScriptCall, vms: dict, existing: dict | None, configuration: VmConfiguration) -> list[dict]:
    """The script's checks between: the VM ID (kept by an original-location import), the storage roots, the layout."""
    found = []
    holder = vms.get(configuration.id)
    if call.params["Location"] == "original" and holder and holder is not existing:
        found.append(
            _incompatibility(
                "id_conflict", "Identifier already exists", f"VM '{holder['name']}', ID {configuration.id}"
            )
        )
    vm_path, vhd_path, folders = targets(call, existing)
    for folder in sorted({vm_path, vhd_path}):
        root = folder[:3] if folder[1:3] == ":\\" else "\\".join(folder.split("\\")[:4])
        if not _exists(call, root):
            found.append(_incompatibility("path", "path not found", f"storage path {folder}"))
    if len(folders) > 1:
        found.append(_incompatibility("layout", "disks in several folders", ", ".join(folders)))
    return found


def plan(call: ScriptCall, state: dict[str, Any]) -> dict[str, Any]:
    """What vm_restore_read.ps1 answers; `_configuration` and `_switches` (private) for the apply."""
    vms = hyperv.registered(state, call.estate.model, call.host.name)
    existing = hyperv.by_name(vms, call.params["Vm"]) if call.params["Location"] == "original" else None
    reply = {"Host": host_info(call), "Existing": hyperv.vm_entry(existing), "Planned": None}
    if call.params["Prepare"] and existing is not None:  # the step before a quick rollback: the VM only
        return {**reply, "Incompatibilities": []}
    found, path = _precheck(call, vms, existing)
    configuration = decode(_local(call, path).read_bytes()) if path else None
    if path and configuration is None:
        found.append(_incompatibility("other", f"Compare-VM: The configuration file {path} could not be read.", None))
    if found or configuration is None:
        return {**reply, "Incompatibilities": found}
    found = _postcheck(call, vms, existing, configuration)
    if found:
        return {**reply, "Incompatibilities": found}
    vm_path, vhd_path, _folders = targets(call, existing)
    found, switches = compare(call, configuration, vhd_path)
    planned = hyperv.new_entry(configuration, vm_path, False)
    planned.update(switches=list(switches), disks=[{"path": _join(vhd_path, _leaf(d))} for d in configuration.disks])
    if call.params["Location"] == "new":
        planned.update(name=call.params["Name"])
    reply["Planned"] = {**hyperv.vm_entry(planned), **({"Id": None} if call.params["Location"] == "new" else {})}
    return {**reply, "Incompatibilities": found, "_configuration": configuration, "_switches": switches}


def vm_restore_read(call: ScriptCall) -> dict[str, Any]:
    reply = plan(call, HostState(call.state_dir).read())
    return {key: value for key, value in reply.items() if not key.startswith("_")}


def register(registry: HandlerRegistry) -> None:
    registry.add("vm_restore_read", vm_restore_read)
