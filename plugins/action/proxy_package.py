"""Action plugin of ``backup.hyperv.proxy_package``: stage the proxy package on a host, then verify it there.

One read (proxy_package_read.ps1: every file of ``dest`` with its Get-FileHash, the staged SHA256SUMS, and
the share's SHA256SUMS for ``remote_src``); a plan in Python (``desired_state.package``: the files whose hash
differs from the package's); when something differs and the task is not in check mode, one transfer of a
zip of those files (``src``) and one apply (proxy_package_apply.ps1: expand it, or copy from the share);
then a second read, whose hashes must all equal the staged SHA256SUMS (the verification).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from ansible.plugins.action import ActionBase

from ansible_collections.backup.hyperv.plugins.plugin_utils._connection_retry import reports_connection_retries
from ansible_collections.backup.hyperv.plugins.plugin_utils._pwsh import ScriptError, run_script
from ansible_collections.backup.hyperv.plugins.plugin_utils.desired_state.package import (
    plan_staging,
    require_source_sums,
    verification_message,
    verify_folder,
)
from ansible_collections.backup.hyperv.plugins.plugin_utils.desired_state.package_source import LocalPackage
from ansible_collections.backup.hyperv.plugins.plugin_utils.desired_state.plan import Plan, PlanError

PROXY_PACKAGE_SPEC = {
    "dest": {"type": "str", "required": True},
    "src": {"type": "path"},
    "remote_src": {"type": "str"},
}
SPEC_RULES = {"mutually_exclusive": [["src", "remote_src"]]}
UPLOAD = "package.zip"


class ActionModule(ActionBase):
    """Stage (when ``src`` or ``remote_src`` is given) and verify the package folder ``dest`` on the host."""

    _supports_check_mode = True
    _supports_async = False

    @reports_connection_retries
    def run(self, tmp: str | None = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        result = super().run(tmp, task_vars)
        args = self.validate_argument_spec(argument_spec=PROXY_PACKAGE_SPEC, **SPEC_RULES)[1]
        try:
            local = LocalPackage(args["src"]) if args["src"] else None
            result.update(self._stage_and_verify(args, local))
        except ScriptError as exc:
            result.update(exc.to_result())
        except PlanError as exc:
            result.update(failed=True, msg=str(exc))
        return result

    def _stage_and_verify(self, args: dict[str, Any], local: LocalPackage | None) -> dict[str, Any]:
        dest, remote = args["dest"], args["remote_src"]
        reply = run_script(self, "proxy_package_read", {"Destination": dest, "Source": remote or None})
        plan = self._plan(reply, dest, local, remote)
        outcome: dict[str, Any] = {"changed": plan.changed, "steps": plan.steps, "dest": dest}
        if self._task.diff:
            outcome["diff"] = {"before": plan.before, "after": plan.after}
        if self._task.check_mode and plan.steps:
            return {**outcome, "verified": None}  # the files are not there yet: nothing to verify
        if plan.steps:
            self._apply(plan, local)
            reply = run_script(self, "proxy_package_read", {"Destination": dest, "Source": None})
        verification = verify_folder(reply["Destination"])
        if not verification.ok:
            source = args["src"] or remote or dest
            return {
                **outcome,
                "failed": True,
                "verified": False,
                "msg": verification_message(dest, verification, source),
            }
        return {**outcome, "verified": True}

    @staticmethod
    def _plan(reply: dict[str, Any], dest: str, local: LocalPackage | None, remote: str | None) -> Plan:
        """Staging from the controller or the share; without either, nothing to stage (verify only)."""
        if local is not None:
            return plan_staging(reply, local.sums_text(), {"action": "expand_archive", "destination": dest})
        if remote:
            step = {"action": "copy_files", "source": remote, "destination": dest}
            return plan_staging(reply, require_source_sums(reply, remote), step)
        return Plan()

    def _apply(self, plan: Plan, local: LocalPackage | None) -> None:
        """Send the zip of the files to copy (from the controller) to a remote temp folder, then apply."""
        steps = [dict(step) for step in plan.steps]
        if local is None:
            run_script(self, "proxy_package_apply", {"Steps": steps})
            return
        remote_tmp = self._make_tmp_path()
        try:
            with tempfile.TemporaryDirectory() as scratch:
                archive = Path(scratch) / UPLOAD
                local.write_zip(steps[0]["files"], archive)
                remote_archive = self._connection._shell.join_path(remote_tmp, UPLOAD)
                self._transfer_file(str(archive), remote_archive)
            steps[0]["archive"] = remote_archive
            run_script(self, "proxy_package_apply", {"Steps": steps})
        finally:
            self._remove_tmp_path(remote_tmp)
