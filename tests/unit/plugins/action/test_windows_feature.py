"""windows_feature action: round trips counted, check and diff mode, reboot_required, failures as results."""

from __future__ import annotations

import base64

from action_run import run_action

from ansible_collections.backup.hyperv.plugins.plugin_utils._pwsh import COMMAND, load_script

FEATURES = ["Hyper-V", "FS-Data-Deduplication"]


def run(make_action, replies, check_mode=False, diff=False, **args):
    return run_action(make_action, "windows_feature", replies, {"name": FEATURES, **args}, check_mode, diff)


def test_converged_host_is_one_round_trip_and_no_change(make_action, recorded):
    result, calls = run(make_action, [recorded("windows_feature_read_installed.json")])
    assert len(calls) == 1 and calls[0].cmd == COMMAND and calls[0].sudoable is False
    request = calls[0].request()
    assert request["name"] == "windows_feature_read"
    assert base64.b64decode(request["script"]) == load_script("windows_feature_read")
    assert request["params"] == {"Name": FEATURES, "IncludeSubFeatures": False}
    assert result["changed"] is False and result["steps"] == [] and result["reboot_required"] is False
    assert [f["install_state"] for f in result["features"]] == ["Installed", "InstallPending"]


def test_install_is_two_round_trips_and_reports_the_restart(make_action, recorded):
    result, calls = run(
        make_action,
        [recorded("windows_feature_read_fresh_proxy.json"), recorded("windows_feature_apply_restart_needed.json")],
        include_management_tools=True,
    )
    assert len(calls) == 2 and result["changed"] is True and result["reboot_required"] is True
    apply = calls[1].request()
    assert apply["name"] == "windows_feature_apply"
    assert base64.b64decode(apply["script"]) == load_script("windows_feature_apply")
    assert apply["params"]["Steps"] == [
        {
            "action": "install_features",
            "names": FEATURES,
            "include_sub_features": False,
            "include_management_tools": True,
            "source": None,
        }
    ]
    assert [f["install_state"] for f in result["features"]] == ["Installed", "Installed"]


def test_check_mode_reads_only_and_diff_shows_before_and_after(make_action, recorded):
    result, calls = run(make_action, [recorded("windows_feature_read_fresh_proxy.json")], check_mode=True, diff=True)
    assert len(calls) == 1 and calls[0].request()["name"] == "windows_feature_read"
    assert result["changed"] is True and result["reboot_required"] is False
    assert [f["install_state"] for f in result["diff"]["before"]["features"]] == ["Available", "Available"]
    assert [f["install_state"] for f in result["diff"]["after"]["features"]] == ["Installed", "Installed"]


def test_removal_without_restart(make_action, recorded):
    read = {
        "_source": "inline",
        "stdout": {"features": [{"Name": "Failover-Clustering", "InstallState": "Installed", "SubFeatures": []}]},
    }
    result, calls = run(
        make_action,
        [read, recorded("windows_feature_apply_no_restart.json")],
        name=["Failover-Clustering"],
        state="absent",
    )
    assert len(calls) == 2 and result["changed"] is True and result["reboot_required"] is False
    assert calls[1].request()["params"]["Steps"][0]["action"] == "uninstall_features"
    assert result["features"][0]["install_state"] == "Available"


def test_unknown_feature_fails_after_the_read_and_applies_nothing(make_action, recorded):
    result, calls = run(make_action, [recorded("windows_feature_read_unknown_name.json")])
    assert len(calls) == 1 and result["failed"] is True
    assert "FS-Data-Deduplication" in result["msg"]


def test_bad_name_fails_with_no_round_trip(make_action):
    result, calls = run(make_action, [], name=["Hyper-*"])
    assert calls == [] and result["failed"] is True and "wildcards" in result["msg"]


def test_failed_install_is_a_failed_result_with_the_hosts_words(make_action, recorded):
    result, calls = run(
        make_action,
        [recorded("windows_feature_read_dedup_only.json"), recorded("windows_feature_apply_failed_source.json")],
    )
    assert len(calls) == 2 and result["failed"] is True and result["rc"] == 1
    assert "0x800f081f" in result["msg"] and "install_features" in result["msg"]


def test_a_source_windows_refuses_fails_before_any_round_trip(make_action):
    result, calls = run(make_action, [], source="D:\\sources\\sxs\x0bnew")
    assert calls == [] and result["failed"] is True
    assert result["msg"].startswith("source: ") and "\\x0b (vertical tab" in result["msg"]


def test_a_wim_source_path_is_checked_without_its_prefix_and_index(make_action):
    result, calls = run(make_action, [], source="WIM:D:\\sources\\install<1>.wim:4")
    assert calls == [] and result["failed"] is True and "'<'" in result["msg"]
