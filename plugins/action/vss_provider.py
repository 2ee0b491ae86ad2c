"""Action plugin of ``backup.hyperv.vss_provider``: install, configure and verify a VSS hardware provider (R11).

Reads the host (vss_provider_read.ps1), plans in Python (``desired_state.provider``), and applies
only the difference (vss_provider_apply.ps1). The array password travels as a stdin parameter
of the apply script only; it is never in a step, the diff or the result.
"""

from __future__ import annotations

from typing import Any

from ansible_collections.backup.hyperv.plugins.plugin_utils.argspec import probe_argument_spec
from ansible_collections.backup.hyperv.plugins.plugin_utils.desired_state.converge import ConvergeAction, Convergence
from ansible_collections.backup.hyperv.plugins.plugin_utils.desired_state.provider import (
    PROVIDER_REQUIRED_BY,
    PROVIDER_REQUIRED_IF,
    PROVIDER_REQUIRED_TOGETHER,
    parse_provider_state,
    plan_provider,
    provider_argument_spec,
    read_params,
    validate_provider_args,
)

VSS_PROVIDER_SPEC = {**probe_argument_spec(), **provider_argument_spec()}


class ActionModule(ConvergeAction):
    """Converge one vendor VSS hardware provider on the task's Windows host."""

    ARGUMENT_SPEC = VSS_PROVIDER_SPEC
    SPEC_RULES = {
        "required_if": PROVIDER_REQUIRED_IF,
        "required_together": PROVIDER_REQUIRED_TOGETHER,
        "required_by": PROVIDER_REQUIRED_BY,
    }

    def convergence(self, args: dict[str, Any]) -> Convergence:
        validate_provider_args(args)
        password = args.get("array_password")
        return Convergence(
            read_script="vss_provider_read",
            read_params={**read_params(args), "ProbeTimeout": args["probe_timeout"]},
            plan=lambda reply: plan_provider(parse_provider_state(reply), args),
            apply_script="vss_provider_apply",
            apply_params={"Password": password},
            secrets=[password] if password else [],
        )
