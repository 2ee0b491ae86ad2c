"""validate_manifest: defaults filled in, and a bad field named in the error; recovery_terms."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from ansible_collections.backup.hyperv.plugins.plugin_utils.desired_state.manifest import (
    ManifestError,
    validate_manifest,
)
from ansible_collections.backup.hyperv.plugins.plugin_utils.desired_state.manifest_spec import DEFAULT_RECOVERY
from ansible_collections.backup.hyperv.plugins.plugin_utils.desired_state.plan import same_version
from ansible_collections.backup.hyperv.plugins.plugin_utils.desired_state.recovery import (
    recovery_terms,
)

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
RAW = json.loads((FIXTURES / "proxy_components_manifest_default.json").read_text(encoding="utf-8"))["manifest"]

MINIMAL = {
    "components": [
        {
            "name": "data_mover",
            "version": "1",
            "source": "C:/staging/dm/",
            "destination": "D:\\DataMover",
            "files": ["bin/dm.exe"],
            "service": {"name": "DM", "binary_path": "D:\\DataMover\\bin\\dm.exe"},
        }
    ]
}


def test_defaults_are_filled_in():
    component = validate_manifest(MINIMAL)["components"][0]
    assert component["role"] == "other" and component["firewall"] is None
    assert component["source"] == "C:\\staging\\dm" and component["files"][0]["path"] == "bin\\dm.exe"
    service = component["service"]
    assert (service["start_mode"], service["account"], service["state"]) == ("auto", "LocalSystem", "running")
    assert service["recovery"] == DEFAULT_RECOVERY and service["display_name"] == "DM"


def test_default_manifest_names_the_collections_three_services():
    services = {c["role"]: c["service"]["name"] for c in validate_manifest(RAW)["components"]}
    assert services == {
        "installer": "BackupHyperVInstaller",
        "data_mover": "BackupHyperVDataMover",
        "hyperv_integration": "BackupHyperVIntegration",
    }


@pytest.mark.parametrize(
    "files", [["BackupHyperVDataMover.exe", "datamover.pyz"], ["python\\python.exe", "engine.zip"]]
)
def test_a_data_mover_component_names_its_runtime_and_engine(files):
    # data_mover_run.ps1 starts <runtime> <engine> from the record the install writes: both must be known.
    manifest = copy.deepcopy(RAW)
    manifest["components"][1]["files"] = files
    message = r"manifest\.components\[1\]\.files: a data_mover component must list the Python runtime"
    with pytest.raises(ManifestError, match=message):
        validate_manifest(manifest)
    manifest["components"][1]["role"] = "other"  # only the data mover's files are read that way
    assert validate_manifest(manifest)["components"][1]["role"] == "other"


def test_account_spellings_become_the_one_windows_reports():
    manifest = copy.deepcopy(MINIMAL)
    manifest["components"][0]["service"]["account"] = "networkservice"
    assert validate_manifest(manifest)["components"][0]["service"]["account"] == "NT AUTHORITY\\NetworkService"


def _broken(path: str, value: object) -> dict:
    manifest = copy.deepcopy(MINIMAL)
    *parents, last = path.split(".")
    target = manifest["components"][0]
    for key in parents:
        target = target[key]
    target[last] = value
    return manifest


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        # ansible-core's messages, prefixed with the place (core's own name no list index)
        (
            "service.start_mode",
            "sometimes",
            r"^manifest\.components\[0\]\.service: value of start_mode must be one of: auto, delayed_auto, manual, "
            r"disabled, got: sometimes$",
        ),
        (
            "service.strat_mode",
            "auto",
            r"^manifest\.components\[0\]\.service: unknown field strat_mode\. Supported parameters include: account,",
        ),
        ("service.dependencies", {"RpcSs": 1}, r"service: argument 'dependencies' is of type dict .* convert to list"),
        ("service", "DM", r"components\[0\]: argument 'service' is of type str .* convert to dict"),
        ("firewall", {"name": "r", "local_port": "6170/tcp"}, r"firewall: argument 'local_port' is of type str"),
        ("firewall", {"name": "r"}, r"components\[0\]\.firewall: missing required arguments: local_port"),
        ("firewall", {"name": "r", "local_port": 1, "protocol": "ICMP"}, r"value of protocol must be one of: TCP, UDP"),
        ("firewall", {"name": "r", "local_port": 1, "profiles": ["Domain"]}, r"value of profiles must be one or more"),
        (
            "service.recovery",
            {"actions": [{"type": "explode"}]},
            r"recovery\.actions\[0\]: value of type must be one of",
        ),
        # what ansible-core lets through
        ("version", None, r"^manifest\.components\[0\]\.version: is required and cannot be null$"),
        ("version", ["1"], r"components\[0\]\.version: must be text, got list"),
        ("version", " ", r"components\[0\]\.version: must not be empty"),
        # the rules a spec cannot express
        ("service.account", "CONTOSO\\svc", r"components\[0\]\.service\.account: must be LocalSystem"),
        ("files", [], r"^manifest\.components\[0\]\.files: must list at least one entry$"),
        ("files", ["..\\evil.exe"], r"components\[0\]\.files\[0\]\.path: must be a plain path"),
        ("files", [{"path": "a.exe", "sha256": "xyz"}], r"components\[0\]\.files\[0\]\.sha256: 'xyz' is not a SHA-256"),
        ("files", ["a.exe", "A.EXE"], r"components\[0\]\.files\[1\]\.path: 'A\.EXE' is listed twice"),
        ("source", "relative\\dir", r"components\[0\]\.source: 'relative\\\\dir' must be an absolute Windows path"),
        (
            "destination",
            "D:\\Data Mover \\",
            r"components\[0\]\.destination: the name 'Data Mover ' .* ends in a space",
        ),
        ("files", ["bin\\dm?.exe"], r"components\[0\]\.files\[0\]\.path: 'bin\\dm\?\.exe' holds '\?' in the name"),
        ("files", ["C:\\dm.exe"], r"components\[0\]\.files\[0\]\.path: must be a plain path relative"),
        ("name", "bad name", r"components\[0\]\.name: 'bad name' is not valid"),
        ("service.recovery", {"actions": [{"type": "restart"}] * 4}, r"recovery\.actions: at most 3 actions"),
        ("service.recovery", {"reset_period": -1}, r"recovery\.reset_period: must be between 0 and 4294967295"),
        ("service.parameters", {"Cbt": [1]}, r"service\.parameters\.Cbt: must be a string"),
        ("firewall", {"name": "r", "local_port": 70000}, r"firewall\.local_port: must be between 1 and 65535"),
        ("firewall", {"name": "r", "local_port": 1, "profiles": ["any", "domain"]}, r"firewall\.profiles: 'any'"),
        (
            "service.binary_path",
            "C:\\Program Files\\Agent\\agent.exe --service",
            r"binary_path: .* has a space in its executable's path and no quotes: .* Windows tries C:\\Program\.exe",
        ),
        (
            "service.binary_path",
            '"C:\\Program Files\\agent.exe --service',
            r"binary_path: .* opens a quote it does not",
        ),
        ("service.dependencies", ["RpcSs", "dm"], r"service\.dependencies: DM -> dm is a circular dependency .* 1059"),
        ("service.state", "running", None),  # valid on its own; combined below
    ],
)
def test_bad_field_is_named_and_the_manifest_is_left_as_given(path, value, message):
    manifest = _broken(path, value)
    if message is None:
        manifest["components"][0]["service"]["start_mode"] = "disabled"
        message = r"service\.state: a disabled service cannot be running"
    given = copy.deepcopy(manifest)
    with pytest.raises(ManifestError, match=message):
        validate_manifest(manifest)
    assert manifest == given


@pytest.mark.parametrize(
    ("manifest", "message"),
    [
        (None, r"^manifest: is required and cannot be null$"),
        ([], r"^argument 'manifest' is of type list"),
        ({"components": []}, r"^manifest\.components: must list at least one entry$"),
        ({"components": [1]}, r"^manifest: Elements value for option 'components' is of type int"),
        ({"extra": 1}, r"^manifest: missing required arguments: components; unknown field extra\."),
    ],
)
def test_malformed_manifest_is_rejected(manifest, message):
    with pytest.raises(ManifestError, match=message):
        validate_manifest(manifest)


def test_a_file_given_as_a_string_is_its_path():
    short = validate_manifest(MINIMAL)
    long_form = _broken("files", [{"path": "bin/dm.exe"}])
    assert validate_manifest(long_form) == short and MINIMAL["components"][0]["files"] == ["bin/dm.exe"]


def test_a_valid_manifest_is_not_changed_in_place():
    manifest = copy.deepcopy(RAW)
    validate_manifest(manifest)
    assert manifest == RAW


@pytest.mark.parametrize(
    ("component", "service", "message"),
    [
        ("Data_Mover", "other", r"^manifest\.components\[1\]\.name: 'Data_Mover' is listed twice$"),
        ("other", "dm", r"^manifest\.components\[1\]\.service\.name: 'dm' is listed twice$"),
    ],
    ids=["component", "service"],
)
def test_duplicate_names_are_rejected_without_regard_to_case(component, service, message):
    manifest = copy.deepcopy(MINIMAL)
    second = copy.deepcopy(manifest["components"][0])
    second["name"], second["service"]["name"] = component, service
    manifest["components"].append(second)
    with pytest.raises(ManifestError, match=message):
        validate_manifest(manifest)


def test_recovery_actions_as_the_read_script_reports_them():
    recovery = {
        "reset_period": 86400,
        "actions": [{"type": "restart", "delay_ms": 60000}, {"type": "reboot", "delay_ms": 0}],
        "non_crash_failures": True,
    }
    assert recovery_terms(recovery) == recovery
    none = {"reset_period": 0, "actions": [], "non_crash_failures": False}
    assert recovery_terms({"reset_period": 0, "actions": []}) == none  # a flag not read is not set


def test_an_action_type_the_collection_does_not_set_is_unknown_and_no_object_is_none():
    odd = {"reset_period": 5, "actions": [{"type": "NEUSTART", "delay_ms": 5000}]}
    assert recovery_terms(odd)["actions"] == [{"type": "unknown", "delay_ms": 5000}]
    assert recovery_terms(None) is None


@pytest.mark.parametrize(
    ("left", "right", "same"),
    [
        ("1.2", "1.2.0.0", True),
        ("1.2.1", "1.2", False),
        ("5.2.1-beta", "5.2.1-beta", True),
        (None, None, True),
        ("1", None, False),
    ],
)
def test_same_version(left, right, same):
    assert same_version(left, right) is same


@pytest.mark.parametrize(
    "binary_path",
    ['"C:\\Program Files\\Agent\\agent.exe" --service', "D:\\Agent\\agent.exe --service --port 1", "D:\\a.exe"],
)
def test_an_executable_windows_cannot_mistake_is_accepted(binary_path):
    manifest = _broken("service.binary_path", binary_path)
    assert validate_manifest(manifest)["components"][0]["service"]["binary_path"] == binary_path


def _two_services(first: dict, second: dict) -> dict:
    manifest = copy.deepcopy(MINIMAL)
    other = copy.deepcopy(manifest["components"][0])
    other["name"] = "other"
    other["service"] = {**other["service"], **second}
    manifest["components"][0]["service"].update(first)
    manifest["components"].append(other)
    return manifest


@pytest.mark.parametrize(
    ("first", "second", "message"),
    [
        (
            {"display_name": "Data Mover"},
            {"name": "DM2", "display_name": "data mover"},
            r"components\[1\]\.service\.display_name: 'data mover' is already .* 1078",
        ),
        ({"display_name": "Mover"}, {"name": "mover"}, r"components\[1\]\.service\.name: 'mover' is already"),
        ({}, {"name": "DM2", "display_name": "DM"}, r"components\[1\]\.service\.display_name: 'DM' is already"),
        (
            {"dependencies": ["DM2"]},
            {"name": "DM2", "dependencies": ["dm"]},
            r"DM -> DM2 -> dm is a circular dependency",
        ),
    ],
    ids=["display names", "name and display name", "display name and name", "cycle"],
)
def test_services_windows_would_refuse_together_are_refused(first, second, message):
    with pytest.raises(ManifestError, match=message):
        validate_manifest(_two_services(first, second))
