"""Action plugin of ``backup.hyperv.repository_folder``: the repository folder exists and only SYSTEM,
Administrators and the named principals may use it.

Reads the folder, its owner and DACL (SDDL) and the principals' SIDs (repository_folder_read.ps1), plans in
Python (``desired_state.repository_folder``), and applies only the difference (repository_folder_apply.ps1).
"""

from __future__ import annotations

from typing import Any

from ansible_collections.backup.hyperv.plugins.plugin_utils.argspec import probe_argument_spec
from ansible_collections.backup.hyperv.plugins.plugin_utils.desired_state.converge import ConvergeAction, Convergence
from ansible_collections.backup.hyperv.plugins.plugin_utils.desired_state.repository_folder import (
    names_to_translate,
    plan_folder,
    read_params,
    repository_folder_argument_spec,
    validate_folder_args,
)

REPOSITORY_FOLDER_SPEC = {**probe_argument_spec(), **repository_folder_argument_spec()}


class ActionModule(ConvergeAction):
    """Create the repository folder on the task's Windows host and give it its protected DACL."""

    ARGUMENT_SPEC = REPOSITORY_FOLDER_SPEC

    def convergence(self, args: dict[str, Any]) -> Convergence:
        path = validate_folder_args(args)
        return Convergence(
            read_script="repository_folder_read",
            read_params=read_params(path, names_to_translate(args)),
            plan=lambda reply: plan_folder(reply, args),
            apply_script="repository_folder_apply",
            apply_params={},
        )
