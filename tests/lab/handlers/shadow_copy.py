"""Handlers of `shadow_copy_{create,import,read,release}.ps1`: transportable shadow copies (DiskShadow).

A shadow copy is a point-in-time, read-only view of one volume. The lab takes it as a tree of hard
links to the volume's files in `DIR/shared/shadows/<set>/<VolN>/` when the set is created; the lab's
writers of VM files break the link before they write (`lab.windows.vmdisk`), so later changes do not reach
it. The source host keeps the set's metadata file (`<MetadataDir>\\<set>.cab`, `MSCF` + a JSON description) and, like a
transportable set on Windows, lists no shadow copy itself. The proxy imports the set from that
metadata (it needs a VSS hardware provider and a readable view of each CSV's LUN) and exposes
each shadow copy at a folder, which becomes a link to the copy. Release unexposes, deletes the
proxy's shadow copies (and the copy once no host holds it), then removes files and folders
(`shadow_copy_release.py`, registered here).

A transportable set needs a hardware provider for each volume: the lab's CSVs are LUNs of the estate, its drives
(`C:\\`, `D:\\`) disks of the host itself, which no provider serves in that context, so `add volume` fails as Windows
fails it (VSS_E_VOLUME_NOT_SUPPORTED, IVssBackupComponents::AddToSnapshotSet); with `SkipUnsupported` the set is
taken of the other volumes and those are named in `Unsupported`, with the script's words.

A set of SMB3 shares (`Transportable: false`, VSS for SMB File Shares) is taken the same way from
the share's folder on the file server, and the file server exposes each copy as the shadow copy
share `\\\\server\\share@{shadow id}` (`lab.windows.storage`). The Hyper-V host records those copies in
its state and in `<MetadataDir>\\<set>.shares.json`, as the create script does; release deletes
the copy, so the shadow copy share is gone.
"""

from __future__ import annotations

import base64
import fnmatch
import json
import os
import uuid
from functools import partial
from pathlib import Path
from typing import Any

from lab.handlers import HandlerRegistry, ScriptCall, ScriptFailure
from lab.handlers.shadow_copy_creation import one_creation_at_a_time
from lab.handlers.shadow_copy_release import shadow_copy_release
from lab.handlers.shadow_copy_volumes import (
    Volume,
    empty_mount_folder,
    find_volume,
    host_volumes,
    missing_only,
    readable_lun,
    same_folder,
    shadow_root,
    share_volume,
    vm_files,
)
from lab.windows import diskshadow
from lab.windows.hostfs import HostPathError
from lab.windows.hoststate import HostState, count, service_entry
from lab.windows.placement import host_vms
from lab.windows.storage import shadow_share_directory
from lab.windows.vmdisk import POINT_IN_TIME

HYPERV_WRITER = "{66841cd4-6ded-4f4b-8f17-fd23f8ddc3de}"
_CAB_MAGIC = b"MSCF\0\0\0\0"


def _diskshadow_failed(what: str, message: str) -> ScriptFailure:
    return ScriptFailure(f"diskshadow exited with 1{' while ' + what if what else ''}: {message}")


def _link_tree(source: Path, target: Path, excluded: tuple[str, ...]) -> None:
    """`target` as a tree of hard links to `source`'s files (directories made, symbolic links copied)."""
    target.mkdir(parents=True)
    for entry in os.scandir(source):
        if any(fnmatch.fnmatch(entry.name, pattern) for pattern in excluded):
            continue
        made = target / entry.name
        if entry.is_symlink():
            made.symlink_to(os.readlink(entry.path))
        elif entry.is_dir():
            _link_tree(Path(entry.path), made, excluded)
        else:
            os.link(entry.path, made)
        if not made.is_symlink():
            made.chmod(0o555 if made.is_dir() else 0o444)  # read-only, as a shadow copy is


def _copy_volume(volume: Volume, target: Path) -> None:
    """The point-in-time view: a hard link to every file of the volume, so it costs the same whatever the data
    size. A link shares the file, so every lab writer of VM files gives the file an inode of its own before it
    writes (`lab.windows.vmdisk.break_link`); the shadow copy keeps the old one, as it was."""
    with POINT_IN_TIME:
        _link_tree(volume.root, target, volume.excluded)
    target.chmod(0o555)


def _find(call: ScriptCall, path: str, transportable: bool) -> tuple[Volume | None, tuple[str, str] | None]:
    """The volume behind a `Volumes` entry and, for a share, (server, share name)."""
    if transportable:
        return find_volume(call, path), None
    found = share_volume(call, path)
    return (found[2], found[:2]) if found else (None, None)


def _share_record(call: ScriptCall, set_id: str, share: tuple[str, str], shadow: dict[str, Any]) -> dict[str, Any]:
    """Expose the copy as the server's shadow copy share; the Hyper-V host's record of it."""
    exposure = shadow_share_directory(call.state_dir.parents[2], share[0], share[1], shadow["ShadowId"])
    exposure.parent.mkdir(parents=True, exist_ok=True)
    exposure.symlink_to(shadow_root(call) / set_id.strip("{}") / shadow["Alias"], target_is_directory=True)
    return {
        "ID": shadow["ShadowId"].upper(),
        "SetID": set_id.upper(),
        "VolumeName": shadow["Volume"],
        "OriginatingMachine": call.estate.model.host(call.host.name).computer_name,
        "Imported": False,
        "Transportable": False,
        "ExposedName": None,
        "ShadowCopyShare": shadow["ShadowCopyShare"],
        "Alias": shadow["Alias"],
        "Exposure": str(exposure),
    }


def _read_report(call: ScriptCall, set_id: str, shadows: list[dict[str, Any]]) -> None:
    """The script reads the ids from what DiskShadow printed: in the host's display language (the set stays made)."""
    host = call.estate.model.host(call.host.name)
    failure = diskshadow.report_unread(call.name, host.display_language, set_id, shadows, host.computer_name)
    if failure:
        raise ScriptFailure(failure)


def _take_copies(
    call: ScriptCall, found: list[tuple[dict[str, Any], Volume, tuple[str, str] | None]]
) -> tuple[str, list[dict[str, Any]], list[dict[str, Any]]]:
    """The set's id, its shadow copies (one per volume, in the order asked) and the records of those on shares."""
    set_id = "{" + str(uuid.uuid4()) + "}"
    shadows, records = [], []
    for entry, volume, share in found:
        shadow_id = "{" + str(uuid.uuid4()) + "}"
        _copy_volume(volume, shadow_root(call) / set_id.strip("{}") / str(entry["Alias"]))
        copy_share = f"{str(entry['Path']).rstrip(chr(92))}@{shadow_id}" if share else None
        shadow = {"ShadowId": shadow_id, "Alias": str(entry["Alias"]), "Volume": str(entry["Path"])}
        shadows.append({**shadow, "ShadowCopyShare": copy_share})
        if share:
            records.append(_share_record(call, set_id, share, shadows[-1]))
    return set_id, shadows, records


def shadow_copy_create(call: ScriptCall) -> dict[str, Any]:
    # Bound already (lab.handlers.binding): Volumes a non-empty list, MetadataDir a non-empty string.
    volumes, metadata_dir = list(call.params["Volumes"]), str(call.params["MetadataDir"])
    transportable = call.params["Transportable"]  # bound: the script's default ($true) when left out
    state = HostState(call.state_dir).read()
    if service_entry(state, "vmms") is None:
        raise _diskshadow_failed("", f"Writer verification failed for {HYPERV_WRITER}")
    if transportable and not any(provider["Type"] == 3 for provider in state["providers"]):
        raise _diskshadow_failed("", "The shadow copy provider does not support transportable shadow copies.")
    found = [(entry, *_find(call, str(entry.get("Path")), transportable)) for entry in volumes]
    missing = [str(entry.get("Path")) for entry, volume, _share in found if volume is None]
    if missing:
        raise _diskshadow_failed("", f"The volume {missing[0]} is not a valid volume for a shadow copy.")
    unsupported = [str(entry["Path"]) for entry, volume, _share in found if transportable and volume.lun is None]
    found = _without_unsupported(found, unsupported, bool(call.params.get("SkipUnsupported")))
    with one_creation_at_a_time(call):  # VSS: StartSnapshotSet .. DoSnapshotSet, one set at a time per host
        set_id, shadows, records = _take_copies(call, found)
    description = {
        "set": set_id,
        "origin": call.host.name,
        "shadows": [{**s, "DeviceID": v.device_id, "Lun": v.lun} for s, (_e, v, _s) in zip(shadows, found)],
    }
    metadata = _CAB_MAGIC + json.dumps(description).encode()
    folder = metadata_dir.rstrip(chr(92))
    metadata_path = f"{folder}\\{set_id.strip('{}')}.cab"
    local = call.files.local_path(metadata_path)
    local.parent.mkdir(parents=True, exist_ok=True)
    local.write_bytes(metadata)
    with HostState(call.state_dir).edit() as edited:
        edited["shadow_copies"].update({r["ID"].lower(): r for r in records})
        count(call.state_dir, "snapshot_sets")  # lab stats
    if records:
        record_file = call.files.local_path(f"{folder}\\{set_id.strip('{}')}.shares.json")
        record_file.write_text(json.dumps([_public(r) for r in records]))
    _read_report(call, set_id, shadows)
    return {
        "SnapshotSetId": set_id,
        "Shadows": shadows,
        "MetadataPath": metadata_path,
        "Metadata": base64.b64encode(metadata).decode(),
        "Unsupported": [
            {"Volume": path, "Alias": alias, "Message": _unsupported_message([path])}
            for path, alias in ((str(e["Path"]), str(e["Alias"])) for e in volumes)
            if path in unsupported
        ],
    }


_NOT_SUPPORTED = "- Returned HRESULT: 8004230c - Error text: VSS_E_VOLUME_NOT_SUPPORTED"


def _unsupported_message(paths: list[str]) -> str:
    """The create script's words for volumes no provider supports in a transportable set (DiskShadow's last lines)."""
    return (
        f"no VSS provider of this host can put {', '.join(paths)} in a transportable shadow copy set "
        "(VSS_E_VOLUME_NOT_SUPPORTED): an off-host proxy imports hardware snapshots of SAN LUNs it is presented, so a "
        "VM whose files are on a disk of the host itself cannot be backed up off-host. Move its files (configuration, "
        "checkpoints, disks) to a Cluster Shared Volume or an SMB3 share the proxy reads (Move-VMStorage), or back it "
        f"up on the host. diskshadow exited with 1 while creating the shadow copy set: {_NOT_SUPPORTED}"
    )


def _without_unsupported(found: list, unsupported: list[str], skip: bool) -> list:
    """The volumes the set is taken of, as the create script leaves them: it fails at the first unsupported volume
    DiskShadow is asked to add, unless -SkipUnsupported, where it fails only when none is left."""
    if unsupported and (not skip or len(unsupported) == len(found)):
        raise ScriptFailure(_unsupported_message(unsupported if skip else unsupported[:1]))
    return [item for item in found if str(item[0]["Path"]) not in unsupported]


def _description(metadata: str, set_id: str) -> dict[str, Any]:
    try:
        raw = base64.b64decode(metadata, validate=True)
        description = json.loads(raw[len(_CAB_MAGIC) :]) if raw.startswith(_CAB_MAGIC) else None
    except ValueError:
        description = None
    if not description or description.get("set", "").lower() != set_id.lower():
        raise _diskshadow_failed(f"importing set {set_id}", "The metadata file is not a backup components document.")
    return description


def _import(call: ScriptCall, state: dict[str, Any], description: dict[str, Any], set_id: str) -> None:
    if not any(provider["Type"] == 3 for provider in state["providers"]):
        raise diskshadow.CommandFailed("no hardware provider can import this shadow copy set")
    for shadow in description["shadows"]:
        if not shadow.get("Lun") or not readable_lun(call, shadow["Lun"]):
            raise diskshadow.CommandFailed(f"the LUN of {shadow['Volume']} is not visible or not readable on this host")
    origin = call.estate.model.host(description["origin"])
    domain = call.estate.model.domain(origin.domain)
    for shadow in description["shadows"]:
        state["shadow_copies"][shadow["ShadowId"].lower()] = {
            "ID": shadow["ShadowId"].upper(),
            "SetID": set_id.upper(),
            "VolumeName": shadow["DeviceID"],
            "OriginatingMachine": f"{origin.computer_name.lower()}.{domain.dns}" if domain else origin.computer_name,
            "Imported": True,
            "Transportable": True,
            "ExposedName": None,
            "Alias": shadow["Alias"],
        }


def _expose(call: ScriptCall, state: dict[str, Any], set_id: str, item: dict[str, Any]) -> None:
    shadow = state["shadow_copies"].get(str(item.get("ShadowId", "")).lower())
    if shadow is None:
        raise diskshadow.not_found(str(item.get("ShadowId")))
    folder = call.files.local_path(str(item["Path"]))
    folder.rmdir()
    folder.symlink_to(shadow_root(call) / set_id.strip("{}").lower() / shadow["Alias"], target_is_directory=True)
    shadow["ExposedName"] = str(item["Path"]).rstrip("\\") + "\\"


def _check_listed(call: ScriptCall, set_id: str, expose: list[dict[str, Any]]) -> None:
    """The script's `Assert-Imported` after DiskShadow: Win32_ShadowCopy lists the set and each copy of -Expose
    exposed at its folder, ids and folders compared case-blind. Applied only while the script calls it."""
    if not diskshadow.script_checks_after(call.name, "Assert-Imported"):
        return
    shadows = HostState(call.state_dir).read()["shadow_copies"]
    listed = {key: s for key, s in shadows.items() if s["SetID"].lower() == set_id.lower()}
    if not listed:
        raise ScriptFailure(f"diskshadow reported success but Win32_ShadowCopy lists no shadow copy of set {set_id}")
    for item in expose:
        shadow = listed.get(str(item["ShadowId"]).lower())
        if shadow is None:
            raise ScriptFailure(f"diskshadow reported success but Win32_ShadowCopy does not list {item['ShadowId']}")
        if not same_folder(shadow["ExposedName"], str(item["Path"])):
            exposed = str(shadow["ExposedName"] or "").rstrip("\\")
            raise ScriptFailure(
                f"diskshadow reported success but {item['ShadowId']} is not exposed at {item['Path']} "
                f"(Win32_ShadowCopy: '{exposed}')"
            )


def shadow_copy_import(call: ScriptCall) -> dict[str, Any]:
    set_id, do_import = call.params["SnapshotSetId"], call.params["Import"]
    expose, plan_only = list(call.params["Expose"]), call.params["PlanOnly"]
    if call.params["Missing"] or plan_only:
        do_import, expose = missing_only(HostState(call.state_dir).read()["shadow_copies"], set_id, expose)
        if plan_only or not (do_import or expose):
            return {"imported": do_import, "exposed": _exposed(expose)}
    description = _description(call.params["Metadata"], set_id)
    for item in expose:
        empty_mount_folder(call, item)
    with HostState(call.state_dir).edit() as state:
        commands = [("import", partial(_import, call, state, description, set_id))] if do_import else []
        commands += [(f"expose {i.get('ShadowId')}", partial(_expose, call, state, set_id, i)) for i in expose]
        failure = diskshadow.run(commands, call.estate.model.host(call.host.name).diskshadow_no_op)
        count(call.state_dir, "imports", 1 if do_import and not failure else 0)  # lab stats
    if failure:  # after the state is saved: what ran before the failing command stays done
        raise _diskshadow_failed(f"importing set {set_id}", failure)
    _check_listed(call, set_id, expose)
    return {"imported": bool(do_import), "exposed": _exposed(expose)}


def _exposed(expose: list[dict[str, Any]]) -> list[dict[str, str]]:
    return [{"ShadowId": str(item["ShadowId"]), "Path": str(item["Path"])} for item in expose]


def _path_state(call: ScriptCall, windows_path: str) -> dict[str, Any]:
    try:
        exists = call.files.local_path(windows_path).exists()
    except HostPathError:
        exists = False
    return {"Path": windows_path, "Exists": exists}


def _public(shadow: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in shadow.items() if key not in ("Alias", "Exposure")}


def shadow_copy_read(call: ScriptCall) -> dict[str, Any]:
    params = call.params
    reply: dict[str, Any] = {"vms": None, "volumes": None, "shadows": [], "metadata_files": [], "mount_dirs": []}
    if params.get("Vms"):
        wanted = {str(name).lower() for name in params["Vms"]}
        reply["vms"] = []
        running = host_vms(call.estate.model, HostState(call.state_dir).read(), call.host.name)
        for vm in (vm for vm in running if vm.name.lower() in wanted):
            files, unreadable = vm_files(call, vm)
            reply["vms"].append({"Name": vm.name, "Files": files, "Unreadable": unreadable})
        reply["volumes"] = [{"DeviceID": v.device_id, "MountPoints": list(v.mount_points)} for v in host_volumes(call)]
        return reply
    shadows = HostState(call.state_dir).read()["shadow_copies"].values()
    set_id = str(params.get("SnapshotSetId") or "")
    if params.get("ShadowId"):
        reply["shadows"] = [_public(s) for s in shadows if s["ID"].lower() == str(params["ShadowId"]).lower()]
        set_id = reply["shadows"][0]["SetID"] if reply["shadows"] else ""
    elif set_id:
        reply["shadows"] = [_public(s) for s in shadows if s["SetID"].lower() == set_id.lower()]
    if set_id:
        folder = set_id.strip("{}").lower()
        reply["metadata_files"] = [_path_state(call, f"{str(params['MetadataDir']).rstrip(chr(92))}\\{folder}.cab")]
        reply["mount_dirs"] = [_path_state(call, f"{str(params['ExposeRoot']).rstrip(chr(92))}\\{folder}")]
        record = _path_state(call, f"{str(params['MetadataDir']).rstrip(chr(92))}\\{folder}.shares.json")
        reply["metadata_files"] += [record] if record["Exists"] else []
    reply["shadows"] = [{"ShadowCopyShare": None, **shadow} for shadow in reply["shadows"]]
    return reply


def register(registry: HandlerRegistry) -> None:
    registry.add("shadow_copy_create", shadow_copy_create)
    registry.add("shadow_copy_import", shadow_copy_import)
    registry.add("shadow_copy_read", shadow_copy_read)
    registry.add("shadow_copy_release", shadow_copy_release)
