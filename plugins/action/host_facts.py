"""Action plugin of ``backup.hyperv.host_facts``: one probe script, one round trip, facts back.

The host runs ``plugin_utils/scripts/host_facts.ps1``; its one JSON document is checked against
the ``hyperv_offhost`` schema here, on the controller, and returned as
``ansible_facts.hyperv_offhost``. Nothing on the host changes, so check mode runs the probe too.
"""

from __future__ import annotations

from typing import Any

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

from ansible_collections.backup.hyperv.plugins.plugin_utils._connection_retry import reports_connection_retries
from ansible_collections.backup.hyperv.plugins.plugin_utils._pwsh import ScriptError, run_script
from ansible_collections.backup.hyperv.plugins.plugin_utils.argspec import probe_argument_spec, probe_script_params
from ansible_collections.backup.hyperv.plugins.plugin_utils.facts.schema import FactsSchemaError, validate_facts

FACTS_KEY = "hyperv_offhost"
SCRIPT = "host_facts"


class ActionModule(ActionBase):
    """Probe the task's Windows host and set ``ansible_facts.hyperv_offhost``."""

    _supports_check_mode = True
    _supports_async = False

    @reports_connection_retries
    def run(self, tmp: str | None = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        result = super().run(tmp, task_vars)
        _ignored, args = self.validate_argument_spec(argument_spec=probe_argument_spec())
        try:
            params = probe_script_params(args)
        except ValueError as exc:
            raise AnsibleActionFail(str(exc)) from exc

        try:
            document = run_script(self, SCRIPT, params)
        except ScriptError as exc:
            result.update(exc.to_result())
            return result

        host = (task_vars or {}).get("inventory_hostname")
        try:
            validate_facts(document, host=host)
        except FactsSchemaError as exc:
            # Keep the document: it is the evidence of what the host answered.
            result.update(failed=True, msg=f"{SCRIPT}.ps1 returned facts that break the schema: {exc}", facts=document)
            return result

        result.update(changed=False, ansible_facts={FACTS_KEY: document})
        return result
