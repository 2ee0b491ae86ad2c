"""Action plugin of ``backup.hyperv.vm_disk_restore``: one restored disk into an existing VM.

1. The input checks (bad input sends nothing).
2. vm_disk_restore_read.ps1: the VM, its drives, whether the restored disk exists; changes nothing.
3. The slot to change, or each reason not to (plugin_utils/vm_disk_restore.py): the task fails naming them and
   nothing is changed. A drive that already uses the disk is no change. Check mode stops here.
4. vm_disk_restore_apply.ps1: Stop-VM -TurnOff (replace with force), then Set-VMHardDiskDrive (replace) or
   Add-VMHardDiskDrive (attach). Two round trips in all.
"""

from __future__ import annotations

from typing import Any

from ansible.plugins.action import ActionBase

from ansible_collections.backup.hyperv.plugins.plugin_utils._connection_retry import reports_connection_retries
from ansible_collections.backup.hyperv.plugins.plugin_utils._pwsh import ScriptError, run_script
from ansible_collections.backup.hyperv.plugins.plugin_utils.vm_disk_restore import (
    VM_DISK_RESTORE_REQUIRED_TOGETHER,
    VmDiskRestoreError,
    apply_params,
    check_args,
    decide,
    drives_of,
    script_params,
    vm_disk_restore_argument_spec,
)

VM_DISK_RESTORE_SPEC = vm_disk_restore_argument_spec()


class ActionModule(ActionBase):
    """Replace a drive's disk of an existing VM with a restored one, or attach the restored disk beside."""

    _supports_check_mode = True
    _supports_async = False

    @reports_connection_retries
    def run(self, tmp: str | None = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        result = super().run(tmp, task_vars)
        args = self.validate_argument_spec(
            argument_spec=VM_DISK_RESTORE_SPEC, required_together=VM_DISK_RESTORE_REQUIRED_TOGETHER
        )[1]
        script = "vm_disk_restore_read"
        try:
            check_args(args)
            read = run_script(self, script, script_params(args))
            decision = decide(args, read)
            result.update(changed=False, drives=drives_of(read["Vm"]), steps=[])
            if decision.refusals:
                lines = "; ".join(decision.refusals)
                result.update(failed=True, msg=f"nothing was changed: {lines}")
                return result
            if decision.slot is None:
                return result  # the drive uses the restored disk already
            result.update(changed=True, slot=str(decision.slot))
            if self._task.check_mode:
                return result
            script = "vm_disk_restore_apply"
            applied = run_script(self, script, apply_params(args, decision))
            result.update(drives=drives_of(applied["Vm"]), steps=list(applied["Steps"] or []))
        except ScriptError as exc:
            result.update(exc.to_result())
        except VmDiskRestoreError as exc:
            result.update(failed=True, changed=False, msg=str(exc))
        except (KeyError, TypeError, AttributeError, ValueError) as exc:
            result.update(failed=True, changed=False, msg=f"{script}.ps1 replied in an unexpected shape ({exc!r})")
        return result
