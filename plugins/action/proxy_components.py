"""Action plugin of ``backup.hyperv.proxy_components``: converge the proxy's services from a manifest (R2-R4).

The manifest is checked first (a bad one fails with the field named and nothing sent to the host);
then one read (proxy_components_read.ps1), a plan in Python (``desired_state.components``) and,
only when something differs and the task is not in check mode, one apply
(proxy_components_apply.ps1).
"""

from __future__ import annotations

from typing import Any

from ansible.plugins.action import ActionBase

from ansible_collections.backup.hyperv.plugins.plugin_utils._connection_retry import reports_connection_retries
from ansible_collections.backup.hyperv.plugins.plugin_utils.argspec import probe_argument_spec
from ansible_collections.backup.hyperv.plugins.plugin_utils.desired_state.components import (
    parse_components_state,
    plan_components,
    read_params,
)
from ansible_collections.backup.hyperv.plugins.plugin_utils.desired_state.converge import Convergence, converge
from ansible_collections.backup.hyperv.plugins.plugin_utils.desired_state.manifest import (
    ManifestError,
    validate_manifest,
)

# The manifest's own fields are manifest_argument_spec(), applied by validate_manifest: ansible-core
# checks them level by level there, so a message names the list index, and the data_mover action
# reads the same manifest without this action.
PROXY_COMPONENTS_SPEC = {
    **probe_argument_spec(),
    "manifest": {"type": "dict", "required": True},
    "state": {"type": "str", "default": "present", "choices": ["present", "absent"]},
}


class ActionModule(ActionBase):
    """Install, upgrade, repair or remove the components a manifest lists on the task's Windows host."""

    _supports_check_mode = True
    _supports_async = False

    @reports_connection_retries
    def run(self, tmp: str | None = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        result = super().run(tmp, task_vars)
        args = self.validate_argument_spec(argument_spec=PROXY_COMPONENTS_SPEC)[1]
        try:
            manifest = validate_manifest(args["manifest"])
        except ManifestError as exc:
            result.update(failed=True, msg=str(exc))  # starts with the field's path: manifest.components[1]...
            return result
        job = Convergence(
            read_script="proxy_components_read",
            read_params={**read_params(manifest), "ProbeTimeout": args["probe_timeout"]},
            plan=lambda reply: plan_components(parse_components_state(reply), manifest, args["state"]),
            apply_script="proxy_components_apply",
            apply_params={},
        )
        return converge(self, result, job)
