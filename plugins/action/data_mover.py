"""Action plugin of ``backup.hyperv.data_mover``: run the one engine where the task's connection leads.

* A Windows proxy (the connection's shell is PowerShell: ``winrm``, ``psrp``): the data mover is the
  component ``proxy_components`` installed there (R3), found by the record it wrote on the proxy (no
  variable of a role is read here). The options are checked once here and sent as one JSON document
  (``DataMoverOptions.to_json``); ``data_mover_start.ps1`` starts the installed engine
  (``hyperv-datamover run --options-file``) as a one-time scheduled task running as LocalSystem, outside
  the WinRM shell, and polls it once in the same round trip; ``data_mover_poll.ps1`` follows a job still
  running until it ends. The poll that sees the end returns the JSON result and removes the task in the same
  round trip (``plugin_utils/data_mover_job.py`` says why): a job that ends within the start's wait is one
  round trip. With ``server_idle``, the job goes to the component's job server instead (``hyperv-datamover serve``,
  ``module_utils/datamover/server.py``), started by the first such job and kept that long after each, so that a
  backup run's jobs on the proxy pay the engine's start and the key derivation once. A proxy without the
  component fails with R3 and how to install it.
* Anything else (``local``, ``ssh``): the Python module ``backup.hyperv.data_mover`` runs as usual.

Both paths accept the same options (``module_utils/datamover/argspec.py``) and build the same options
object; the passphrase is ``no_log`` on both and, on a proxy, travels only on stdin and then in the job's
folder (LocalSystem and Administrators only) until the engine has read and deleted it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ansible.module_utils.common.parameters import remove_values
from ansible.plugins.action import ActionBase
from ansible.utils.display import Display

from ansible_collections.backup.hyperv.plugins.module_utils.datamover.argspec import ARGUMENT_SPEC, VALIDATION
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.base.errors import DataMoverError
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.settings import DataMoverOptions
from ansible_collections.backup.hyperv.plugins.plugin_utils._connection_retry import (
    ConnectionFailed,
    reports_connection_retries,
)
from ansible_collections.backup.hyperv.plugins.plugin_utils._pwsh import ScriptError, run_script
from ansible_collections.backup.hyperv.plugins.plugin_utils.data_mover_job import (
    START,
    JobLost,
    JobOptionError,
    collect,
    new_job_id,
    start_params,
)
from ansible_collections.backup.hyperv.plugins.plugin_utils.data_mover_remote import (
    check_paths,
    engine_result,
    mask,
    not_run_message,
)
from ansible_collections.backup.hyperv.plugins.plugin_utils.data_mover_shadow_copy import (
    NOT_ON_THIS_CONNECTION,
    check_mode_outcome,
    checked_set,
    import_failure,
    release_failure,
    shadow_copy_result,
    unexpected_reply,
)
from ansible_collections.backup.hyperv.plugins.plugin_utils.shadow_copy import ShadowCopyError
from ansible_collections.backup.hyperv.plugins.plugin_utils.shadow_copy_steps import import_set, release_known_set
from ansible_collections.backup.hyperv.plugins.plugin_utils.windows_path import WindowsPathError

MODULE = "backup.hyperv.data_mover"
display = Display()


class ActionModule(ActionBase):
    """Back up, restore, verify, list or prune with the data mover on the task's host."""

    _supports_check_mode = True
    _supports_async = False
    # this task's passphrase, SMB password and no_log values, which no reply of the proxy may carry (_masked)
    _secrets: tuple[str | None, str | None, set[str]] = (None, None, set())

    @reports_connection_retries
    def run(self, tmp: str | None = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        result = super().run(tmp, task_vars)
        if not self._runs_powershell():
            if self._task.args.get("shadow_copy"):
                result.update(failed=True, changed=False, msg=NOT_ON_THIS_CONNECTION)
                return result
            result.update(self._execute_module(module_name=MODULE, module_args=self._task.args, task_vars=task_vars))
            return result
        validation, args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC, **VALIDATION)
        host = self._host_name(task_vars or {})
        self._secrets = (args.get("passphrase"), args.get("smb_password"), validation._no_log_values)
        try:  # every check before the first round trip: a refused option imports nothing and starts nothing
            options = DataMoverOptions.from_params(args, check_mode=self._task.check_mode)
            check_paths(args)
            params = start_params(new_job_id(), options, args.get("component"), args.get("server_idle"))
            shadow = checked_set(args["operation"], args.get("shadow_copy"))
        except (DataMoverError, WindowsPathError, JobOptionError, ShadowCopyError) as exc:
            result.update(failed=True, changed=False, msg=str(exc))
            return result
        if shadow is None:
            result.update(self._job(params, options, args, host))
        else:
            result.update(self._job_on_shadow_copy(shadow, params, options, args, host))
        return result

    def _job(
        self, params: dict[str, Any], options: DataMoverOptions, args: dict[str, Any], host: str
    ) -> dict[str, Any]:
        """Start the job on ``host``, follow it to its end and return the engine's result as the task's (failed with
        why)."""
        try:
            reply = run_script(self, START, params)
            if not reply.get("started"):
                return {"failed": True, "changed": False, "msg": not_run_message(host, reply, args.get("component"))}
            ended = collect(
                self._round_trip, params["JobId"], self._reporter(host), reply.get("poll"), options.check_mode
            )
        except JobLost as exc:
            return {"failed": True, "changed": False, "msg": str(exc)}
        except ScriptError as exc:
            return self._masked(exc.to_result())
        except ConnectionFailed as exc:  # failed, not unreachable: a group's release after it must still run
            return {**exc.as_failure(), "changed": False}
        return self._masked(engine_result(ended, args["repository"], args["operation"]))

    def _job_on_shadow_copy(
        self, shadow: dict[str, Any], params: dict[str, Any], options: DataMoverOptions, args: dict[str, Any], host: str
    ) -> dict[str, Any]:
        """Import the set, run the job on it, release the set (plugin_utils/data_mover_shadow_copy.py)."""
        set_id = shadow["snapshot_set_id"]
        imported = self._shadow_step("shadow_copy_import", lambda: import_set(self, shadow, options.check_mode))
        if imported.get("failed"):
            outcome, imported = import_failure(imported, set_id), None
        else:
            outcome = check_mode_outcome() if options.check_mode else self._job(params, options, args, host)
        released = None
        if not options.check_mode:
            released = self._shadow_step("shadow_copy_release", lambda: release_known_set(self, shadow))
        if released is not None and released.get("failed"):
            outcome = release_failure(outcome, set_id, released)
        changed = bool(outcome.get("changed")) or bool(imported and imported.get("changed"))
        return {**outcome, "changed": changed, "shadow_copy": shadow_copy_result(set_id, imported, released)}

    def _shadow_step(self, script: str, step: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        """The import's or the release's result, or, when its round trip failed, the failure (``failed``) that
        says why: the script's error, a lost connection, or a reply of another shape."""
        try:
            return step()
        except ScriptError as exc:
            return self._masked(exc.to_result())
        except ConnectionFailed as exc:
            return exc.as_failure()
        except (KeyError, TypeError, AttributeError) as exc:
            return {"failed": True, "msg": unexpected_reply(script, exc)}

    def _masked(self, reply: dict[str, Any]) -> dict[str, Any]:
        """A reply of the proxy (a script's, the engine's) without the task's secrets: none of them prints one;
        masking is the belt to that brace."""
        passphrase, smb_password, no_log_values = self._secrets
        return remove_values(mask(mask(reply, passphrase), smb_password), no_log_values)

    def _runs_powershell(self) -> bool:
        """True on a Windows connection (winrm, psrp): its shell plugin is PowerShell's."""
        shell = getattr(self._connection, "_shell", None)
        return getattr(shell, "SHELLFAMILY", None) == "powershell" or bool(getattr(shell, "_IS_WINDOWS", False))

    def _round_trip(self, name: str, params: Mapping[str, Any]) -> dict[str, Any]:
        return run_script(self, name, params)

    @staticmethod
    def _reporter(host: str) -> Any:
        """Shows a running job's progress at -v (a task's result comes only when it ends)."""
        return lambda line: display.v(f"{host}: {line}")

    def _host_name(self, task_vars: dict[str, Any]) -> str:
        return str(self._task.delegate_to or task_vars.get("inventory_hostname") or "the proxy")
