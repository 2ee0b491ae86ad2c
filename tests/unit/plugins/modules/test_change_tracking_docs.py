"""change_tracking's documentation matches its action: the options, the examples, and every key it returns."""

from __future__ import annotations

import yaml
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.backup.hyperv.plugins.modules import change_tracking
from ansible_collections.backup.hyperv.plugins.plugin_utils.change_tracking import (
    CHANGE_TRACKING_REQUIRED_IF,
    change_tracking_argument_spec,
    check_args,
    checkpoint_check_mode,
    reference_check_mode,
    release_check_mode,
)

DOCUMENTATION = yaml.safe_load(change_tracking.DOCUMENTATION)
RETURN = yaml.safe_load(change_tracking.RETURN)


def test_every_option_of_the_spec_is_documented_with_its_type_and_default():
    documented = DOCUMENTATION["options"]
    spec = change_tracking_argument_spec()
    assert set(documented) == set(spec)  # the probe options come from the backup.hyperv.probe fragment
    for name, option in spec.items():
        assert documented[name]["type"] == option["type"], name
        assert documented[name].get("default") == option.get("default"), name
        assert documented[name].get("choices") == option.get("choices"), name


def test_every_example_passes_the_argument_spec_and_the_input_checks():
    validator = ArgumentSpecValidator(change_tracking_argument_spec(), required_if=CHANGE_TRACKING_REQUIRED_IF)
    for task in yaml.safe_load(change_tracking.EXAMPLES):
        result = validator.validate(task["backup.hyperv.change_tracking"])
        assert not result.error_messages, (task["name"], result.error_messages)
        check_args(result.validated_parameters)


def test_every_returned_key_is_documented():
    """The check-mode results have every key a real run returns (the action tests pin the real shapes)."""
    vms = RETURN["vms"]["contains"]
    checkpoint = checkpoint_check_mode({"vms": ["web01"], "since": {"web01": {"web01.vhdx": "rct:1"}}})
    reference = reference_check_mode({"checkpoints": {"web01": "x"}})
    release = release_check_mode({"release": {"web01": {}}})
    for result in (checkpoint, reference, release):
        assert set(result) - {"changed"} <= set(RETURN)
    assert set(checkpoint["vms"]["web01"]) | set(reference["vms"]["web01"]) <= set(vms)
    disk_words = vms["disks"]["description"][0]
    assert all(f"C({key})" in disk_words for key in checkpoint["vms"]["web01"]["disks"][0])
