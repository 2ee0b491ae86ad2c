"""group_snapshot's documentation matches its action: the options (types, defaults, choices) and the examples."""

from __future__ import annotations

import yaml
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.backup.hyperv.plugins.doc_fragments import vss_creation
from ansible_collections.backup.hyperv.plugins.modules import group_snapshot
from ansible_collections.backup.hyperv.plugins.plugin_utils.group_snapshot import (
    GROUP_SNAPSHOT_REQUIRED_IF,
    check_group_args,
    group_snapshot_argument_spec,
)

DOCUMENTATION = yaml.safe_load(group_snapshot.DOCUMENTATION)
VSS_CREATION = yaml.safe_load(vss_creation.ModuleDocFragment.DOCUMENTATION)


def test_every_option_of_the_spec_is_documented_with_its_type_default_and_choices():
    assert "backup.hyperv.vss_creation" in DOCUMENTATION["extends_documentation_fragment"]
    documented = {**DOCUMENTATION["options"], **VSS_CREATION["options"]}
    spec = group_snapshot_argument_spec()
    assert set(documented) == set(spec)  # the probe options come from the backup.hyperv.probe fragment
    for name, option in spec.items():
        assert documented[name]["type"] == option["type"], name
        assert documented[name].get("default") == option.get("default"), name
        assert documented[name].get("choices") == option.get("choices"), name
        assert set(documented[name].get("suboptions") or {}) == set(option.get("options") or {}), name


def test_every_example_passes_the_argument_spec_and_the_input_checks():
    validator = ArgumentSpecValidator(group_snapshot_argument_spec(), required_if=GROUP_SNAPSHOT_REQUIRED_IF)
    for task in yaml.safe_load(group_snapshot.EXAMPLES):
        arguments = {
            key: value if "{{" not in str(value) else _placeholder(key)
            for key, value in task["backup.hyperv.group_snapshot"].items()
        }
        result = validator.validate(arguments)
        assert not result.error_messages, (task["name"], result.error_messages)
        check_group_args(result.validated_parameters)


def _placeholder(option: str) -> object:
    """A value of the shape a templated option has once the earlier task's result is filled in."""
    copy = {"shadow_id": "{6b0d3c1e-2a4f-4d8b-8e1f-3c5a7b9d0e21}", "alias": "Vol1"}
    return {
        "snapshot_set_id": "{1f0e8d2a-7c41-4b3e-9a55-0d6c2e9b1a77}",
        "shadow_copies": [copy],
        "release": {"web01": {"keep": "Microsoft:6B0D3C1E"}},
    }[option]
