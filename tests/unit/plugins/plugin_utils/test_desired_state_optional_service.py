"""A component without a service: files, record and firewall rule only; a service it once had is removed.

The data mover runs per job (data_mover_run.ps1), so its manifest entry declares no service. A service
an earlier manifest declared is known by the record's ``Service`` value and the read's ``FormerService``.
"""

from __future__ import annotations

import copy

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_desired_state_components import RAW_MANIFEST, actions, fixture

from ansible_collections.backup.hyperv.plugins.plugin_utils.desired_state.components import (
    parse_components_state,
    plan_components,
    read_params,
)
from ansible_collections.backup.hyperv.plugins.plugin_utils.desired_state.manifest import validate_manifest

OLD_SERVICE = "BackupHyperVDataMover"


def without_service(raw: dict) -> dict:
    """The fixture manifest with the data mover (components[1]) declaring no service."""
    manifest = copy.deepcopy(raw)
    del manifest["components"][1]["service"]
    return manifest


MANIFEST = validate_manifest(without_service(RAW_MANIFEST))


def reply(name: str, record_service: str | None = OLD_SERVICE, declared: bool = False) -> dict:
    """A recorded read reply as the read answers MANIFEST: the data mover's service is a former one."""
    data = copy.deepcopy(fixture(f"proxy_components_read_{name}.json")["stdout"])
    mover = data["components"][1]
    if mover.get("Record"):
        mover["Record"]["Service"] = record_service
    for item in data["components"]:
        if item.get("Record") and item["Service"] and "Service" not in item["Record"]:
            item["Record"]["Service"] = item["Service"]["Name"]
    if not declared:
        mover["FormerService"], mover["Service"] = mover["Service"], None
    return data


def test_manifest_without_service_validates_to_none():
    assert MANIFEST["components"][1]["service"] is None
    assert MANIFEST["components"][0]["service"]["name"] == "BackupHyperVInstaller"


def test_read_params_ask_for_no_service():
    params = read_params(MANIFEST)["Components"][1]
    assert params["Service"] is None and params["Parameters"] == []
    assert params["FirewallRule"] == "BackupHyperV-DataMover-TCP-In"


def test_fresh_install_is_files_record_and_firewall_rule_only():
    plan = plan_components(
        parse_components_state(fixture("proxy_components_read_fresh_host.json")["stdout"]), MANIFEST, "present"
    )
    mover = [step for step in actions(plan) if step[1] in ("data_mover", "BackupHyperV-DataMover-TCP-In", OLD_SERVICE)]
    assert mover == [
        ("copy_files", "data_mover"),
        ("set_component_version", "data_mover"),
        ("set_firewall_rule", "BackupHyperV-DataMover-TCP-In"),
    ]
    record = next(s["record"] for s in plan.steps if s.get("component") == "data_mover" and "record" in s)
    assert record["Service"] is None and record["Role"] == "data_mover"
    assert plan.after["components"]["data_mover"]["service"] is None


def test_converged_component_without_service_needs_no_step():
    current = parse_components_state(reply("converged", record_service=None))
    current["components"]["data_mover"]["former_service"] = None
    assert plan_components(current, MANIFEST, "present").steps == []


def test_service_an_earlier_manifest_declared_is_stopped_and_removed():
    plan = plan_components(parse_components_state(reply("converged")), MANIFEST, "present")
    assert plan.steps == [
        {"action": "stop_service", "name": OLD_SERVICE},
        {"action": "remove_service", "name": OLD_SERVICE},
        {
            "action": "set_component_version",
            "component": "data_mover",
            "version": "0.1.0",
            "record": {**plan.before["components"]["data_mover"]["record"], "Service": None},
        },
    ]
    assert plan.before["components"]["data_mover"]["former_service"]["name"] == OLD_SERVICE
    assert plan.after["components"]["data_mover"]["former_service"] is None


def test_stopped_former_service_is_only_removed():
    current = parse_components_state(reply("converged"))
    current["components"]["data_mover"]["former_service"]["state"] = "stopped"
    assert actions(plan_components(current, MANIFEST, "present")) == [
        ("remove_service", OLD_SERVICE),
        ("set_component_version", "data_mover"),
    ]


def test_renamed_service_replaces_the_one_the_record_names():
    manifest = copy.deepcopy(RAW_MANIFEST)
    manifest["components"][1]["service"]["name"] = "BackupHyperVMover2"
    current = parse_components_state(reply("converged"))  # BackupHyperVMover2 does not exist yet
    steps = actions(plan_components(current, validate_manifest(manifest), "present"))
    assert steps[:2] == [("stop_service", OLD_SERVICE), ("remove_service", OLD_SERVICE)]
    assert ("create_service", "BackupHyperVMover2") in steps and ("start_service", "BackupHyperVMover2") in steps


def test_absent_removes_a_former_service_too():
    plan = plan_components(parse_components_state(reply("converged")), MANIFEST, "absent")
    mover = actions(plan)[4:]  # after the integration component's four steps
    assert mover[:3] == [
        ("stop_service", OLD_SERVICE),
        ("remove_service", OLD_SERVICE),
        ("remove_firewall_rule", "BackupHyperV-DataMover-TCP-In"),
    ]
    assert plan.after["components"]["data_mover"] == {
        "version": None,
        "record": None,
        "files": {path: None for path in plan.after["components"]["data_mover"]["files"]},
        "service": None,
        "former_service": None,
        "firewall": None,
    }


@pytest.mark.parametrize("state_wanted", ["present", "absent"])
def test_check_mode_plan_shows_the_former_service_leaving(state_wanted):
    plan = plan_components(parse_components_state(reply("converged")), MANIFEST, state_wanted)
    assert plan.changed and plan.before != plan.after


@settings(max_examples=60, deadline=None)
@given(
    name=st.sampled_from(["converged", "fresh_host", "data_mover_drifted"]),
    record_service=st.sampled_from([None, OLD_SERVICE, "Elsewhere"]),
    former_state=st.sampled_from([None, "running", "stopped"]),
    state_wanted=st.sampled_from(["present", "absent"]),
)
def test_idempotence_law_without_service(name, record_service, former_state, state_wanted):
    current = parse_components_state(reply(name, record_service))
    former = current["components"]["data_mover"].get("former_service")
    if former and former_state:
        former["state"] = former_state
    plan = plan_components(current, MANIFEST, state_wanted)
    again = plan_components(plan.after, MANIFEST, state_wanted)
    assert again.steps == [] and again.after == plan.after
