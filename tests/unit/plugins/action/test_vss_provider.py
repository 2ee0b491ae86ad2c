"""vss_provider action: round trips, check and diff mode, and the array password kept to the stdin payload."""

from __future__ import annotations

import base64
import json

import pytest
from action_run import run_action
from ansible.errors import AnsibleActionFail

from ansible_collections.backup.hyperv.plugins.plugin_utils._pwsh import load_script

PASSWORD = "Arr@y-S3cret"
ARGS = {
    "name": "Contoso Array VSS Hardware Provider",
    "package": "C:\\Installers\\ContosoVssProvider-5.2.1.msi",
    "product_id": "{6A1C2E0B-7A4F-4F8B-9C1D-2B7E5A9D3C11}",
    "version": "5.2.1",
    "config_command": "C:\\Program Files\\Contoso\\VSS\\contoso-vss-config.exe",
    "config_arguments": "--array {controlling_server} --user {array_user} --password-stdin",
    "config_password_stdin": True,
    "controlling_server": "array01.example.com",
    "array_user": "vss-backup",
    "array_password": PASSWORD,
}


def run(make_action, replies, check_mode=False, diff=False, **changes):
    return run_action(make_action, "vss_provider", replies, {**ARGS, **changes}, check_mode, diff)


def test_installed_provider_is_one_round_trip_and_no_change(make_action, recorded):
    result, calls = run(make_action, [recorded("vss_provider_read_installed.json")])
    assert len(calls) == 1
    request = calls[0].request()
    assert request["name"] == "vss_provider_read"
    assert base64.b64decode(request["script"]) == load_script("vss_provider_read")
    assert request["params"] == {
        "Name": ARGS["name"],
        "ProductId": ARGS["product_id"],
        "Package": ARGS["package"],
        "ProbeTimeout": 60,
    }
    assert result["changed"] is False and result["provider"]["type"] == "hardware"
    assert PASSWORD.encode() not in calls[0].in_data


def test_install_is_two_round_trips_and_the_password_only_in_the_apply_payload(make_action, recorded):
    result, calls = run(
        make_action,
        [recorded("vss_provider_read_not_installed.json"), recorded("vss_provider_apply_reboot_required.json")],
        diff=True,
    )
    assert len(calls) == 2 and result["changed"] is True and result["reboot_required"] is True
    apply = calls[1].request()
    assert apply["name"] == "vss_provider_apply" and apply["params"]["Password"] == PASSWORD
    assert [s["action"] for s in apply["params"]["Steps"]] == [
        "install_package",
        "configure_provider",
        "verify_provider",
    ]
    assert PASSWORD not in json.dumps(apply["params"]["Steps"])
    assert PASSWORD not in calls[1].cmd and PASSWORD not in json.dumps(result)


def test_an_installer_that_started_a_restart_leaves_the_later_steps_and_says_to_run_again(make_action, recorded):
    restarted = {"rc": 0, "stdout": {"applied": 1, "reboot_required": True, "restart_started": True}}
    result, _calls = run(make_action, [recorded("vss_provider_read_not_installed.json"), restarted])
    assert result["changed"] is True and result["reboot_required"] is True and not result.get("failed")
    (warning,) = result["warnings"]
    assert "exit code 1641" in warning and "not run: configure_provider, verify_provider" in warning


def test_check_mode_reads_only_and_diff_has_no_secret(make_action, recorded):
    result, calls = run(make_action, [recorded("vss_provider_read_older_version.json")], check_mode=True, diff=True)
    assert len(calls) == 1 and result["changed"] is True
    assert result["diff"]["before"]["product"]["version"] == "5.1.0"
    assert result["diff"]["after"]["product"]["version"] == "5.2.1"
    assert result["diff"]["after"]["configuration"]["controlling_server"] == "array01.example.com"
    assert result["reboot_required"] is False
    assert PASSWORD not in json.dumps(result)


def test_installer_failure_is_a_failed_result_naming_the_exit_code(make_action, recorded):
    result, calls = run(
        make_action, [recorded("vss_provider_read_not_installed.json"), recorded("vss_provider_apply_failed_1618.json")]
    )
    assert len(calls) == 2 and result["failed"] is True and result["rc"] == 1
    assert "exit code 1618" in result["msg"] and "another installation is already in progress" in result["msg"]


def test_a_host_that_echoes_the_password_has_it_masked(make_action, recorded):
    leak = recorded("vss_provider_apply_failed_1603.json")
    leak["stdout"]["msg"] += f" (command line: --password {PASSWORD})"
    result = run(make_action, [recorded("vss_provider_read_not_installed.json"), leak], update_password="always")[0]
    assert result["failed"] is True and "********" in result["msg"]
    assert PASSWORD not in json.dumps(result)


def test_absent_uninstalls(make_action, recorded):
    result, calls = run(
        make_action,
        [recorded("vss_provider_read_installed.json"), {"rc": 0, "stdout": {"applied": 2, "reboot_required": False}}],
        state="absent",
    )
    assert len(calls) == 2 and result["changed"] is True
    assert [s["action"] for s in calls[1].request()["params"]["Steps"]] == ["uninstall_package", "remove_configuration"]
    assert result["provider"] is None


def test_bad_arguments_fail_before_any_round_trip(make_action):
    action, calls = make_action("vss_provider", args={**ARGS, "config_arguments": "--pw {secret}"})
    result = action.run(task_vars={})
    assert calls == [] and result["failed"] is True and "unknown placeholder(s) secret" in result["msg"]


def test_missing_required_option_for_present_fails_before_any_round_trip(make_action):
    args = {k: v for k, v in ARGS.items() if k != "version"}
    action, calls = make_action("vss_provider", args=args)
    with pytest.raises(AnsibleActionFail, match="version"):
        action.run(task_vars={})
    assert calls == []


@pytest.mark.parametrize(
    ("option", "path", "shown"),
    [
        ("package", "C:\\Installers\\vendor\x0bss.msi", "\\x0b (vertical tab"),
        ("config_command", "C:\\Program Files\\Contoso\\VSS\\config?.exe", "'?'"),
        ("package", "C:\\Installers\\AUX.msi", "device name AUX"),
    ],
)
def test_a_host_path_windows_refuses_fails_before_any_round_trip(make_action, option, path, shown):
    result, calls = run(make_action, [], **{option: path})
    assert calls == [] and result["failed"] is True
    assert result["msg"].startswith(f"{option}: ") and shown in result["msg"]
