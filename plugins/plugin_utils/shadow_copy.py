"""Pure decisions of ``backup.hyperv.shadow_copy``: which volumes to shadow, where files appear, what to release.

Words (VSS, https://learn.microsoft.com/windows/win32/vss/transportable-shadow-copies):

* a *shadow copy* is a point-in-time copy of one volume, named by its *shadow id*; the copies
  taken together form a *snapshot set* (its *set id*);
* *transportable*: the source host creates the set with a hardware provider and exports its
  Backup Components Document as a metadata ``.cab``; another host (the proxy) loads that file,
  *imports* the set and *exposes* each shadow copy as a folder (a mount point);
* an *alias* is DiskShadow's name for one shadow copy in its scripts (``Vol1``, ``Vol2``, ... in
  the order the volumes were added); the proxy exposes alias ``VolN`` of set ``S`` at
  ``<expose_root>\\<S>\\VolN``, so the source side can say where every VM file will appear.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ansible_collections.backup.hyperv.plugins.module_utils.datamover.shadow_copy_options import (
    DEFAULT_ROOT,
    shadow_copies_spec,
)
from ansible_collections.backup.hyperv.plugins.plugin_utils.checks.vhd_set_rule import is_vhd_set_file
from ansible_collections.backup.hyperv.plugins.plugin_utils.passthrough_rule import is_passthrough, passthrough_reason
from ansible_collections.backup.hyperv.plugins.plugin_utils.shadow_copy_shares import share_root
from ansible_collections.backup.hyperv.plugins.plugin_utils.windows_path import check_windows_name, check_windows_path

GUID = re.compile(r"^\{?[0-9A-Fa-f]{8}(-[0-9A-Fa-f]{4}){3}-[0-9A-Fa-f]{12}\}?$")


class ShadowCopyError(ValueError):
    """The request cannot be served: bad input, unknown VMs, VHD Set disks (R15), files off any volume."""


def shadow_copy_argument_spec() -> dict[str, dict[str, Any]]:
    """Options of ``backup.hyperv.shadow_copy`` (without the shared probe options)."""
    return {
        "state": {"type": "str", "default": "present", "choices": ["present", "imported", "absent"]},
        "vms": {"type": "list", "elements": "str"},
        "snapshot_set_id": {"type": "str"},
        "shadow_id": {"type": "str"},
        "metadata": {"type": "str"},
        "shadow_copies": shadow_copies_spec(),
        "metadata_dir": {"type": "str", "default": DEFAULT_ROOT},
        "expose_root": {"type": "str", "default": DEFAULT_ROOT},
        "vss_wait_timeout": {"type": "int", "default": 600},  # doc_fragments/vss_creation.py
    }


SHADOW_COPY_REQUIRED_IF = [
    ("state", "present", ("vms",)),
    ("state", "imported", ("snapshot_set_id", "metadata", "shadow_copies")),
    ("state", "absent", ("snapshot_set_id", "shadow_id"), True),
]
SHADOW_COPY_MUTUALLY_EXCLUSIVE = [("vms", "shadow_id"), ("vms", "snapshot_set_id"), ("shadow_id", "snapshot_set_id")]


def check_folders(args: Mapping[str, Any]) -> None:
    """Refuse folder options Windows would refuse or change; raises WindowsPathError naming the option.

    Backslashes only: the module joins these folders with '\\' and compares them with what Windows
    reports, so a '/' would never match and every run would import again. Absolute only: a relative folder is
    taken from the WinRM session's working folder, which the data mover, given the exposed paths, does not share.
    """
    for option in ("metadata_dir", "expose_root"):
        check_windows_path(option, args[option], absolute=True, forward_slashes=False)
    for index, copy in enumerate(args.get("shadow_copies") or []):
        check_windows_name(f"shadow_copies[{index}].alias", copy["alias"])  # names the mount folder


def check_vss_wait(args: Mapping[str, Any]) -> None:
    """Refuse a negative wait for VSS before any round trip."""
    if args["vss_wait_timeout"] < 0:
        raise ShadowCopyError(
            f"vss_wait_timeout must be 0 or more seconds (got {args['vss_wait_timeout']}); 0 waits for nothing"
        )


def normal_guid(value: str, option: str) -> str:
    """``{lower-case-guid}``, as VSS prints ids; raises for anything else."""
    if not GUID.match(value.strip()):
        raise ShadowCopyError(f"{option}: {value!r} is not a GUID")
    return "{" + value.strip().strip("{}").lower() + "}"


def set_folder(expose_root: str, snapshot_set_id: str) -> str:
    """The folder under which the proxy exposes a set's shadow copies."""
    return f"{expose_root.rstrip(chr(92))}\\{snapshot_set_id.strip('{}').lower()}"


def exposed_path(expose_root: str, snapshot_set_id: str, alias: str) -> str:
    return f"{set_folder(expose_root, snapshot_set_id)}\\{alias}"


def is_vhd_set(file: Mapping[str, Any]) -> bool:
    """R15 for a file of the read script's reply (checks/vhd_set.py holds the rule)."""
    return is_vhd_set_file(file.get("Format"), file["Path"])


def check_vms(reply_vms: Sequence[Mapping[str, Any]], wanted: Sequence[str]) -> None:
    """Raise unless every wanted VM was found, none has a VHD Set disk (R15) or a pass-through disk, and each has
    files to read."""
    found = {str(vm["Name"]).casefold() for vm in reply_vms}
    missing = [name for name in wanted if name.casefold() not in found]
    if missing:
        raise ShadowCopyError(
            f"no VM named {', '.join(missing)} on this host (Get-VM): moved to another node of the cluster (a live "
            "migration), removed or renamed since it was listed; the next run backs it up where it runs"
        )
    vhd_sets = {vm["Name"]: [f["Path"] for f in vm["Files"] if is_vhd_set(f)] for vm in reply_vms}
    vhd_sets = {name: paths for name, paths in vhd_sets.items() if paths}
    if vhd_sets:
        listed = "; ".join(f"{name}: {', '.join(paths)}" for name, paths in sorted(vhd_sets.items()))
        raise ShadowCopyError(
            f"R15: VMs with VHD Set disks (.vhds) cannot be backed up off-host, nothing was created. {listed}. "
            "Exclude them from off-host jobs (back them up on-host) or convert the disks to VHDX."
        )
    passthrough = {
        vm["Name"]: [f["Path"] for f in vm["Files"] if f.get("Kind") == "disk" and is_passthrough(f["Path"])]
        for vm in reply_vms
    }
    passthrough = {name: paths for name, paths in passthrough.items() if paths}
    if passthrough:
        name, paths = sorted(passthrough.items())[0]
        raise ShadowCopyError(f"{name}: {passthrough_reason(paths)}; nothing was created")
    check_readable(reply_vms)
    empty = [str(vm["Name"]) for vm in reply_vms if not vm.get("Files") and not vm.get("Unreadable")]
    if empty:
        raise ShadowCopyError(
            f"the host lists no file of {', '.join(empty)} (no virtual hard disk, no configuration file): nothing "
            "to back up, so no shadow copy was created for it; check the VM with Get-VM and Get-VMHardDiskDrive"
        )


def check_readable(reply_vms: Sequence[Mapping[str, Any]]) -> None:
    """Raise when a file a VM needs could not be read: access denied, or a configuration file not found.

    The read script tells "not found" from "access denied" ([IO.File]::GetAttributes rather than Test-Path,
    which answers $false to both), so a file this account may not see fails the VM instead of being dropped.
    """
    unreadable = [(vm["Name"], entry) for vm in reply_vms for entry in vm.get("Unreadable") or []]
    if unreadable:
        refused = "; ".join(f"{name}: {entry['Path']} ({entry['Reason']})" for name, entry in unreadable)
        raise ShadowCopyError(
            f"files the VMs need cannot be read on their host, nothing was created: {refused}. "
            "Give the account Ansible connects with read access to them (it must read them to back them up), "
            "or restore the missing configuration files." + _second_hop(entry["Path"] for _name, entry in unreadable)
        )


def _second_hop(paths: Iterable[str]) -> str:
    """Why a file on an SMB3 share may be unreadable whatever its ACL says, and the fix: the host reads it inside
    the WinRM session, and the file server sees that session's logon without credentials it could use
    ("Making the second hop in PowerShell Remoting",
    https://learn.microsoft.com/powershell/scripting/security/remoting/ps-remoting-second-hop)."""
    shares = sorted({root for root in (share_root(path) for path in paths) if root}, key=str.casefold)
    if not shares:
        return ""
    servers = sorted({root.strip("\\").split("\\")[0] for root in shares}, key=str.casefold)
    return (
        f" Files on {', '.join(shares)} are read from inside the WinRM session on the Hyper-V host: a second hop, "
        "which the file server refuses (access denied) unless the session's credentials can be delegated. Connect "
        "to the host with CredSSP (ansible_winrm_transport: credssp, or ansible_psrp_auth: credssp), or let the "
        "host's computer account delegate to the file server (Kerberos constrained delegation to "
        f"{', '.join('cifs/' + server for server in servers)}, which remote management of Hyper-V over SMB needs "
        "too): https://learn.microsoft.com/powershell/scripting/security/remoting/ps-remoting-second-hop"
    )


def volume_of(path: str, mount_points: Sequence[str]) -> str:
    """The mount point (longest matching prefix, case-blind) of the volume holding ``path``."""
    folded = path.casefold()
    matches = [mp for mp in mount_points if folded.startswith(_with_slash(mp).casefold())]
    if not matches:
        raise ShadowCopyError(f"{path} is on no local or cluster shared volume this host lists (Win32_Volume)")
    return max(matches, key=len)


def plan_volumes(reply: Mapping[str, Any]) -> tuple[list[str], list[dict[str, Any]]]:
    """The volumes to shadow (in first-use order) and, per VM, each file with its volume and relative path.

    A file on an SMB3 share counts the share root (``\\\\server\\share\\``) as its volume. A differencing
    disk's parents (``Parents``, from Get-VHD ParentPath) are planned with it: their volumes are shadowed too, and
    a parent on another volume than its child is read there (``map_vm_files`` gives each parent's path on the
    proxy; a child's parent locator cannot lead from one volume's exposed copy to another's).
    """
    mount_points = [_with_slash(mp) for volume in reply["volumes"] for mp in volume["MountPoints"]]
    volumes: list[str] = []

    def locate(path: str) -> dict[str, Any]:
        volume = share_root(path) or volume_of(path, mount_points)
        if volume not in volumes:
            volumes.append(volume)
        return {"source": path, "volume": volume, "relative": path[len(volume) :]}

    vms = []
    for vm in reply["vms"]:
        files = []
        for file in vm["Files"]:
            planned = locate(str(file["Path"]))
            planned["parents"] = [locate(str(parent)) for parent in file.get("Parents") or []]
            files.append(planned)
        vms.append({"name": str(vm["Name"]), "files": files})
    return volumes, vms


def aliases(volumes: Sequence[str]) -> dict[str, str]:
    """DiskShadow aliases by volume: Vol1, Vol2, ... in the order the volumes are added."""
    return {volume: f"Vol{index}" for index, volume in enumerate(volumes, start=1)}


def map_vm_files(vms: Sequence[Mapping[str, Any]], bases: Mapping[str, str] | None) -> dict[str, list[dict[str, Any]]]:
    """Per VM, each source file, its volume (mount point or share root) and its path on the proxy under that
    volume's base folder (``None`` in check mode).

    A differencing disk lists its ``parents`` the same way, nearest first: the data mover reads the chain's merged
    content through them (a job entry's ``parents``); they are not stored as files of their own.
    """

    def proxy_path(file: Mapping[str, Any]) -> str | None:
        return None if bases is None else f"{bases[file['volume']]}\\{file['relative']}"

    def located(file: Mapping[str, Any]) -> dict[str, Any]:
        return {"source": file["source"], "volume": file["volume"], "path": proxy_path(file)}

    return {
        vm["name"]: [
            {**located(file), "parents": [located(parent) for parent in file.get("parents") or []]}
            for file in vm["files"]
        ]
        for vm in vms
    }


def metadata_file(metadata_dir: str, snapshot_set_id: str) -> str:
    """Where the create script keeps a set's metadata: ``<metadata_dir>\\<set>.cab``."""
    return f"{metadata_dir.rstrip(chr(92))}\\{snapshot_set_id.strip('{}').lower()}.cab"


def known_release_plan(snapshot_set_id: str, copies: Sequence[Mapping[str, Any]], args: Mapping[str, Any]) -> dict:
    """The release of a set whose copies the job named (``shadow_copies``), without a read: every place the set may
    have left something on this host, since the release script skips what Win32_ShadowCopy no longer lists and
    what is not on disk (and counts only what it did)."""
    return {
        "ExposedPaths": [exposed_path(args["expose_root"], snapshot_set_id, copy["alias"]) for copy in copies],
        "ShadowIds": [normal_guid(copy["shadow_id"], "shadow_copies.shadow_id") for copy in copies],
        "ShareShadowIds": [],
        "Files": [metadata_file(args["metadata_dir"], snapshot_set_id)],
        "Directories": [set_folder(args["expose_root"], snapshot_set_id)],
    }


def release_plan(reply: Mapping[str, Any]) -> dict[str, Any] | None:
    """What the release script must do for what the read found, or ``None`` when nothing is left."""
    shadows = list(reply.get("shadows") or [])
    files = [f["Path"] for f in reply.get("metadata_files") or [] if f.get("Exists")]
    folders = [f["Path"] for f in reply.get("mount_dirs") or [] if f.get("Exists")]
    if not (shadows or files or folders):
        return None
    return {
        "ExposedPaths": [s["ExposedName"] for s in shadows if s.get("ExposedName")],
        "ShadowIds": [s["ID"] for s in shadows if not s.get("ShadowCopyShare")],
        "ShareShadowIds": [s["ID"] for s in shadows if s.get("ShadowCopyShare")],  # on the file server
        "Files": files,
        "Directories": folders,
    }


def _with_slash(path: str) -> str:
    return path if path.endswith("\\") else path + "\\"


def exposures(
    snapshot_set_id: str, shadow_copies: Sequence[Mapping[str, Any]], expose_root: str
) -> list[dict[str, str]]:
    """Where the proxy exposes each shadow copy of the set: ``<expose_root>\\<set>\\<alias>``."""
    return [
        {
            "ShadowId": normal_guid(copy["shadow_id"], "shadow_copies.shadow_id"),
            "Alias": copy["alias"],
            "Path": exposed_path(expose_root, snapshot_set_id, copy["alias"]),
        }
        for copy in shadow_copies
    ]
