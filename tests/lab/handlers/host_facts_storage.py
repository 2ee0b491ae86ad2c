"""host_facts sections about storage and VMs: `cluster`, `disks`, `dedup_volumes`, `smb`, `vms`.

A host's disks (Get-Disk) are its boot disk, then the LUNs it sees: a cluster node sees its
CSVs' LUNs, any host those its estate entry lists. A CSV's `luns` are the host's own disks
behind it, as the script matches them by disk GUID or signature.
"""

from __future__ import annotations

from typing import Any

from lab.estate.fields import stable_number
from lab.estate.hosts import LunView
from lab.estate.model import Lun
from lab.estate.vms import passthrough_path
from lab.handlers.host_facts_context import FactsContext
from lab.handlers.host_facts_roles import guards_role, without_role
from lab.windows import dotnet, features
from lab.windows.hostfs import HostPathError
from lab.windows.placement import host_vms
from lab.windows.rct import live_disk
from lab.windows.storage import local_path, vhd_format

_FORMATS = {".vhd": "VHD", ".avhd": "VHD", ".vhdx": "VHDX", ".avhdx": "VHDX", ".vhds": "VHDSet"}


def visible_luns(context: FactsContext) -> list[tuple[Lun, LunView]]:
    """The LUNs the host sees, in disk-number order (its cluster's CSVs first)."""
    cluster = context.model.cluster_of(context.host.name)
    views = [LunView(csv.lun, True, "") for csv in cluster.csvs] if cluster else []
    views += [view for view in context.host.luns if view.lun not in {v.lun for v in views}]
    return [(context.model.lun(view.lun), view) for view in views]


def _lun_id(lun: Lun, number: int) -> dict[str, Any]:
    return {
        "serial_number": lun.serial,
        "unique_id": lun.unique_id,
        "unique_id_format": "FCPH Name",
        "disk_number": number,
    }


def cluster_section(context: FactsContext) -> dict[str, Any] | None:
    cluster = context.model.cluster_of(context.host.name)
    if cluster is None and guards_role("cluster"):  # ClusSvc absent, or disabled: not a node
        return None
    context.require_module("FailoverClusters")
    if cluster is None:  # the module without the role: Get-Cluster fails
        raise without_role("cluster")
    numbers = {lun.id: number for number, (lun, _view) in enumerate(visible_luns(context), start=1)}
    return {
        "name": cluster.name,
        "nodes": [{"name": context.model.host(node).computer_name, "state": "Up"} for node in cluster.nodes],
        "shared_volumes": [
            {
                "name": csv.name,
                "path": csv.path,
                "owner_node": context.model.host(csv.owner).computer_name,
                "state": "Online",
                "luns": [_lun_id(context.model.lun(csv.lun), numbers[csv.lun])] if csv.lun in numbers else [],
            }
            for csv in cluster.csvs
        ],
    }


def _boot_disk(context: FactsContext, refused: bool) -> dict[str, Any]:
    virtual = context.host.os.model == "Virtual Machine"
    seed = stable_number(f"boot:{context.host.name}", 1 << 48)
    return {
        "number": 0,
        "friendly_name": "Msft Virtual Disk" if virtual else "DELL PERC H755 Front",
        "serial_number": None if virtual else f"00{seed:012x}",
        "unique_id": f"6D094660{seed:024X}",
        "unique_id_format": "FCPH Name",
        "bus_type": "SCSI" if virtual else "RAID",
        "size": 480 << 30,
        "operational_status": "Online",
        "is_offline": False,
        "is_read_only": False,
        "readable": not refused,
        "read_error": dotnet.DEVICE_PATH_REFUSED if refused else None,
    }


def _refused_by_dotnet(context: FactsContext) -> bool:
    """Test-DiskRead opens every disk as FileStream on `\\\\.\\PhysicalDriveN` and the host's .NET refuses it."""
    return context.host.legacy_path_handling and dotnet.opens_device_by_path("facts_storage")


def _read_test(view: LunView, timeout: int) -> tuple[bool, str | None]:
    if view.readable == "hang":
        return False, f"no data within {timeout} s"
    return (True, None) if view.readable else (False, view.error)


def disks_section(context: FactsContext) -> list[dict[str, Any]]:
    refused = _refused_by_dotnet(context)
    disks = [_boot_disk(context, refused)]
    shared_online = context.is_cluster_node
    for number, (lun, view) in enumerate(visible_luns(context), start=1):
        readable, error = (False, dotnet.DEVICE_PATH_REFUSED) if refused else _read_test(view, context.probe_timeout)
        online = shared_online and any(csv.lun == lun.id for csv in context.model.cluster_of(context.host.name).csvs)
        disks.append(
            {
                "number": number,
                "friendly_name": lun.product,
                "serial_number": lun.serial,
                "unique_id": lun.unique_id,
                "unique_id_format": "FCPH Name",
                "bus_type": lun.bus,
                "size": lun.size,
                "operational_status": "Online" if online else "Offline",
                "is_offline": not online,  # SAN policy keeps shared disks offline outside the cluster
                "is_read_only": False,
                "readable": readable,
                "read_error": error,
            }
        )
    return disks


def dedup_section(context: FactsContext) -> list[dict[str, Any]]:
    if not features.is_installed(context.state, "FS-Data-Deduplication"):  # no Get-DedupVolume cmdlet
        return []
    return [dict(volume) for volume in context.state["dedup_volumes"]]


def smb_section(context: FactsContext) -> dict[str, Any] | None:
    shares = []
    for share in context.host.shares:
        entry: dict[str, Any] = {
            "name": share.name,
            "path": share.path,
            "scope_name": share.scope_name,
            "continuously_available": share.continuously_available,
            "share_sddl": share.share_sddl,
            "path_sddl": None,
        }
        if context.files.local_path(share.path).exists():
            entry["path_sddl"] = share.path_sddl
        else:
            entry["error"] = {
                "message": f"Cannot find path '{share.path}' because it does not exist.",
                "category": "ObjectNotFound",
                "exception": "System.Management.Automation.ItemNotFoundException",
            }
        shares.append(entry)
    return {"shares": shares} if shares else None


def disk_format(context: FactsContext, path: str) -> str:
    """The extension's format, else what Get-VHD reads from the file, else Unknown."""
    name = path.rsplit("\\", 1)[-1]
    extension = "." + name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if extension in _FORMATS:
        return _FORMATS[extension]
    try:
        local = local_path(context.model, context.lab_state, context.host.name, path)
    except HostPathError:
        return "Unknown"
    return vhd_format(local, path) or "Unknown"


def vms_section(context: FactsContext) -> list[dict[str, Any]]:
    role = features.is_installed(context.state, "Hyper-V")
    if not role and guards_role("vms"):  # no vmms: no VMs, whatever tools are installed
        return []
    context.require_module("Hyper-V")
    if not role:  # the module without the role: Get-VM fails
        raise without_role("vms")
    vms = []
    for vm in host_vms(context.model, context.state, context.host.name):
        scsi = vm.generation >= 2
        disks = [
            {
                "path": live_disk(context.state, vm, disk),  # Get-VMHardDiskDrive: the newest checkpoint layer
                "format": disk_format(context, live_disk(context.state, vm, disk)),
                "controller_type": "SCSI" if scsi else "IDE",
                "controller_number": 0 if scsi else index // 2,
                "controller_location": index if scsi else index % 2,
            }
            for index, disk in enumerate(vm.disks)
        ]
        for index, number in enumerate(vm.passthrough, start=len(vm.disks)):  # Get-VHD opens no such path: Unknown
            where = (
                {"controller_number": 0, "controller_location": index}
                if scsi
                else {"controller_number": index // 2, "controller_location": index % 2}
            )
            disks.append(
                {
                    "path": passthrough_path(number),
                    "format": "Unknown",
                    "controller_type": "SCSI" if scsi else "IDE",
                    **where,
                }
            )
        vms.append({"name": vm.name, "id": vm.id, "state": vm.state, "disks": disks})
    return vms
