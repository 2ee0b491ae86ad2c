"""Action plugin of ``backup.hyperv.windows_feature``: ensure Windows features are installed or absent.

Reads with Get-WindowsFeature (windows_feature_read.ps1), plans in Python
(``desired_state.features``), and, only when something differs and the task is not in check mode,
applies with one Install-WindowsFeature or Uninstall-WindowsFeature call
(windows_feature_apply.ps1). ``reboot_required`` comes from the cmdlet's RestartNeeded; the
module never reboots.
"""

from __future__ import annotations

from typing import Any

from ansible_collections.backup.hyperv.plugins.plugin_utils.argspec import probe_argument_spec
from ansible_collections.backup.hyperv.plugins.plugin_utils.desired_state.converge import ConvergeAction, Convergence
from ansible_collections.backup.hyperv.plugins.plugin_utils.desired_state.features import (
    feature_argument_spec,
    parse_feature_state,
    plan_features,
    read_params,
    validate_feature_args,
)

WINDOWS_FEATURE_SPEC = {**probe_argument_spec(), **feature_argument_spec()}


class ActionModule(ConvergeAction):
    """Install or remove Windows features on the task's Windows host."""

    ARGUMENT_SPEC = WINDOWS_FEATURE_SPEC

    def convergence(self, args: dict[str, Any]) -> Convergence:
        names = validate_feature_args(args)
        return Convergence(
            read_script="windows_feature_read",
            read_params=read_params(names, args),
            plan=lambda reply: plan_features(parse_feature_state(reply, names), args),
            apply_script="windows_feature_apply",
            apply_params={},
        )
