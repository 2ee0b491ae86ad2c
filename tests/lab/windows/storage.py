"""Where a Windows path of the estate lives on disk: a host's own drives, a CSV, or an SMB3 share.

A host's drives are its tree `hosts/<name>/fs/`. A Cluster Shared Volume is one directory
`shared/csv/<cluster>/<VolumeN>` of the lab's state, linked into every node's tree at the CSV's
path (`C:\\ClusterStorage\\Volume1`), so all nodes see the same files. A UNC path
`\\\\server\\share\\rest` is the share's folder on the server's tree. A shadow copy share
`\\\\server\\share@{shadow id}` (VSS for SMB File Shares) is the server's read-only copy of the share,
`shared/shadow_shares/<server>/<share>@{id}`, while the shadow copy exists.
"""

from __future__ import annotations

import re
from pathlib import Path

from lab.estate.hosts import Share, WindowsHost
from lab.estate.model import Cluster, Csv, WindowsEstate
from lab.windows.hostfs import HostFileSystem, HostPathError, stored_path

_UNC = re.compile(r"^\\\\(?P<server>[^\\]+)\\(?P<share>[^\\]+)(?:\\(?P<rest>.*))?$", re.DOTALL)
_SHADOW_SHARE = re.compile(r"^(?P<share>[^@]+)@(?P<id>\{[0-9a-fA-F-]{36}\})$")


def host_files(lab_state: Path, host: str) -> HostFileSystem:
    return HostFileSystem(lab_state / "hosts" / host / "fs")


def csv_directory(lab_state: Path, cluster: Cluster, csv: Csv) -> Path:
    return lab_state / "shared" / "csv" / cluster.name / csv.path.rsplit("\\", 1)[-1]


def local_path(model: WindowsEstate, lab_state: Path, host: str, windows_path: str) -> Path:
    """The file behind `windows_path` as `host` sees it; raises HostPathError when nothing maps it."""
    match = _UNC.match(windows_path)
    if not match:
        return host_files(lab_state, host).local_path(windows_path)
    server = model.find_host(match["server"])
    shadow = _SHADOW_SHARE.match(match["share"])
    name = shadow["share"] if shadow else match["share"]
    share = next((s for s in server.shares if s.name.lower() == name.lower()), None) if server else None
    if server is None or share is None:
        raise HostPathError(f"The network path {windows_path} was not found.")
    if shadow:
        root = shadow_share_directory(lab_state, server.name, share.name, shadow["id"])
        if not root.is_dir():
            raise HostPathError(f"The network path {windows_path} was not found.")
        mapped = HostFileSystem(root).local_path(f"C:\\{match['rest'] or ''}")  # its checks ('..') apply
        return stored_path(root, mapped.relative_to(root / "C").parts)  # case-blind below the share, as on the server
    return host_files(lab_state, server.name).local_path(f"{share.path}\\{match['rest'] or ''}")


def share_of(model: WindowsEstate, windows_path: str) -> tuple[WindowsHost, Share] | None:
    """The estate's server and share a UNC path `\\\\server\\share\\...` names (not a shadow copy share)."""
    match = _UNC.match(windows_path)
    server = model.find_host(match["server"]) if match else None
    share = next((s for s in server.shares if s.name.lower() == match["share"].lower()), None) if server else None
    return (server, share) if server and share else None


def shadow_share_directory(lab_state: Path, server: str, share: str, shadow_id: str) -> Path:
    """Where the server's shadow copy share `share@{id}` is (a link to the copy while it exists)."""
    return lab_state / "shared" / "shadow_shares" / server.lower() / f"{share.lower()}@{shadow_id.lower()}"


def link_csvs(model: WindowsEstate, lab_state: Path, host: str) -> None:
    """Make the CSVs of `host`'s cluster appear under its C:\\ClusterStorage (idempotent)."""
    cluster = model.cluster_of(host)
    for csv in cluster.csvs if cluster else ():
        shared = csv_directory(lab_state, cluster, csv)
        shared.mkdir(parents=True, exist_ok=True)
        mount = host_files(lab_state, host).local_path(csv.path)
        if not mount.is_symlink():
            mount.parent.mkdir(parents=True, exist_ok=True)
            mount.symlink_to(shared, target_is_directory=True)


def vhd_format(path: Path, windows_path: str) -> str | None:
    """What `(Get-VHD -Path p).VhdFormat` says: VHDX, VHDSet or VHD from the file's signature; None when unreadable."""
    try:
        with open(path, "rb") as stream:
            head = stream.read(8)
            stream.seek(max(path.stat().st_size - 512, 0))
            footer = stream.read(8)
    except OSError:
        return None
    if head == b"vhdxfile":
        return "VHDSet" if windows_path.lower().endswith(".vhds") else "VHDX"
    return "VHD" if footer == b"conectix" else None
