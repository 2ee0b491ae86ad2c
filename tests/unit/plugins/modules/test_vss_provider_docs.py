"""vss_provider's documented tasks are valid, and the password rotation path is shown and works.

Sources: the module's EXAMPLES and the YAML blocks of the vss_provider section of docs/installs.md.
Each task's options must pass the action's argument spec and its input checks; one task in each
source must be the rotation (update_password=always), and planning it against a host that is
already installed and configured must run the configuration tool, which on_create would not.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.backup.hyperv.plugins.action.vss_provider import VSS_PROVIDER_SPEC
from ansible_collections.backup.hyperv.plugins.modules import vss_provider
from ansible_collections.backup.hyperv.plugins.plugin_utils.desired_state.provider import (
    PROVIDER_REQUIRED_BY,
    PROVIDER_REQUIRED_IF,
    PROVIDER_REQUIRED_TOGETHER,
    parse_provider_state,
    plan_provider,
    validate_provider_args,
)

REPO_ROOT = Path(__file__).resolve().parents[4]
FIXTURES = REPO_ROOT / "tests" / "unit" / "fixtures"
MODULE = "backup.hyperv.vss_provider"


def installs_md_tasks() -> list[dict]:
    text = (REPO_ROOT / "docs" / "installs.md").read_text(encoding="utf-8")
    section = text.split("## `backup.hyperv.vss_provider`", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```yaml\n(.*?)```", section, flags=re.DOTALL)
    return [task for block in blocks for task in yaml.safe_load(block)]


SOURCES = {
    "EXAMPLES": yaml.safe_load(vss_provider.EXAMPLES),
    "docs/installs.md": installs_md_tasks(),
}


def validated(options: dict) -> dict:
    """The options as the action sees them after validate_argument_spec, or a failed assertion."""
    validator = ArgumentSpecValidator(
        VSS_PROVIDER_SPEC,
        required_if=PROVIDER_REQUIRED_IF,
        required_together=PROVIDER_REQUIRED_TOGETHER,
        required_by=PROVIDER_REQUIRED_BY,
    )
    result = validator.validate(options)
    assert not result.error_messages, result.error_messages
    validate_provider_args(result.validated_parameters)
    return result.validated_parameters


def installed_and_configured() -> dict:
    reply = json.loads((FIXTURES / "vss_provider_read_installed.json").read_text(encoding="utf-8"))["stdout"]
    return parse_provider_state(reply)


@pytest.mark.parametrize("source", SOURCES)
def test_every_documented_task_passes_the_argument_spec(source):
    tasks = [task[MODULE] for task in SOURCES[source] if MODULE in task]
    assert tasks
    for options in tasks:
        validated(options)


@pytest.mark.parametrize("source", SOURCES)
def test_the_rotation_task_runs_the_configuration_tool_on_a_configured_host(source):
    rotations = [task[MODULE] for task in SOURCES[source] if task.get(MODULE, {}).get("update_password") == "always"]
    assert len(rotations) == 1, f"{source} shows no password rotation (update_password: always)"
    options = validated(rotations[0])
    current = installed_and_configured()
    assert [step["action"] for step in plan_provider(current, options).steps] == [
        "configure_provider",
        "verify_provider",
    ]
    assert plan_provider(current, {**options, "update_password": "on_create"}).steps == []
