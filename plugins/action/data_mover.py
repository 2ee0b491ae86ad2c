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

from collections.abc import Mapping
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
from ansible_collections.backup.hyperv.plugins.plugin_utils.windows_path import WindowsPathError

MODULE = "backup.hyperv.data_mover"
display = Display()


class ActionModule(ActionBase):
    """Back up, restore, verify, list or prune with the data mover on the task's host."""

    _supports_check_mode = True
    _supports_async = False

    @reports_connection_retries
    def run(self, tmp: str | None = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        result = super().run(tmp, task_vars)
        if not self._runs_powershell():
            result.update(self._execute_module(module_name=MODULE, module_args=self._task.args, task_vars=task_vars))
            return result
        validation, args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC, **VALIDATION)
        secret = args.get("passphrase")
        host = self._host_name(task_vars or {})
        try:
            options = DataMoverOptions.from_params(args, check_mode=self._task.check_mode)
            check_paths(args)
            params = start_params(new_job_id(), options, args.get("component"), args.get("server_idle"))
            job_id = params["JobId"]
            reply = run_script(self, START, params)
            if not reply.get("started"):
                result.update(failed=True, changed=False, msg=not_run_message(host, reply, args.get("component")))
                return result
            ended = collect(self._round_trip, job_id, self._reporter(host), reply.get("poll"), options.check_mode)
        except (
            DataMoverError,
            WindowsPathError,
            JobOptionError,
            JobLost,
        ) as exc:  # all but the last: before any round trip
            result.update(failed=True, changed=False, msg=str(exc))
            return result
        except ScriptError as exc:
            result.update(mask(mask(exc.to_result(), secret), args.get("smb_password")))
            return result
        except ConnectionFailed as exc:  # failed, not unreachable: a group's release after it must still run
            result.update(exc.as_failure(), changed=False)
            return result
        outcome = engine_result(ended, args["repository"], args["operation"])
        # The engine never prints the passphrase; masking is the belt to that brace.
        result.update(remove_values(mask(outcome, secret), validation._no_log_values))
        return result

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
