"""The volumes a host has (Win32_Volume) and the VM files on them, for the shadow copy handlers.

A host has its local drives (`C:\\`, and `D:\\` etc. where its tree has one) and, on a cluster
node, each CSV mounted at `C:\\ClusterStorage\\VolumeN\\`. A CSV volume is backed by its LUN (so
it can be transported to a proxy that reads that LUN); local drives are not on the SAN. An SMB3
share `\\\\server\\share\\` of a server in the estate is a volume too, for VSS for SMB File Shares: its
copy is taken on the server (the share's folder) and exposed there as a shadow copy share.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lab.estate.vms import Vm, passthrough_path
from lab.handlers import ScriptCall, ScriptFailure
from lab.windows.hostfs import HostPathError
from lab.windows.hoststate import HostState
from lab.windows.rct import live_chain
from lab.windows.storage import csv_directory, local_path, share_of, vhd_format
from lab.windows.vm_layout import configuration_files


@dataclass(frozen=True)
class Volume:
    device_id: str
    mount_points: tuple[str, ...]
    root: Path
    excluded: tuple[str, ...]  # folders of the tree that are other volumes' mount points
    lun: str | None


def _device_id(seed: str) -> str:
    return "\\\\?\\Volume{" + str(uuid.uuid5(uuid.NAMESPACE_URL, f"lab-volume:{seed}")) + "}\\"


def host_volumes(call: ScriptCall) -> list[Volume]:
    model = call.estate.model
    lab_state = call.state_dir.parents[2]
    drives = sorted(p.name for p in call.files.root.iterdir() if p.is_dir() and len(p.name) == 1)
    volumes = [
        Volume(
            _device_id(f"{call.host.name}/{drive}"),
            (f"{drive}:\\",),
            call.files.root / drive,
            ("ClusterStorage",),
            None,
        )
        for drive in drives
    ]
    cluster = model.cluster_of(call.host.name)
    for csv in cluster.csvs if cluster else ():
        device = _device_id(f"{cluster.name}/{csv.path}")
        volumes.append(Volume(device, (csv.path + "\\",), csv_directory(lab_state, cluster, csv), (), csv.lun))
    return volumes


def find_volume(call: ScriptCall, path: str) -> Volume | None:
    wanted = path.rstrip("\\").lower() + "\\"
    return next((v for v in host_volumes(call) if wanted in (m.lower() for m in v.mount_points)), None)


def share_volume(call: ScriptCall, path: str) -> tuple[str, str, Volume] | None:
    """(server, share name, volume) of a share root `\\\\server\\share\\`; None when no estate host serves it."""
    found = share_of(call.estate.model, path)
    if found is None:
        return None
    server, share = found
    root = local_path(call.estate.model, call.state_dir.parents[2], call.host.name, f"{path.rstrip(chr(92))}\\")
    device = _device_id(f"{server.name}/{share.name}")
    return server.name, share.name, Volume(device, (path.rstrip("\\") + "\\",), root, (), None)


def shadow_root(call: ScriptCall) -> Path:
    """Where the lab keeps every shadow copy's files: `DIR/shared/shadows/<set>/<alias>`."""
    return call.state_dir.parents[2] / "shared" / "shadows"


def same_folder(exposed: str | None, path: str) -> bool:
    """Whether Win32_ShadowCopy's `ExposedName` names the folder `path` (case-blind, trailing backslash or not)."""
    return bool(exposed) and str(exposed).rstrip("\\").upper() == path.rstrip("\\").upper()


def empty_mount_folder(call: ScriptCall, item: dict[str, Any]) -> None:
    """The import script's own check, before DiskShadow runs: the mount folder exists and is empty."""
    folder = call.files.local_path(str(item["Path"]))
    folder.mkdir(parents=True, exist_ok=True)
    if any(folder.iterdir()):
        raise ScriptFailure(f"mount folder {item['Path']} is not empty")


def missing_only(
    shadows: dict[str, dict[str, Any]], set_id: str, expose: list[dict[str, Any]]
) -> tuple[bool, list[dict[str, Any]]]:
    """The import script's `-Missing` look-up in Win32_ShadowCopy: import when a copy of `expose` is not listed;
    expose only the copies not exposed at their folder yet."""
    listed = {key: shadow for key, shadow in shadows.items() if shadow["SetID"].lower() == set_id.lower()}
    do_import = any(str(item["ShadowId"]).lower() not in listed for item in expose)
    exposed = {key: shadow["ExposedName"] for key, shadow in listed.items()}
    return do_import, [i for i in expose if not same_folder(exposed.get(str(i["ShadowId"]).lower()), str(i["Path"]))]


def readable_lun(call: ScriptCall, lun: str) -> bool:
    """Whether this host sees `lun` and can read it (cluster nodes read their CSVs' LUNs)."""
    model = call.estate.model
    cluster = model.cluster_of(call.host.name)
    if cluster and any(csv.lun == lun for csv in cluster.csvs):
        return True
    views = [view for view in model.host(call.host.name).luns if view.lun == lun]
    return bool(views) and views[0].readable is True


def vm_files(call: ScriptCall, vm: Vm) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    """(Files, Unreadable) as the read script lists them: each disk's newest layer with Get-VHD's format and
    parent chain, then the configuration files of the VM and its checkpoints that exist; a file the estate
    denies, or a needed configuration file that is missing, is unreadable (the script tells the two apart). On a
    host without `delegation` a file on an SMB3 share is a second hop from the WinRM session the script runs in: the
    file server sees a logon without credentials and denies it, so Get-VHD opens no such disk and
    [IO.File]::GetAttributes throws UnauthorizedAccessException for every such file, there or not
    ("Making the second hop in PowerShell Remoting",
    https://learn.microsoft.com/powershell/scripting/security/remoting/ps-remoting-second-hop)."""
    model, lab_state = call.estate.model, call.state_dir.parents[2]
    second_hop = not model.host(call.host.name).delegation
    denied = {path.lower() for path in vm.denied}

    def second_hop_denies(windows_path: str) -> bool:
        return second_hop and windows_path.startswith("\\\\")

    def local(windows_path: str) -> Path | None:
        try:
            return local_path(model, lab_state, call.host.name, windows_path)
        except HostPathError:
            return None

    files, unreadable = [], []
    state = HostState(call.state_dir).read()
    for disk in vm.disks:
        chain = live_chain(state, vm, disk)  # a recovery checkpoint's layer first
        path = chain[0]
        if second_hop_denies(path):  # Get-DiskEntry: Get-VHD cannot open it: no format, no parents
            files.append({"Path": path, "Kind": "disk", "Format": None, "Parents": []})
            continue
        found = local(path)
        files.append(
            {"Path": path, "Kind": "disk", "Format": vhd_format(found, path) if found else None, "Parents": chain[1:]}
        )
    for number in vm.passthrough:  # Get-DiskEntry: Get-VHD opens no such path, so no format and no parents
        files.append({"Path": passthrough_path(number), "Kind": "disk", "Format": None, "Parents": []})
    for file in configuration_files(vm):
        if file.path.lower() in denied or second_hop_denies(file.path):
            unreadable.append({"Path": file.path, "Reason": f"Access to the path '{file.path}' is denied."})
            continue
        found = local(file.path)
        if found is not None and found.exists():
            files.append({"Path": file.path, "Kind": "configuration", "Format": None, "Parents": []})
        elif file.needed:
            unreadable.append({"Path": file.path, "Reason": "not found"})
    return files, unreadable
