"""Action plugin of ``backup.hyperv.proxy_components``: converge the proxy's services from a manifest (R2-R4).

The manifest is checked first (a bad one fails with the field named and nothing sent to the host);
then one read (proxy_components_read.ps1), a plan in Python (``desired_state.components``) and,
only when something differs and the task is not in check mode, one apply
(proxy_components_apply.ps1).
"""

from __future__ import annotations

from typing import Any

from ansible_collections.backup.hyperv.plugins.plugin_utils.argspec import probe_argument_spec
from ansible_collections.backup.hyperv.plugins.plugin_utils.desired_state.components import (
    parse_components_state,
    plan_components,
    read_params,
)
from ansible_collections.backup.hyperv.plugins.plugin_utils.desired_state.converge import ConvergeAction, Convergence
from ansible_collections.backup.hyperv.plugins.plugin_utils.desired_state.manifest import validate_manifest

# The manifest's own fields are manifest_argument_spec(), applied by validate_manifest: ansible-core
# checks them level by level there, so a message names the list index, and the data_mover action
# reads the same manifest without this action.
PROXY_COMPONENTS_SPEC = {
    **probe_argument_spec(),
    "manifest": {"type": "dict", "required": True},
    "state": {"type": "str", "default": "present", "choices": ["present", "absent"]},
}


class ActionModule(ConvergeAction):
    """Install, upgrade, repair or remove the components a manifest lists on the task's Windows host."""

    ARGUMENT_SPEC = PROXY_COMPONENTS_SPEC

    def convergence(self, args: dict[str, Any]) -> Convergence:
        manifest = validate_manifest(args["manifest"])  # a ManifestError names the field: manifest.components[1]...
        return Convergence(
            read_script="proxy_components_read",
            read_params={**read_params(manifest), "ProbeTimeout": args["probe_timeout"]},
            plan=lambda reply: plan_components(parse_components_state(reply), manifest, args["state"]),
            apply_script="proxy_components_apply",
            apply_params={},
        )
