"""plan_components: every plan path of the proxy's components, and the idempotence law.

Current states come from recorded read replies (tests/unit/fixtures/proxy_components_read_*.json)
through parse_components_state, then are altered the way a host drifts.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ansible_collections.backup.hyperv.plugins.plugin_utils.desired_state.components import (
    parse_components_state,
    plan_components,
    read_params,
)
from ansible_collections.backup.hyperv.plugins.plugin_utils.desired_state.manifest import validate_manifest
from ansible_collections.backup.hyperv.plugins.plugin_utils.desired_state.plan import PlanError

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"


def fixture(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


RAW_MANIFEST = fixture("proxy_components_manifest_default.json")["manifest"]
MANIFEST = validate_manifest(RAW_MANIFEST)


def state(name: str) -> dict:
    return parse_components_state(fixture(f"proxy_components_read_{name}.json")["stdout"])


def actions(plan) -> list[tuple[str, str]]:
    return [(step["action"], step.get("name") or step.get("component")) for step in plan.steps]


def test_fresh_install_copies_creates_configures_and_starts_in_manifest_order():
    plan = plan_components(state("fresh_host"), MANIFEST, "present")
    assert actions(plan)[:5] == [
        ("copy_files", "installer"),
        ("set_component_version", "installer"),
        ("create_service", "BackupHyperVInstaller"),
        ("set_recovery", "BackupHyperVInstaller"),
        ("start_service", "BackupHyperVInstaller"),
    ]
    assert ("set_firewall_rule", "BackupHyperV-DataMover-TCP-In") in actions(plan)
    assert plan.steps[-2] == {
        "action": "set_service_parameters",
        "name": "BackupHyperVIntegration",
        "values": {"ChangedBlockTracking": 1},
    }
    create = next(s for s in plan.steps if s["action"] == "create_service" and s["name"] == "BackupHyperVIntegration")
    assert create["start_mode"] == "delayed_auto" and create["account"] == "LocalSystem"
    assert plan.before["components"]["installer"]["service"] is None
    assert plan.after["components"]["data_mover"]["service"]["state"] == "running"
    json.dumps(plan.steps)  # steps are serialisable as they are


def test_converged_host_needs_no_step():
    plan = plan_components(state("converged"), MANIFEST, "present")
    assert plan.steps == [] and not plan.changed
    assert plan.before == plan.after


def test_version_change_stops_copies_every_file_records_and_restarts():
    manifest = copy.deepcopy(RAW_MANIFEST)
    manifest["components"][1]["version"] = "0.2.0"
    plan = plan_components(state("converged"), validate_manifest(manifest), "present")
    assert actions(plan) == [
        ("stop_service", "BackupHyperVDataMover"),
        ("copy_files", "data_mover"),
        ("set_component_version", "data_mover"),
        ("start_service", "BackupHyperVDataMover"),
    ]
    assert plan.steps[1]["files"] == ["BackupHyperVDataMover.exe", "datamover.pyz", "python\\python.exe"]
    assert plan.after["components"]["data_mover"]["version"] == "0.2.0"


def test_stopped_service_is_started():
    current = state("converged")
    current["components"]["installer"]["service"]["state"] = "stopped"
    assert actions(plan_components(current, MANIFEST, "present")) == [("start_service", "BackupHyperVInstaller")]


@pytest.mark.parametrize(
    ("field", "value", "restart"),
    [
        ("binary_path", '"C:\\Temp\\evil.exe"', True),
        ("account", "NT AUTHORITY\\NetworkService", True),
        ("dependencies", ["RpcSs", "LanmanServer"], True),
        ("start_mode", "manual", False),
        ("display_name", "Renamed", False),
        ("description", "changed by hand", False),
    ],
)
def test_altered_service_setting_is_set_back(field, value, restart):
    current = state("converged")
    current["components"]["installer"]["service"][field] = value
    plan = plan_components(current, MANIFEST, "present")
    wanted = MANIFEST["components"][0]["service"][field]
    set_service = {"action": "set_service", "name": "BackupHyperVInstaller", "changes": {field: wanted}}
    if restart:  # the running process only picks these up when it starts again
        assert plan.steps == [
            {"action": "stop_service", "name": "BackupHyperVInstaller"},
            set_service,
            {"action": "start_service", "name": "BackupHyperVInstaller"},
        ]
    else:
        assert plan.steps == [set_service]


def test_account_and_dependencies_compare_without_case():
    current = state("converged")
    service = current["components"]["installer"]["service"]
    service["account"], service["dependencies"] = "localsystem", ["rpcss"]
    assert plan_components(current, MANIFEST, "present").steps == []


def test_altered_recovery_actions_are_set_back():
    current = state("converged")
    current["components"]["data_mover"]["service"]["recovery"] = {"reset_period": 0, "actions": []}
    plan = plan_components(current, MANIFEST, "present")
    assert plan.steps == [
        {"action": "set_recovery", "name": "BackupHyperVDataMover", **MANIFEST["components"][1]["service"]["recovery"]}
    ]


def test_recovery_without_actions_matches_whatever_reset_period_windows_reads_back():
    # `sc.exe failure <name> actions= ""` deletes the reset period with the actions (SERVICE_FAILURE_ACTIONSW): the
    # service reads back 0, and the manifest's 86400 must not set it again on every run.
    manifest = copy.deepcopy(RAW_MANIFEST)
    manifest["components"][1]["service"]["recovery"] = {"reset_period": 86400, "actions": []}
    current = state("converged")
    current["components"]["data_mover"]["service"]["recovery"] = {"reset_period": 0, "actions": []}
    assert plan_components(current, validate_manifest(manifest), "present").steps == []
    current["components"]["data_mover"]["service"]["recovery"] = {
        "reset_period": 0,
        "actions": [{"type": "restart", "delay_ms": 1}],
    }
    assert actions(plan_components(current, validate_manifest(manifest), "present")) == [
        ("set_recovery", "BackupHyperVDataMover")
    ]


def test_recovery_actions_that_would_not_run_on_a_failed_stop_are_set_again():
    # Without FailureActionsOnNonCrashFailures the actions run only when the process dies, not when the service
    # stops reporting a failure, as the installer service does when its work fails (proxy/installer/scm.py).
    current = state("converged")
    current["components"]["installer"]["service"]["recovery"]["non_crash_failures"] = False
    plan = plan_components(current, MANIFEST, "present")
    assert actions(plan) == [("set_recovery", "BackupHyperVInstaller")]
    assert plan.after["components"]["installer"]["service"]["recovery"]["non_crash_failures"] is True


@pytest.mark.parametrize("pending", ["start_pending", "stop_pending", "paused"])
def test_a_pending_or_paused_service_is_stopped_before_its_files_are_replaced(pending):
    # Its process still holds the executable and DLLs; a paused service never reaches Running on Start-Service.
    current = state("converged")
    current["components"]["data_mover"]["service"]["state"] = pending
    current["components"]["data_mover"]["files"]["datamover.pyz"]["sha256"] = "0" * 64
    plan = plan_components(current, MANIFEST, "present")
    assert [s["action"] for s in plan.steps] == ["stop_service", "copy_files", "start_service"]


@pytest.mark.parametrize(("pending", "steps"), [("start_pending", []), ("paused", ["stop_service", "start_service"])])
def test_a_service_that_should_run_is_left_starting_and_a_paused_one_restarted(pending, steps):
    current = state("converged")
    current["components"]["data_mover"]["service"]["state"] = pending
    assert [s["action"] for s in plan_components(current, MANIFEST, "present").steps] == steps


def test_cbt_parameter_turned_off_is_turned_on_with_a_restart():
    current = state("converged")
    current["components"]["hyperv_integration"]["service"]["parameters"] = {"ChangedBlockTracking": 0}
    assert plan_components(current, MANIFEST, "present").steps == [
        {"action": "stop_service", "name": "BackupHyperVIntegration"},
        {"action": "set_service_parameters", "name": "BackupHyperVIntegration", "values": {"ChangedBlockTracking": 1}},
        {"action": "start_service", "name": "BackupHyperVIntegration"},
    ]


def test_missing_firewall_rule_is_created():
    current = state("converged")
    current["components"]["data_mover"]["firewall"] = None
    plan = plan_components(current, MANIFEST, "present")
    assert plan.steps == [{"action": "set_firewall_rule", **MANIFEST["components"][1]["firewall"]}]
    assert plan.after["components"]["data_mover"]["firewall"]["local_port"] == 6170


@pytest.mark.parametrize(("field", "value"), [("enabled", False), ("local_port", 6171), ("profiles", ["any"])])
def test_altered_firewall_rule_is_replaced(field, value):
    current = state("converged")
    current["components"]["data_mover"]["firewall"][field] = value
    assert actions(plan_components(current, MANIFEST, "present")) == [
        ("set_firewall_rule", "BackupHyperV-DataMover-TCP-In")
    ]


def test_altered_file_is_copied_again_with_the_service_stopped():
    current = state("converged")
    current["components"]["data_mover"]["files"]["datamover.pyz"]["sha256"] = "0" * 64
    plan = plan_components(current, MANIFEST, "present")
    assert [s["action"] for s in plan.steps] == ["stop_service", "copy_files", "start_service"]
    assert plan.steps[1]["files"] == ["datamover.pyz"]


@pytest.mark.parametrize("wanted_state", ["present", "absent"])
def test_files_a_running_program_holds_are_neither_replaced_nor_removed(wanted_state):
    # A data mover job runs the component's python.exe (not its service, which the plan would stop first): Windows
    # refuses to replace or delete a running program's files, and the job would read an engine replaced under it.
    current = state("converged")
    current["components"]["data_mover"]["files"]["datamover.pyz"]["sha256"] = "0" * 64
    running = "C:\\Program Files\\backup.hyperv\\DataMover\\python\\python.exe (process 4100)"
    current["components"]["data_mover"]["programs"] = [running]
    with pytest.raises(PlanError, match=r"component data_mover: its files under .* would be (replaced|removed) while"):
        plan_components(current, MANIFEST, wanted_state)


def test_a_running_program_is_no_obstacle_when_no_file_changes():
    current = state("converged")
    current["components"]["data_mover"]["programs"] = ["C:\\DataMover\\python\\python.exe (process 4100)"]
    plan = plan_components(current, MANIFEST, "present")
    assert plan.steps == [] and "programs" not in plan.before["components"]["data_mover"]


def test_drifted_data_mover_recorded_reply():
    plan = plan_components(state("data_mover_drifted"), MANIFEST, "present")
    assert actions(plan) == [
        ("set_service", "BackupHyperVDataMover"),
        ("set_firewall_rule", "BackupHyperV-DataMover-TCP-In"),
        ("start_service", "BackupHyperVDataMover"),
    ]
    assert set(plan.steps[0]["changes"]) == {"binary_path", "start_mode"}


def test_file_to_copy_missing_from_source_is_an_error_naming_it():
    current = state("fresh_host")
    current["components"]["installer"]["source_files"]["BackupHyperVInstaller.exe"] = None
    with pytest.raises(PlanError, match=r"installer: BackupHyperVInstaller.exe must be copied but is missing"):
        plan_components(current, MANIFEST, "present")


def test_source_that_differs_from_the_declared_hash_is_an_error():
    manifest = copy.deepcopy(RAW_MANIFEST)
    manifest["components"][0]["files"][0] = {"path": "BackupHyperVInstaller.exe", "sha256": "a" * 64}
    with pytest.raises(PlanError, match="SHA-256"):
        plan_components(state("fresh_host"), validate_manifest(manifest), "present")


def test_wanted_stopped_service_is_stopped_and_not_started():
    manifest = copy.deepcopy(RAW_MANIFEST)
    manifest["components"][0]["service"]["state"] = "stopped"
    plan = plan_components(state("converged"), validate_manifest(manifest), "present")
    assert plan.steps == [{"action": "stop_service", "name": "BackupHyperVInstaller"}]


def test_absent_removes_everything_in_reverse_order():
    plan = plan_components(state("converged"), MANIFEST, "absent")
    assert actions(plan)[:4] == [
        ("stop_service", "BackupHyperVIntegration"),
        ("remove_service", "BackupHyperVIntegration"),
        ("remove_files", None),
        ("remove_component_version", "hyperv_integration"),
    ]
    assert ("remove_firewall_rule", "BackupHyperV-DataMover-TCP-In") in actions(plan)
    assert actions(plan)[-1] == ("remove_component_version", "installer")
    assert all(c["service"] is None for c in plan.after["components"].values())


def test_absent_when_already_absent_needs_no_step():
    assert plan_components(state("fresh_host"), MANIFEST, "absent").steps == []


def test_read_params_name_what_the_script_looks_at():
    params = read_params(MANIFEST)["Components"]
    assert [c["Service"] for c in params] == [
        "BackupHyperVInstaller",
        "BackupHyperVDataMover",
        "BackupHyperVIntegration",
    ]
    assert params[1]["FirewallRule"] == "BackupHyperV-DataMover-TCP-In" and params[0]["FirewallRule"] is None
    assert params[2]["Parameters"] == ["ChangedBlockTracking"]


# The idempotence law: whatever the host looks like, the plan's `after`, read back as the current
# state, needs no step.
SERVICE_DRIFT = {
    "state": st.sampled_from(["running", "stopped", "start_pending"]),
    "binary_path": st.sampled_from(['"C:\\x.exe"', None]),
    "start_mode": st.sampled_from(["auto", "delayed_auto", "manual", "disabled"]),
    "account": st.sampled_from(["LocalSystem", "NT AUTHORITY\\LocalService"]),
    "dependencies": st.lists(st.sampled_from(["RpcSs", "Tcpip", "vmms"]), unique=True),
    "recovery": st.sampled_from([None, {"reset_period": 0, "actions": []}]),
    "parameters": st.sampled_from([{}, {"ChangedBlockTracking": 0}]),
}


@st.composite
def drifted_host(draw) -> dict:
    current = state(draw(st.sampled_from(["converged", "fresh_host", "data_mover_drifted"])))
    for component in current["components"].values():
        if component["service"] and draw(st.booleans()):
            field = draw(st.sampled_from(sorted(SERVICE_DRIFT)))
            component["service"][field] = draw(SERVICE_DRIFT[field])
        if draw(st.booleans()):
            component["version"] = draw(st.sampled_from([None, "0.0.9"]))
        if draw(st.booleans()):  # a record an older version wrote, or none
            component["record"] = draw(st.sampled_from([None, {"Role": None, "Destination": None}]))
        if component["firewall"] and draw(st.booleans()):
            component["firewall"]["enabled"] = False
        for path in component["files"]:
            if component["files"][path] and draw(st.booleans()):
                component["files"][path] = draw(st.sampled_from([None, {"sha256": "1" * 64, "version": None}]))
    return current


@settings(max_examples=150, deadline=None)
@given(
    current=drifted_host(),
    state_wanted=st.sampled_from(["present", "absent"]),
    version=st.sampled_from(["0.1.0", "0.2"]),
)
def test_idempotence_law(current, state_wanted, version):
    manifest = copy.deepcopy(RAW_MANIFEST)
    manifest["components"][2]["version"] = version
    valid = validate_manifest(manifest)
    plan = plan_components(current, valid, state_wanted)
    again = plan_components(plan.after, valid, state_wanted)
    assert again.steps == []
    assert again.after == plan.after
