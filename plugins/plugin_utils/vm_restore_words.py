"""What each incompatibility of a VM restore means for the admin, and what to do about it.

vm_restore_read.ps1 reports each one with a ``Kind`` it derives from what Windows says:

* ``switch``: Compare-VM's MessageId 33012, "Could not find Ethernet switch '<name>'." (the example of
  https://learn.microsoft.com/powershell/module/hyper-v/compare-vm), whose Source is the VMNetworkAdapter;
* ``path``: an incompatibility whose Source is a hard disk drive (its file is not in the source folder), or a
  file or folder the script found missing (the configuration file, the target storage path);
* ``id_conflict``: the VM ID is registered on the host already (Hyper-V requires unique VM IDs: "clients must
  ensure that the unique identifier is not already in use", ImportSystemDefinition / ImportVirtualSystem of
  Msvm_VirtualSystemManagementService, https://learn.microsoft.com/windows/win32/hyperv_v2/);
* ``version``: the configuration version is not among ``Get-VMHostSupportedVersion``'s: "You can only import a
  virtual machine if the Hyper-V host supports that configuration version" ("Upgrade virtual machine version in
  Hyper-V on Windows or Windows Server", section "Supported virtual machine configuration versions",
  https://learn.microsoft.com/windows-server/virtualization/hyper-v/deploy/upgrade-virtual-machine-version-in-hyper-v-on-windows-or-windows-server);
* ``name_taken``: a VM of the new name is registered on the host already (Hyper-V allows it, but two VMs of one
  name are told apart only by ID, and the playbooks find VMs by name);
* ``missing_vm``: a restore to the original location finds no VM of that name to replace;
* ``layout``: the VM's disks are in several folders, which one restore to the original location cannot write;
* ``file_exists``: for a new VM, a file of a disk's name is in the disk folder already: Import-VM -Copy copies
  each disk there by its name and does not overwrite it ("The file exists"), which Compare-VM does not report;
* anything else is ``other``: Windows' own message, with its MessageId.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def _switch(subject: str, host: Mapping[str, Any]) -> str:
    switches = ", ".join(host["Switches"] or []) or "none"
    return (
        f"the restore point's network adapter is connected to virtual switch '{subject}', which "
        f"{host['ComputerName']} does not have (its switches: {switches}): map it in switches "
        f"('{subject}': <one of its switches>), or to null to leave the adapter disconnected"
    )


def _path(subject: str, host: Mapping[str, Any]) -> str:
    return (
        f"{subject} was not found on {host['ComputerName']}: check that the data mover restored the restore "
        "point into source (as this host sees it) and that the storage paths exist and are reachable from it"
    )


def _id_conflict(subject: str, host: Mapping[str, Any]) -> str:
    return (
        f"the restore point's VM ID is registered on {host['ComputerName']} already ({subject}): restore it as a "
        "new VM (location=new gives it a new VM ID), or remove that VM first (Remove-VM) to restore in its place"
    )


def _version(subject: str, host: Mapping[str, Any]) -> str:
    supported = ", ".join(host["SupportedVersions"] or []) or "none"
    return (
        f"the restore point's configuration version {subject} is newer than {host['ComputerName']} (build "
        f"{host['Build']}) supports ({supported}): restore it onto a host running a newer Windows Server; "
        "configuration versions cannot be downgraded"
    )


def _layout(subject: str, host: Mapping[str, Any]) -> str:
    return (
        f"the VM's disks are in several folders ({subject}): restore it with location=new and one disk_path, "
        "then move its storage (Move-VMStorage) where it belongs"
    )


def _file_exists(subject: str, host: Mapping[str, Any]) -> str:
    return (
        f"{subject} exists on {host['ComputerName']} already, and the import copies the VM's disk there by that name "
        "without overwriting it: give the new VM another disk_path (or storage_path), or remove that file if no VM "
        "uses it"
    )


def _name_taken(subject: str, host: Mapping[str, Any]) -> str:
    return f"a VM named '{subject}' is registered on {host['ComputerName']} already: choose another name"


def _missing_vm(subject: str, host: Mapping[str, Any]) -> str:
    return (
        f"VM '{subject}' is not registered on {host['ComputerName']}, so there is no original location to restore "
        "to: restore it with location=new (a name and a storage_path), or run the task on the host that has it"
    )


_WORDS = {
    "missing_vm": _missing_vm,
    "name_taken": _name_taken,
    "switch": _switch,
    "path": _path,
    "id_conflict": _id_conflict,
    "version": _version,
    "layout": _layout,
    "file_exists": _file_exists,
}


def describe_incompatibility(entry: Mapping[str, Any], host: Mapping[str, Any]) -> dict[str, Any]:
    """``{kind, message_id, message, subject, action}`` of one incompatibility the read script reported."""
    kind = str(entry["Kind"])
    subject = str(entry["Subject"] or "")
    words = _WORDS.get(kind)
    action = words(subject, host) if words else f"Hyper-V on {host['ComputerName']} refuses it: {entry['Message']}"
    return {
        "kind": kind if words else "other",
        "message_id": entry["MessageId"],
        "message": entry["Message"],
        "subject": subject or None,
        "action": action,
    }
