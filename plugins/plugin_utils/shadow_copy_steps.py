"""The steps of a shadow copy on the source host, shared by ``backup.hyperv.shadow_copy`` and ``group_snapshot``.

Creating is a read (shadow_copy_read.ps1: the VMs' files, the host's volumes) checked on the controller (R15,
unknown VMs, unreadable files) and planned (one set of the volumes the files are on), then
the create script (shadow_copy_create.ps1), whose reply becomes the module's result. Releasing a set whose copies
the job named is one round trip (the release script looks each place up itself); otherwise a read finds what is
left first. Each function here decides one of these; the actions only choose how the round trips are sent (one
script each, or several in one batch: ``_pwsh.run_scripts``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ansible.plugins.action import ActionBase

from ansible_collections.backup.hyperv.plugins.plugin_utils._pwsh import run_script
from ansible_collections.backup.hyperv.plugins.plugin_utils.shadow_copy import (
    ShadowCopyError,
    aliases,
    check_vms,
    exposed_path,
    exposures,
    known_release_plan,
    map_vm_files,
    normal_guid,
    plan_volumes,
    release_plan,
    set_folder,
)
from ansible_collections.backup.hyperv.plugins.plugin_utils.shadow_copy_shares import (
    MixedStorageError,
    file_bases,
    is_share,
    set_kind,
)
from ansible_collections.backup.hyperv.plugins.plugin_utils.windows_path import WindowsPathError

RELEASE_COUNTS = ("unexposed", "deleted", "removed_files", "removed_directories")  # the release script's reply


@dataclass(frozen=True)
class PresentPlan:
    """What one shadow copy set covers: its volumes (in order, with aliases), the VMs' files, its kind."""

    volumes: list[str]
    vms: list[dict[str, Any]]
    volume_aliases: dict[str, str]
    transportable: bool


def read_params(args: Mapping[str, Any], **query: Any) -> dict[str, Any]:
    """The read script's parameters: ``query`` names what to read (``Vms``, ``SnapshotSetId`` or ``ShadowId``)."""
    return {"Vms": None, "SnapshotSetId": None, "ShadowId": None, **query} | {
        "MetadataDir": args["metadata_dir"],
        "ExposeRoot": args["expose_root"],
    }


def plan_present(reply: Mapping[str, Any], wanted: Sequence[str]) -> PresentPlan:
    """The set for ``wanted`` from the read's reply (other VMs it holds are left out); raises before anything is
    created for VMs the host does not have, VHD Set disks (R15) and unreadable files."""
    folded = {name.casefold() for name in wanted}
    reply = {**reply, "vms": [vm for vm in reply["vms"] if str(vm["Name"]).casefold() in folded]}
    check_vms(reply["vms"], wanted)
    volumes, vms = plan_volumes(reply)
    # shares and local volumes never share a set
    transportable = set_kind(volumes, [str(vm["name"]) for vm in vms]) == "transportable"
    return PresentPlan(volumes, vms, aliases(volumes), transportable)


def refusals(reply: Mapping[str, Any], vms: Sequence[str]) -> dict[str, str]:
    """Per VM of ``vms`` that no set can hold, why: the refusal ``plan_present`` raises for that VM alone (a VM the
    host no longer has, moved since the plan; VHD Set disks; unreadable files; files, or a differencing chain, on
    both a share and a volume). A volume group leaves such a VM out and shadows the others (it fails alone)."""
    refused = {}
    for vm in vms:
        try:
            plan_present(reply, [vm])
        except (ShadowCopyError, MixedStorageError, WindowsPathError) as exc:
            refused[vm] = str(exc)
    return refused


def create_params(plan: PresentPlan, args: Mapping[str, Any], skip_unsupported: bool = False) -> dict[str, Any]:
    """The create script's parameters; ``skip_unsupported``: a volume no VSS provider of the host supports in the
    set's context is left out of the set and named in the reply's ``Unsupported`` (``unsupported_refusals``), where
    otherwise the script fails naming it."""
    volume_params = [{"Path": volume, "Alias": plan.volume_aliases[volume]} for volume in plan.volumes]
    return {
        "Volumes": volume_params,
        "MetadataDir": args["metadata_dir"],
        "Transportable": plan.transportable,
        "InProgressTimeoutSeconds": args["vss_wait_timeout"],
        "SkipUnsupported": skip_unsupported,
    }


def unsupported_refusals(plan: PresentPlan, created: Mapping[str, Any]) -> tuple[PresentPlan, dict[str, str]]:
    """The plan of the set the create script took once it left out the volumes its reply names in ``Unsupported``,
    and per VM with a file (or a differencing parent) on one of them, the script's reason: such a VM fails alone,
    the others of the set are read from it."""
    left_out = {str(entry["Volume"]).casefold(): str(entry["Message"]) for entry in created.get("Unsupported") or []}
    if not left_out:
        return plan, {}
    refused = {}
    for vm in plan.vms:
        volumes = [f["volume"] for file in vm["files"] for f in (file, *(file.get("parents") or []))]
        hit = next((volume for volume in volumes if volume.casefold() in left_out), None)
        if hit is not None:
            refused[str(vm["name"])] = left_out[hit.casefold()]
    kept = [volume for volume in plan.volumes if volume.casefold() not in left_out]
    vms = [vm for vm in plan.vms if vm["name"] not in refused]
    return PresentPlan(kept, vms, {v: plan.volume_aliases[v] for v in kept}, plan.transportable), refused


def planned_result(plan: PresentPlan, args: Mapping[str, Any]) -> dict[str, Any]:
    """Check mode's result of ``state: present``: what would be shadowed; ids and proxy paths are ``None``."""
    planned = [{"shadow_id": None, "alias": plan.volume_aliases[v], "volume": v} for v in plan.volumes]
    return _present_result(None, planned, map_vm_files(plan.vms, None), args, plan.transportable)


def created_result(plan: PresentPlan, created: Mapping[str, Any], args: Mapping[str, Any]) -> dict[str, Any]:
    """The result of ``state: present`` from the create script's reply: the set, its copies, each VM's files."""
    set_id = normal_guid(str(created["SnapshotSetId"]), "SnapshotSetId")
    copies = [_created_copy(s) for s in created["Shadows"]]
    _locate_copies(copies, set_id, args["expose_root"])
    bases = file_bases(plan.volume_aliases, _shares(copies), {c["alias"]: c["exposed_path"] for c in copies})
    result = _present_result(set_id, copies, map_vm_files(plan.vms, bases), args, plan.transportable)
    result.update(metadata=created["Metadata"], metadata_path=created["MetadataPath"])
    return result


def import_set(action: ActionBase, args: Mapping[str, Any], plan_only: bool) -> dict[str, Any]:
    """Import a transportable set on the proxy and expose its copies under ``expose_root``: one round trip (the
    script asks Win32_ShadowCopy what is missing and imports and exposes only that, ``-Missing``; ``plan_only``: it
    only says what it would do). ``args``: ``snapshot_set_id``, ``metadata``, ``shadow_copies``, ``expose_root``.
    The result of ``shadow_copy state=imported``."""
    set_id = normal_guid(args["snapshot_set_id"], "snapshot_set_id")
    wanted = exposures(set_id, args["shadow_copies"], args["expose_root"])
    params = {"SnapshotSetId": set_id, "Metadata": args["metadata"], "Expose": wanted, "Missing": True}
    done = run_script(action, "shadow_copy_import", {**params, "PlanOnly": plan_only})
    return {
        "changed": bool(done["imported"]) or bool(done["exposed"]),
        "snapshot_set_id": set_id,
        "exposed_path": set_folder(args["expose_root"], set_id),
        "shadow_copies": [{"shadow_id": w["ShadowId"], "alias": w["Alias"], "exposed_path": w["Path"]} for w in wanted],
    }


def release_known_set(action: ActionBase, args: Mapping[str, Any]) -> dict[str, Any]:
    """Release a set whose copies the job named, in one round trip (the release script looks each place up itself
    and skips what is gone); ``args``: ``snapshot_set_id``, ``shadow_copies``, ``expose_root``, ``metadata_dir``.
    The result of ``shadow_copy state=absent``: ``changed`` is what the script says it did."""
    set_id = normal_guid(args["snapshot_set_id"], "snapshot_set_id")
    plan = known_release_plan(set_id, args["shadow_copies"], args)
    return known_release_result(set_id, plan, run_script(action, "shadow_copy_release", plan))


def released_by_known_copies(by_set: bool, copies: Sequence[Mapping[str, Any]], check_mode: bool) -> bool:
    """Whether the release needs no read: a set whose copies the job named, none on a share (a share's copy is
    released on its file server, which only a read names), and not check mode (which reports what a read finds)."""
    return by_set and bool(copies) and not check_mode and not any(is_share(str(c["volume"])) for c in copies)


def known_release_result(set_id: str, plan: Mapping[str, Any], done: Mapping[str, Any]) -> dict[str, Any]:
    """The result of a release without a read: ``changed`` is what the release script says it did."""
    changed = any(int(done.get(count) or 0) for count in RELEASE_COUNTS)
    return {"changed": changed, "released": dict(plan) if changed else {}, "snapshot_set_id": set_id}


def release_after_read(action: ActionBase, args: Mapping[str, Any], by_set: bool, ident: str) -> dict[str, Any]:
    """Release what a read finds of a set (``by_set``) or one copy: a round trip to read, one more to release
    (none in check mode, which reports the plan); nothing found is no change."""
    plan = release_plan(run_script(action, "shadow_copy_read", read_params(args, **{_query(by_set): ident})))
    result: dict[str, Any] = {"changed": plan is not None, "released": plan or {}}
    result["snapshot_set_id" if by_set else "shadow_id"] = ident
    if plan is not None and not action._task.check_mode:
        run_script(action, "shadow_copy_release", plan)
    return result


def _query(by_set: bool) -> str:
    return "SnapshotSetId" if by_set else "ShadowId"


def _created_copy(shadow: Mapping[str, Any]) -> dict[str, Any]:
    """One shadow copy of the create script's reply; a share's copy keeps its shadow copy share."""
    copy = {"shadow_id": normal_guid(str(shadow["ShadowId"]), "ShadowId"), "alias": shadow["Alias"]}
    copy["volume"] = shadow["Volume"]
    if is_share(str(shadow["Volume"])):
        if not shadow.get("ShadowCopyShare"):
            raise ShadowCopyError(f"the create script named no shadow copy share for {shadow['Volume']}")
        copy["exposed_path"] = str(shadow["ShadowCopyShare"])
    return copy


def _locate_copies(copies: list[dict[str, Any]], set_id: str | None, expose_root: str) -> None:
    """Where the proxy reads each copy: its shadow copy share, else its folder under ``expose_root``."""
    for copy in copies:
        if "exposed_path" not in copy:
            copy["exposed_path"] = None if set_id is None else exposed_path(expose_root, set_id, copy["alias"])


def _shares(copies: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    return {copy["volume"]: copy["exposed_path"] for copy in copies if is_share(str(copy["volume"]))}


def _present_result(
    set_id: str | None,
    copies: list[dict[str, Any]],
    vm_files: dict[str, list[dict[str, Any]]],
    args: Mapping[str, Any],
    transportable: bool,
) -> dict[str, Any]:
    """The result of ``state: present``; ids and proxy paths are ``None`` in check mode."""
    _locate_copies(copies, set_id, args["expose_root"])
    return {
        "changed": True,
        "snapshot_set_id": set_id,
        "shadow_id": copies[0]["shadow_id"] if copies else None,
        "shadow_copies": copies,
        "exposed_path": None if set_id is None or not transportable else set_folder(args["expose_root"], set_id),
        "import_required": transportable,
        "shadow_copy_shares": _shares(copies),
        "vm_files": vm_files,
    }
