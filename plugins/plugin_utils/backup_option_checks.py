"""backup.yml's run variables checked by the code of the tasks that take them (``backup_option_problems``, the
filter of the same name): a volume group's tasks pass these variables to ``group_snapshot`` and ``data_mover``,
which would otherwise refuse a bad value only after the group's recovery checkpoints and shadow copy set were made,
once per group. Each value is checked by the task's argument spec, then its own checks, so no rule is written twice.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ansible.module_utils.parsing.convert_bool import boolean

from ansible_collections.backup.hyperv.plugins.module_utils.datamover.argspec import ARGUMENT_SPEC, VALIDATION
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.base.errors import DataMoverError
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.settings import DataMoverOptions
from ansible_collections.backup.hyperv.plugins.plugin_utils.data_mover_job import JobOptionError, server_params
from ansible_collections.backup.hyperv.plugins.plugin_utils.group_snapshot import (
    GROUP_SNAPSHOT_REQUIRED_IF,
    check_group_args,
    group_snapshot_full_spec,
)
from ansible_collections.backup.hyperv.plugins.plugin_utils.option_checks import spec_problems
from ansible_collections.backup.hyperv.plugins.plugin_utils.shadow_copy import ShadowCopyError
from ansible_collections.backup.hyperv.plugins.plugin_utils.windows_path import WindowsPathError

# backup.yml variable -> the option of the task it sets (playbooks/backup.yml, playbooks/tasks/backup_group.yml)
DATA_MOVER_VARIABLES = {
    "backup_block_size": "block_size",
    "backup_compression": "compression",
    "backup_encryption": "encryption",
    "backup_lock_timeout": "lock_timeout",
    "backup_data_mover_idle": "server_idle",
}
GROUP_SNAPSHOT_VARIABLES = {
    "backup_vss_wait_timeout": "vss_wait_timeout",
    "backup_expose_root": "expose_root",
    "backup_metadata_dir": "metadata_dir",
    "backup_crash_consistent_fallback": "crash_consistent_fallback",
}
BOOLEAN_VARIABLES = ("backup_rct_audit",)  # read with `| bool` by the playbook, which takes any text as false
# A stand-in for what the run decides itself (the job's entries, the group's VMs): only the variables are checked.
_JOB = {"operation": "backup", "jobs": [{"vm": "check", "sources": ["C:\\check\\check.vhdx"]}]}
_GROUP = {"state": "present", "vms": ["check"]}


def _data_mover_problem(option: str, value: Any, repository: str) -> list[str]:
    """What ``data_mover`` says of ``option: value`` in a backup job, before it sends anything."""
    params = {**_JOB, "repository": repository, option: value}
    problems, validated = spec_problems(ARGUMENT_SPEC, params, **VALIDATION)
    if problems:
        return problems
    try:
        DataMoverOptions.from_params(validated, check_mode=True)
        server_params(validated.get("server_idle"), False)
    except (DataMoverError, JobOptionError) as exc:
        return [str(exc)]
    return []


def _group_snapshot_problem(option: str, value: Any) -> list[str]:
    """What ``group_snapshot`` says of ``option: value`` with ``state: present``, before it sends anything."""
    params = {**_GROUP, option: value}
    problems, validated = spec_problems(group_snapshot_full_spec(), params, required_if=GROUP_SNAPSHOT_REQUIRED_IF)
    if problems:
        return problems
    try:
        check_group_args(validated)
    except (ShadowCopyError, WindowsPathError, ValueError) as exc:
        return [str(exc)]
    return []


def _boolean_problems(options: Mapping[str, Any]) -> list[str]:
    problems = []
    for name in BOOLEAN_VARIABLES:
        if options.get(name) is None:
            continue
        try:
            boolean(options[name], strict=True)
        except TypeError:
            problems.append(f"{name} must be true or false (got {options[name]!r})")
    return problems


def backup_option_problems(options: Mapping[str, Any]) -> list[str]:
    """One message per run variable (``{name: value}``, None for unset) that its task would refuse, naming it. Each
    is checked alone, so that every wrong variable is named at once, not the first of them."""
    repository = str(options.get("backup_repository") or "C:\\check")
    problems = []
    for name, option in DATA_MOVER_VARIABLES.items():
        if options.get(name) is not None:
            problems += [f"{name}: {message}" for message in _data_mover_problem(option, options[name], repository)]
    for name, option in GROUP_SNAPSHOT_VARIABLES.items():
        if options.get(name) is not None:
            problems += [f"{name}: {message}" for message in _group_snapshot_problem(option, options[name])]
    return problems + _boolean_problems(options)
