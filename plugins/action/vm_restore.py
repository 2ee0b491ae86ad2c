"""Action plugin of ``backup.hyperv.vm_restore``: register a restored VM on its Hyper-V host.

1. The input checks (bad input sends nothing).
2. vm_restore_read.ps1: the host, the VM it would replace, and Compare-VM's report for the import with the switch
   mapping applied; changes nothing.
3. Any incompatibility, or a running VM without ``force``: the task fails, naming each in words an admin acts on,
   and nothing is changed. Check mode stops here and says what the import would register.
4. vm_restore_apply.ps1: stop and unregister the VM it replaces (original), import (Import-VM), cluster role,
   start. Two round trips in all. With ``prepare``, only the stop (none when the VM is off already).
"""

from __future__ import annotations

from typing import Any

from ansible.plugins.action import ActionBase

from ansible_collections.backup.hyperv.plugins.plugin_utils._connection_retry import reports_connection_retries
from ansible_collections.backup.hyperv.plugins.plugin_utils._pwsh import ScriptError, run_script
from ansible_collections.backup.hyperv.plugins.plugin_utils.vm_restore import (
    VM_RESTORE_REQUIRED_IF,
    VmRestoreError,
    apply_params,
    check_args,
    disk_folder,
    planned_vm,
    refusal_message,
    refusals,
    script_params,
    vm_of,
    vm_restore_argument_spec,
)

VM_RESTORE_SPEC = vm_restore_argument_spec()


class ActionModule(ActionBase):
    """Restore a VM to its original location or as a new VM, after Compare-VM says the host can take it."""

    _supports_check_mode = True
    _supports_async = False

    @reports_connection_retries
    def run(self, tmp: str | None = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        result = super().run(tmp, task_vars)
        args = self.validate_argument_spec(argument_spec=VM_RESTORE_SPEC, required_if=VM_RESTORE_REQUIRED_IF)[1]
        script = "vm_restore_read"
        try:
            check_args(args)
            read = run_script(self, script, script_params(args))
            result.update(self._decide(args, read))
            if result.get("failed") or self._task.check_mode or not result["changed"]:
                return result
            script = "vm_restore_apply"
            applied = run_script(self, script, apply_params(args, read))
            result.update(changed=True, vm=vm_of(applied["Vm"]), steps=list(applied["Steps"] or []))
            result.update({"disk_folder": disk_folder(result["vm"])} if args["prepare"] else {})
            if self._task.diff:
                result["diff"]["after"] = result["vm"]
        except ScriptError as exc:
            result.update(exc.to_result())
        except VmRestoreError as exc:
            result.update(failed=True, changed=False, msg=str(exc))
        except (KeyError, TypeError, AttributeError, ValueError) as exc:
            result.update(failed=True, changed=False, msg=f"{script}.ps1 replied in an unexpected shape ({exc!r})")
        return result

    def _decide(self, args: dict[str, Any], read: dict[str, Any]) -> dict[str, Any]:
        """The result before anything changes: the refusals, or the VM the import would register."""
        found = refusals(args, read)
        before = vm_of(read["Existing"]) if args["location"] == "original" else None
        decided: dict[str, Any] = {"changed": False, "incompatibilities": found, "vm": before}
        if found:
            return {**decided, "failed": True, "msg": refusal_message(found)}
        if args["prepare"]:  # only the VM turned off, when it runs
            return self._prepared(decided, before, apply_params(args, read)["Stop"])
        after = planned_vm(args, read)
        decided.update(changed=True, vm=after if self._task.check_mode else before)
        if self._task.diff:
            decided["diff"] = {"before": before or {}, "after": after}
        return decided

    def _prepared(self, decided: dict[str, Any], before: dict[str, Any] | None, stop: bool) -> dict[str, Any]:
        """prepare: a change only when the VM must be turned off; check mode says it would be off."""
        after = {**(before or {}), "state": "Off"}
        decided.update(changed=stop, vm=after if stop and self._task.check_mode else before)
        decided["disk_folder"] = disk_folder(before)
        if self._task.diff and stop:
            decided["diff"] = {"before": before or {}, "after": after}
        return decided
