"""Action plugin of ``backup.hyperv.data_mover``: run the one engine where the task's connection leads.

* A Windows proxy (the connection's shell is PowerShell: ``winrm``, ``psrp``): the data mover is the
  component ``proxy_components`` installed there (R3), found by the record it wrote on the proxy (no
  variable of a role is read here). The options are checked once here and sent as one JSON document
  (``DataMoverOptions.to_json``); one round trip runs ``data_mover_run.ps1``, which hands the document to
  the installed engine on stdin (``hyperv-datamover run --options -``) and returns its JSON result; a
  proxy without the component fails with R3 and how to install it.
* Anything else (``local``, ``ssh``): the Python module ``backup.hyperv.data_mover`` runs as usual.

Both paths accept the same options (``module_utils/datamover/argspec.py``) and build the same options
object; the passphrase is ``no_log`` on both and, on a proxy, travels only on stdin.
"""

from __future__ import annotations

from typing import Any

from ansible.module_utils.common.parameters import remove_values
from ansible.plugins.action import ActionBase

from ansible_collections.backup.hyperv.plugins.module_utils.datamover.argspec import ARGUMENT_SPEC, VALIDATION
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.base.errors import DataMoverError
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.settings import DataMoverOptions
from ansible_collections.backup.hyperv.plugins.plugin_utils._connection_retry import reports_connection_retries
from ansible_collections.backup.hyperv.plugins.plugin_utils._pwsh import ScriptError, run_script
from ansible_collections.backup.hyperv.plugins.plugin_utils.data_mover_remote import (
    SCRIPT,
    check_paths,
    engine_result,
    mask,
    not_run_message,
    script_params,
)
from ansible_collections.backup.hyperv.plugins.plugin_utils.windows_path import WindowsPathError

MODULE = "backup.hyperv.data_mover"


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
        try:
            options = DataMoverOptions.from_params(args, check_mode=self._task.check_mode)
            check_paths(args)
            reply = run_script(self, SCRIPT, script_params(options, args.get("component")))
        except (DataMoverError, WindowsPathError) as exc:  # before any round trip
            result.update(failed=True, changed=False, msg=str(exc))
            return result
        except ScriptError as exc:
            result.update(mask(exc.to_result(), secret))
            return result
        if not reply.get("ran"):
            host = self._host_name(task_vars or {})
            result.update(failed=True, changed=False, msg=not_run_message(host, reply, args.get("component")))
            return result
        outcome = engine_result(reply, args["repository"])
        # The engine never prints the passphrase; masking is the belt to that brace.
        result.update(remove_values(mask(outcome, secret), validation._no_log_values))
        return result

    def _runs_powershell(self) -> bool:
        """True on a Windows connection (winrm, psrp): its shell plugin is PowerShell's."""
        shell = getattr(self._connection, "_shell", None)
        return getattr(shell, "SHELLFAMILY", None) == "powershell" or bool(getattr(shell, "_IS_WINDOWS", False))

    def _host_name(self, task_vars: dict[str, Any]) -> str:
        return str(self._task.delegate_to or task_vars.get("inventory_hostname") or "the proxy")
