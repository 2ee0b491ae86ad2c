"""repository_folder's documentation is its argument spec's, and its examples pass the spec and the input checks."""

from __future__ import annotations

import pytest
import yaml
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.backup.hyperv.plugins.action.repository_folder import REPOSITORY_FOLDER_SPEC
from ansible_collections.backup.hyperv.plugins.modules import repository_folder
from ansible_collections.backup.hyperv.plugins.plugin_utils.desired_state.repository_folder import (
    names_to_translate,
    repository_folder_argument_spec,
    validate_folder_args,
)

DOCUMENTED = yaml.safe_load(repository_folder.DOCUMENTATION)["options"]
EXAMPLES = yaml.safe_load(repository_folder.EXAMPLES)


@pytest.mark.parametrize("name", sorted(repository_folder_argument_spec()))
def test_each_option_is_documented_as_the_spec_defines_it(name):
    spec, documented = repository_folder_argument_spec()[name], DOCUMENTED[name]
    for key in ("type", "default", "choices", "elements", "required"):
        assert documented.get(key) == spec.get(key), (name, key)


def test_the_module_documents_no_option_the_spec_lacks():
    assert set(DOCUMENTED) == set(repository_folder_argument_spec())


@pytest.mark.parametrize("task", EXAMPLES, ids=[task["name"] for task in EXAMPLES])
def test_each_example_passes_the_spec_and_the_input_checks(task):
    result = ArgumentSpecValidator(REPOSITORY_FOLDER_SPEC).validate(task["backup.hyperv.repository_folder"])
    assert not result.error_messages, result.error_messages
    assert validate_folder_args(result.validated_parameters).endswith("repo")
    names_to_translate(result.validated_parameters)
