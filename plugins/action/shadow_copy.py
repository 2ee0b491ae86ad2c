"""Action plugin of ``backup.hyperv.shadow_copy``: transportable VSS shadow copies of VM volumes (DiskShadow flow).

* ``state: present`` on the source Hyper-V host: read the VMs' files and the host's volumes
  (shadow_copy_read.ps1), refuse VHD Set disks (R15) and unknown VMs before anything is created,
  then create one transportable snapshot set of the volumes holding the files and export its
  metadata (shadow_copy_create.ps1). Creating is an event, so it always reports ``changed``.
  VM files on SMB3 shares (``\\\\server\\share\\...``) are shadowed through the file server instead
  (VSS for SMB File Shares, a set that is not transportable): each share's copy is a shadow copy
  share (``\\\\server\\share@{GUID}``, named by the file server) the proxy reads directly, so
  ``import_required`` is false.
* ``state: imported`` on the proxy: load that metadata, import the set and expose each shadow copy
  under ``expose_root`` (shadow_copy_import.ps1, which first asks Win32_ShadowCopy what is already there);
  a set already imported and exposed there is one round trip and no change.
* ``state: absent`` on either side: unexpose, delete the shadow copies, remove the metadata file
  and mount folders (shadow_copy_release.ps1); nothing left is no change. With the set's ``shadow_copies``
  (what the backup job passes) it is one round trip: the release script looks each place up itself.

Check mode reads (the import script: plans) and reports what would happen; it never creates, imports or releases.
"""

from __future__ import annotations

from typing import Any

from ansible.plugins.action import ActionBase

from ansible_collections.backup.hyperv.plugins.plugin_utils._connection_retry import reports_connection_retries
from ansible_collections.backup.hyperv.plugins.plugin_utils._pwsh import ScriptError, run_script
from ansible_collections.backup.hyperv.plugins.plugin_utils.argspec import probe_argument_spec
from ansible_collections.backup.hyperv.plugins.plugin_utils.shadow_copy import (
    SHADOW_COPY_MUTUALLY_EXCLUSIVE,
    SHADOW_COPY_REQUIRED_IF,
    ShadowCopyError,
    aliases,
    check_folders,
    check_vms,
    exposed_path,
    exposures,
    known_release_plan,
    map_vm_files,
    normal_guid,
    plan_volumes,
    release_plan,
    set_folder,
    shadow_copy_argument_spec,
)
from ansible_collections.backup.hyperv.plugins.plugin_utils.shadow_copy_shares import (
    MixedStorageError,
    file_bases,
    is_share,
    set_kind,
)
from ansible_collections.backup.hyperv.plugins.plugin_utils.windows_path import WindowsPathError

SHADOW_COPY_SPEC = {**probe_argument_spec(), **shadow_copy_argument_spec()}
RELEASE_COUNTS = ("unexposed", "deleted", "removed_files", "removed_directories")  # the release script's reply


class ActionModule(ActionBase):
    """Create, import or release a transportable shadow copy on the task's Windows host."""

    _supports_check_mode = True
    _supports_async = False

    @reports_connection_retries
    def run(self, tmp: str | None = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        result = super().run(tmp, task_vars)
        args = self.validate_argument_spec(
            argument_spec=SHADOW_COPY_SPEC,
            required_if=SHADOW_COPY_REQUIRED_IF,
            mutually_exclusive=SHADOW_COPY_MUTUALLY_EXCLUSIVE,
        )[1]
        handlers = {"present": self._create, "imported": self._import, "absent": self._release}
        try:
            check_folders(args)  # before any round trip: a folder Windows refuses changes nothing
            result.update(handlers[args["state"]](args))
        except ScriptError as exc:
            result.update(exc.to_result())
        except (ShadowCopyError, MixedStorageError, WindowsPathError) as exc:
            result.update(failed=True, changed=False, msg=str(exc))
        except (KeyError, TypeError, AttributeError) as exc:
            result.update(
                failed=True, changed=False, msg=f"a shadow_copy script replied in an unexpected shape ({exc!r})"
            )
        return result

    def _read(self, args: dict[str, Any], **query: Any) -> dict[str, Any]:
        params = {"Vms": None, "SnapshotSetId": None, "ShadowId": None, **query}
        params.update(MetadataDir=args["metadata_dir"], ExposeRoot=args["expose_root"])
        return run_script(self, "shadow_copy_read", params)

    def _create(self, args: dict[str, Any]) -> dict[str, Any]:
        wanted = list(dict.fromkeys(args["vms"]))
        reply = self._read(args, Vms=wanted)
        check_vms(reply["vms"], wanted)  # R15 and unknown VMs: refused before anything is created
        volumes, vms = plan_volumes(reply)
        transportable = set_kind(volumes) == "transportable"  # shares and local volumes never share a set
        volume_aliases = aliases(volumes)
        planned = [{"shadow_id": None, "alias": volume_aliases[v], "volume": v} for v in volumes]
        if self._task.check_mode:
            return _present_result(None, planned, map_vm_files(vms, None), args, transportable)
        volume_params = [{"Path": volume, "Alias": volume_aliases[volume]} for volume in volumes]
        create_params = {"Volumes": volume_params, "MetadataDir": args["metadata_dir"], "Transportable": transportable}
        created = run_script(self, "shadow_copy_create", create_params)
        set_id = normal_guid(str(created["SnapshotSetId"]), "SnapshotSetId")
        copies = [_created_copy(s) for s in created["Shadows"]]
        _locate_copies(copies, set_id, args["expose_root"])
        bases = file_bases(volume_aliases, _shares(copies), {c["alias"]: c["exposed_path"] for c in copies})
        result = _present_result(set_id, copies, map_vm_files(vms, bases), args, transportable)
        result.update(metadata=created["Metadata"], metadata_path=created["MetadataPath"])
        return result

    def _import(self, args: dict[str, Any]) -> dict[str, Any]:
        set_id = normal_guid(args["snapshot_set_id"], "snapshot_set_id")
        wanted = exposures(set_id, args["shadow_copies"], args["expose_root"])
        # One round trip: the script asks Win32_ShadowCopy what is missing and imports and exposes only that
        # (-Missing); in check mode it only says what it would do (-PlanOnly).
        params = {"SnapshotSetId": set_id, "Metadata": args["metadata"], "Expose": wanted, "Missing": True}
        done = run_script(self, "shadow_copy_import", {**params, "PlanOnly": bool(self._task.check_mode)})
        result = {
            "changed": bool(done["imported"]) or bool(done["exposed"]),
            "snapshot_set_id": set_id,
            "exposed_path": set_folder(args["expose_root"], set_id),
            "shadow_copies": [
                {"shadow_id": w["ShadowId"], "alias": w["Alias"], "exposed_path": w["Path"]} for w in wanted
            ],
        }
        return result

    def _release(self, args: dict[str, Any]) -> dict[str, Any]:
        by_set = bool(args["snapshot_set_id"])
        ident = normal_guid(args["snapshot_set_id"] or args["shadow_id"], "snapshot_set_id" if by_set else "shadow_id")
        copies = args["shadow_copies"] or []
        if by_set and copies and not self._task.check_mode and not any(is_share(str(c["volume"])) for c in copies):
            return self._release_known(ident, copies, args)
        plan = release_plan(self._read(args, **{"SnapshotSetId" if by_set else "ShadowId": ident}))
        result: dict[str, Any] = {"changed": plan is not None, "released": plan or {}}
        result["snapshot_set_id" if by_set else "shadow_id"] = ident
        if plan is not None and not self._task.check_mode:
            run_script(self, "shadow_copy_release", plan)
        return result

    def _release_known(self, set_id: str, copies: list[dict[str, Any]], args: dict[str, Any]) -> dict[str, Any]:
        """One round trip: the release script looks up each place itself; ``changed`` is what it says it did."""
        plan = known_release_plan(set_id, copies, args)
        done = run_script(self, "shadow_copy_release", plan)
        changed = any(int(done.get(count) or 0) for count in RELEASE_COUNTS)
        return {"changed": changed, "released": plan if changed else {}, "snapshot_set_id": set_id}


def _created_copy(shadow: dict[str, Any]) -> dict[str, Any]:
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


def _shares(copies: list[dict[str, Any]]) -> dict[str, str]:
    return {copy["volume"]: copy["exposed_path"] for copy in copies if is_share(str(copy["volume"]))}


def _present_result(
    set_id: str | None,
    copies: list[dict[str, Any]],
    vm_files: dict[str, list[dict[str, Any]]],
    args: dict[str, Any],
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
