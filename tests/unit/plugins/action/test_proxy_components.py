"""proxy_components action: round trips (no change 1, change 2, check mode 1), diff, errors, bad manifest."""

from __future__ import annotations

import base64
import copy
import json
from pathlib import Path

import pytest
from action_run import run_action

from ansible_collections.backup.hyperv.plugins.plugin_utils._pwsh import COMMAND, load_script

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
MANIFEST = json.loads((FIXTURES / "proxy_components_manifest_default.json").read_text(encoding="utf-8"))["manifest"]


def run(make_action, replies, check_mode=False, diff=False, **args):
    return run_action(make_action, "proxy_components", replies, {"manifest": MANIFEST, **args}, check_mode, diff)


def test_converged_host_is_one_round_trip_and_no_change(make_action, recorded):
    result, calls = run(make_action, [recorded("proxy_components_read_converged.json")])
    assert len(calls) == 1 and calls[0].cmd == COMMAND
    request = calls[0].request()
    assert request["name"] == "proxy_components_read"
    assert base64.b64decode(request["script"]) == load_script("proxy_components_read")
    assert request["params"]["Components"][0]["Service"] == "BackupHyperVInstaller"
    assert result["changed"] is False and result["steps"] == [] and not result.get("failed")
    assert result["components"]["data_mover"]["firewall"]["local_port"] == 6170


def test_fresh_host_is_read_then_one_apply_with_the_plan(make_action, recorded):
    result, calls = run(
        make_action,
        [recorded("proxy_components_read_fresh_host.json"), recorded("proxy_components_apply_applied.json")],
    )
    assert len(calls) == 2
    apply = calls[1].request()
    assert apply["name"] == "proxy_components_apply"
    assert base64.b64decode(apply["script"]) == load_script("proxy_components_apply")
    assert apply["params"]["Steps"] == result["steps"] and result["changed"] is True
    assert {s["action"] for s in apply["params"]["Steps"]} >= {"copy_files", "create_service", "set_firewall_rule"}
    assert result["components"]["hyperv_integration"]["service"]["parameters"] == {"ChangedBlockTracking": 1}


def test_check_mode_reads_only_and_reports_what_would_change(make_action, recorded):
    result, calls = run(make_action, [recorded("proxy_components_read_data_mover_drifted.json")], check_mode=True)
    assert len(calls) == 1  # nothing applied
    assert result["changed"] is True
    assert [s["action"] for s in result["steps"]] == ["set_service", "set_firewall_rule", "start_service"]
    assert result["components"]["data_mover"]["service"]["state"] == "running"  # as it would be


def test_diff_shows_before_and_after(make_action, recorded):
    replies = [recorded("proxy_components_read_data_mover_drifted.json")]
    result = run(make_action, replies, check_mode=True, diff=True)[0]
    before = result["diff"]["before"]["components"]["data_mover"]
    after = result["diff"]["after"]["components"]["data_mover"]
    assert (before["service"]["state"], after["service"]["state"]) == ("stopped", "running")
    assert before["firewall"] is None and after["firewall"]["name"] == "BackupHyperV-DataMover-TCP-In"
    assert "source_files" not in before


def test_absent_removes_from_a_converged_host(make_action, recorded):
    result, calls = run(
        make_action,
        [recorded("proxy_components_read_converged.json"), recorded("proxy_components_apply_applied.json")],
        state="absent",
    )
    assert len(calls) == 2 and result["changed"] is True
    assert "remove_service" in {s["action"] for s in calls[1].request()["params"]["Steps"]}
    assert all(c["service"] is None for c in result["components"].values())


def test_apply_failure_is_a_failed_result_with_the_hosts_words(make_action, recorded):
    result, calls = run(
        make_action,
        [
            recorded("proxy_components_read_fresh_host.json"),
            recorded("proxy_components_apply_failed_access_denied.json"),
        ],
    )
    assert len(calls) == 2 and result["failed"] is True and result["rc"] == 1
    assert "copy_files data_mover" in result["msg"] and "is denied" in result["msg"]


def test_read_failure_is_a_failed_result(make_action):
    result, calls = run(make_action, [(1, "", "sc.exe: Access is denied.")])
    assert len(calls) == 1 and result["failed"] is True and "Access is denied" in result["msg"]


def test_reply_of_the_wrong_shape_is_a_failed_result(make_action):
    result, calls = run(make_action, [{"rc": 0, "stdout": {"components": [{"Service": None}]}}])
    assert len(calls) == 1 and result["failed"] is True
    assert "proxy_components_read.ps1 returned a reply of an unexpected shape" in result["msg"]


def test_plan_error_fails_after_the_read_without_applying(make_action, recorded):
    reply = recorded("proxy_components_read_fresh_host.json")
    reply["stdout"]["components"][0]["SourceFiles"][0]["Exists"] = False
    result, calls = run(make_action, [reply])
    assert len(calls) == 1 and result["failed"] is True
    assert "BackupHyperVInstaller.exe must be copied but is missing" in result["msg"]


def _duplicate_data_mover(manifest: dict) -> None:
    manifest["components"].append({**copy.deepcopy(manifest["components"][1]), "name": "Data_Mover"})


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (  # bad choice
            lambda m: m["components"][1]["service"].update(start_mode="sometimes"),
            "manifest.components[1].service: value of start_mode must be one of: auto, delayed_auto, manual, disabled",
        ),
        (  # missing
            lambda m: m["components"][0].pop("files"),
            "manifest.components[0]: missing required arguments: files",
        ),
        (  # unknown key
            lambda m: m["components"][2]["service"].update(parameter={"ChangedBlockTracking": 1}),
            "manifest.components[2].service: unknown field parameter. Supported parameters include:",
        ),
        (  # wrong type
            lambda m: m["components"][1]["firewall"].update(local_port="6170/tcp"),
            "manifest.components[1].firewall: argument 'local_port' is of type str",
        ),
        (  # out of range
            lambda m: m["components"][1]["firewall"].update(local_port=0),
            "manifest.components[1].firewall.local_port: must be between 1 and 65535, got 0",
        ),
        (_duplicate_data_mover, "manifest.components[3].name: 'Data_Mover' is listed twice"),
    ],
)
def test_bad_manifest_fails_with_the_field_named_and_no_round_trip(make_action, mutate, message):
    manifest = copy.deepcopy(MANIFEST)
    mutate(manifest)
    action, calls = make_action("proxy_components", replies=[], args={"manifest": manifest})
    given = copy.deepcopy(action._task.args)
    result = action.run(task_vars={})
    assert calls == [] and result["failed"] is True and "changed" not in result
    assert result["msg"].startswith(message)
    assert action._task.args == given


def _former_service_reply(recorded) -> dict:
    """The converged host, read for a manifest whose data mover declares no service: its service is former."""
    reply = recorded("proxy_components_read_converged.json")
    mover = reply["stdout"]["components"][1]
    mover["FormerService"], mover["Service"] = mover["Service"], None
    return reply


def test_a_component_without_service_asks_for_none_and_its_former_service_is_removed(make_action, recorded):
    manifest = copy.deepcopy(MANIFEST)
    del manifest["components"][1]["service"]
    replies = [_former_service_reply(recorded), recorded("proxy_components_apply_applied.json")]
    result, calls = run_action(make_action, "proxy_components", replies, {"manifest": manifest}, False, True)
    read = calls[0].request()["params"]["Components"][1]
    assert (read["Service"], read["Parameters"]) == (None, [])
    steps = calls[1].request()["params"]["Steps"]
    assert [(s["action"], s.get("name") or s.get("component")) for s in steps] == [
        ("stop_service", "BackupHyperVDataMover"),
        ("remove_service", "BackupHyperVDataMover"),
        ("set_component_version", "data_mover"),
    ]
    assert steps[2]["record"]["Service"] is None and result["changed"] is True
    before, after = (result["diff"][side]["components"]["data_mover"] for side in ("before", "after"))
    assert before["former_service"]["name"] == "BackupHyperVDataMover" and before["service"] is None
    assert (after["former_service"], after["service"]) == (None, None)


def test_check_mode_shows_the_former_service_removal_and_applies_nothing(make_action, recorded):
    manifest = copy.deepcopy(MANIFEST)
    del manifest["components"][1]["service"]
    result, calls = run_action(
        make_action, "proxy_components", [_former_service_reply(recorded)], {"manifest": manifest}, True, False
    )
    assert len(calls) == 1 and result["changed"] is True
    assert [s["action"] for s in result["steps"]] == ["stop_service", "remove_service", "set_component_version"]
