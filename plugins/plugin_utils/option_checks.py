"""A task's options checked on the controller before the task runs: a playbook asks here what a module's argument
spec would refuse, so that a run refuses bad variables before it changes anything on a host
(``backup_option_problems``, ``vm_restore_option_problems``)."""

from __future__ import annotations

from typing import Any

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator


def spec_problems(spec: dict[str, Any], params: dict[str, Any], **rules: Any) -> tuple[list[str], dict[str, Any]]:
    """The argument spec's refusals of ``params`` (as Ansible words them for the module), and the validated values."""
    result = ArgumentSpecValidator(spec, **rules).validate(params)
    return list(result.error_messages), result.validated_parameters
