"""Handler inputs bound as PowerShell binds them (issue 19): before a handler runs, the lab binds the request's
params to the script's own param() block (`lab.handlers.binding`), so a request Windows PowerShell 5.1 would refuse
fails with its parameter binding message, and the handler sees the values the script would hold."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from lab_testkit import ESTATES, ProvisionedLab

# isort: split
from lab.collection import run_collection_request
from lab.estate.loader import load_estate
from lab.handlers.binding import param_block

from ansible_collections.backup.hyperv.plugins.plugin_utils._pwsh import build_request

ROOT = "C:\\ProgramData\\backup.hyperv\\shadow"
CSV = "C:\\ClusterStorage\\Volume1\\"
READ = {"MetadataDir": ROOT, "ExposeRoot": ROOT}


@pytest.fixture
def lab(tmp_path: Path) -> ProvisionedLab:
    return ProvisionedLab(load_estate(ESTATES / "healthy.yml"), tmp_path / "lab")


def run(lab: ProvisionedLab, host: str, name: str, params: dict) -> tuple[int, dict]:
    """The collection's script as `_pwsh.py` sends it, answered by the lab: (exit code, reply)."""
    outcome = run_collection_request(lab.contexts[host], build_request(name, params).decode().splitlines())
    return outcome.exit_code, json.loads(outcome.output[0])


def refused(lab: ProvisionedLab, host: str, name: str, params: dict) -> tuple[str, str]:
    code, reply = run(lab, host, name, params)
    assert code == 1 and reply["failed"] is True, reply
    return reply["msg"], reply["category"]


def test_a_name_the_script_does_not_declare_fails(lab):
    msg, category = refused(lab, "px1", "shadow_copy_release", {"ShadowIdz": ["{x}"]})
    assert (msg, category) == (
        "A parameter cannot be found that matches parameter name 'ShadowIdz'.",
        "InvalidArgument",
    )


def test_names_are_case_blind_as_in_powershell(lab):
    code, reply = run(lab, "px1", "shadow_copy_read", {"metadatadir": ROOT, "EXPOSEROOT": ROOT})
    assert code == 0 and reply["shadows"] == [], reply


def test_a_mandatory_parameter_left_out_fails(lab):
    msg, category = refused(lab, "px1", "shadow_copy_read", {"MetadataDir": ROOT})
    assert msg == "Cannot process command because of one or more missing mandatory parameters: ExposeRoot."
    assert category == "InvalidArgument"


def test_null_for_a_mandatory_string_fails_as_the_empty_string_it_converts_to(lab):
    """PowerShell converts before it validates: $null for a [string] is "" (ParameterBinderBase)."""
    msg, _ = refused(lab, "px1", "shadow_copy_read", {**READ, "MetadataDir": None})
    assert msg == "Cannot bind argument to parameter 'MetadataDir' because it is an empty string."


def test_null_for_a_mandatory_array_fails(lab):
    msg, _ = refused(lab, "px1", "proxy_package_apply", {"Steps": None})
    assert msg == "Cannot bind argument to parameter 'Steps' because it is null."


def test_a_null_element_of_a_mandatory_array_fails(lab):
    msg, _ = refused(lab, "px1", "proxy_package_apply", {"Steps": [None]})
    assert msg == "Cannot bind argument to parameter 'Steps' because it is null."


def test_an_empty_element_of_a_mandatory_string_array_fails(lab):
    msg, _ = refused(lab, "px1", "windows_feature_read", {"Name": ["Hyper-V", None]})
    assert msg == "Cannot bind argument to parameter 'Name' because it is an empty string."


def test_an_empty_string_for_a_mandatory_string_fails(lab):
    msg, _ = refused(lab, "px1", "shadow_copy_import", {"SnapshotSetId": "", "Metadata": "TVND"})
    assert msg == "Cannot bind argument to parameter 'SnapshotSetId' because it is an empty string."


def test_an_empty_array_for_a_mandatory_array_fails(lab):
    msg, _ = refused(lab, "px1", "windows_feature_read", {"Name": []})
    assert msg == "Cannot bind argument to parameter 'Name' because it is an empty array."


def test_a_string_for_a_bool_fails_instead_of_reading_as_true(lab):
    params = {
        "Volumes": [{"Path": CSV, "Alias": "Vol1"}],
        "MetadataDir": ROOT,
        "Transportable": "false",
        "InProgressTimeoutSeconds": 600,
    }
    msg, _ = refused(lab, "hv1", "shadow_copy_create", params)
    assert msg == (
        "Cannot process argument transformation on parameter 'Transportable'. Cannot convert value "
        '"System.String" to type "System.Boolean". Boolean parameters accept only Boolean values and numbers, '
        "such as $True, $False, 1 or 0."
    )


def test_a_word_for_an_int_fails(lab):
    msg, _ = refused(lab, "px1", "data_mover_poll", {"JobId": "0" * 32, "WaitSeconds": "soon"})
    assert msg == (
        "Cannot process argument transformation on parameter 'WaitSeconds'. Cannot convert value \"soon\" to type "
        '"System.Int32". Error: "Input string was not in a correct format."'
    )


def test_a_value_outside_validate_pattern_fails(lab):
    msg, _ = refused(lab, "px1", "data_mover_poll", {"JobId": "job-1"})
    assert msg == (
        "Cannot validate argument on parameter 'JobId'. The argument \"job-1\" does not match the "
        '"^[0-9a-f]{32}$" pattern. Supply an argument that matches "^[0-9a-f]{32}$" and try the command again.'
    )


def test_a_value_outside_validate_set_fails_before_the_handler_runs(lab):
    """Without the set an unknown Mode read as attach (the script's else branch): now PowerShell refuses it."""
    params = {"Vm": "vm1", "Path": "C:\\Restore\\d.vhdx", "Mode": "swap", "ControllerType": "scsi"}
    msg, _ = refused(lab, "hv1", "vm_disk_restore_apply", params)
    assert msg == (
        "Cannot validate argument on parameter 'Mode'. The argument \"swap\" does not belong to the set "
        '"replace,attach" specified by the ValidateSet attribute. Supply an argument that is in the set and then '
        "try the command again."
    )
    msg, _ = refused(lab, "hv1", "vm_restore_read", {"Vm": "vm1", "Location": "elsewhere"})
    assert msg.startswith("Cannot validate argument on parameter 'Location'. The argument \"elsewhere\" does not")


def test_a_number_outside_validate_range_fails_before_the_handler_runs(lab):
    params = {"JobId": "0" * 32, "Options": "{}", "ServerIdleSeconds": 86401}
    msg, _ = refused(lab, "px1", "data_mover_start", params)
    assert msg == (
        "Cannot validate argument on parameter 'ServerIdleSeconds'. The 86401 argument is greater than the maximum "
        "allowed range of 86400. Supply an argument that is less than or equal to 86400 and then try the command "
        "again."
    )


def test_a_scalar_for_a_string_array_reaches_the_handler_as_one_element(lab):
    """[string[]] takes one string as a one-element array: the handler sees the list the script would."""
    made = lab.call(
        "hv1",
        "shadow_copy_create",
        {"Volumes": [{"Path": CSV, "Alias": "Vol1"}], "MetadataDir": ROOT, "InProgressTimeoutSeconds": 600},
    )
    shadow_id = made["Shadows"][0]["ShadowId"]
    path = f"{ROOT}\\{made['SnapshotSetId'].strip('{}')}\\Vol1"
    imported = {"SnapshotSetId": made["SnapshotSetId"], "Metadata": made["Metadata"]}
    lab.call("px1", "shadow_copy_import", {**imported, "Expose": [{"ShadowId": shadow_id, "Path": path}]})
    code, reply = run(lab, "px1", "shadow_copy_release", {"ExposedPaths": path, "ShadowIds": shadow_id})
    assert code == 0 and (reply["unexposed"], reply["deleted"]) == (1, 1), reply


def test_the_param_block_is_read_from_the_script():
    block = param_block(
        "[CmdletBinding()]\nparam(\n    [Parameter(Mandatory = $true)][ValidatePattern('^[a-z]+$')][string]$Id,"
        "\n    [int[]]$Sizes = @(1, 2),\n    [bool]$Force = $false  # a comment, with a comma\n)"
        "\nfunction F { param($x) }"
    )
    assert block is not None and block.advanced
    assert [(p.name, p.type, p.mandatory, p.pattern) for p in block.parameters.values()] == [
        ("Id", "string", True, "^[a-z]+$"),
        ("Sizes", "int[]", False, None),
        ("Force", "bool", False, None),
    ]
    assert param_block("function F { param($x) }\nF 1") is None
