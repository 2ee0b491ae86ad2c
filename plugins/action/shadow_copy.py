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

from ansible_collections.backup.hyperv.plugins.plugin_utils._connection_retry import (
    ConnectionFailed,
    reports_connection_retries,
)
from ansible_collections.backup.hyperv.plugins.plugin_utils._pwsh import ScriptError, run_script
from ansible_collections.backup.hyperv.plugins.plugin_utils.argspec import probe_argument_spec
from ansible_collections.backup.hyperv.plugins.plugin_utils.shadow_copy import (
    SHADOW_COPY_MUTUALLY_EXCLUSIVE,
    SHADOW_COPY_REQUIRED_IF,
    ShadowCopyError,
    check_folders,
    check_vss_wait,
    normal_guid,
    shadow_copy_argument_spec,
)
from ansible_collections.backup.hyperv.plugins.plugin_utils.shadow_copy_shares import MixedStorageError
from ansible_collections.backup.hyperv.plugins.plugin_utils.shadow_copy_steps import (
    create_params,
    created_result,
    import_set,
    plan_present,
    planned_result,
    read_params,
    release_after_read,
    release_known_set,
    released_by_known_copies,
)
from ansible_collections.backup.hyperv.plugins.plugin_utils.windows_path import WindowsPathError

SHADOW_COPY_SPEC = {**probe_argument_spec(), **shadow_copy_argument_spec()}


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
            check_vss_wait(args)
            result.update(handlers[args["state"]](args))
        except ScriptError as exc:
            result.update(exc.to_result())
        except ConnectionFailed as exc:  # failed, not unreachable: a group's release after it must still run
            result.update(exc.as_failure(), changed=False)
        except (ShadowCopyError, MixedStorageError, WindowsPathError) as exc:
            result.update(failed=True, changed=False, msg=str(exc))
        except (KeyError, TypeError, AttributeError) as exc:
            result.update(
                failed=True, changed=False, msg=f"a shadow_copy script replied in an unexpected shape ({exc!r})"
            )
        return result

    def _read(self, args: dict[str, Any], **query: Any) -> dict[str, Any]:
        return run_script(self, "shadow_copy_read", read_params(args, **query))

    def _create(self, args: dict[str, Any]) -> dict[str, Any]:
        wanted = list(dict.fromkeys(args["vms"]))
        plan = plan_present(self._read(args, Vms=wanted), wanted)  # refusals come before anything is created
        if self._task.check_mode:
            return planned_result(plan, args)
        return created_result(plan, run_script(self, "shadow_copy_create", create_params(plan, args)), args)

    def _import(self, args: dict[str, Any]) -> dict[str, Any]:
        return import_set(self, args, plan_only=bool(self._task.check_mode))

    def _release(self, args: dict[str, Any]) -> dict[str, Any]:
        by_set = bool(args["snapshot_set_id"])
        ident = normal_guid(args["snapshot_set_id"] or args["shadow_id"], "snapshot_set_id" if by_set else "shadow_id")
        copies = args["shadow_copies"] or []
        if released_by_known_copies(by_set, copies, self._task.check_mode):
            return release_known_set(self, args)
        return release_after_read(self, args, by_set, ident)
