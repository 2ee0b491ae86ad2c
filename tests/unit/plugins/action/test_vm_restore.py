"""vm_restore action: input checks before any round trip, refusals in words, check mode reads only."""

from __future__ import annotations

import pytest
from action_run import run_action

SOURCE = "C:\\ClusterStorage\\Volume1\\restore\\web01"
NEW = {"vm": "web01", "source": SOURCE, "location": "new", "name": "web01-dr", "storage_path": "C:\\VMs\\web01-dr"}
HOST = {
    "ComputerName": "HV1",
    "Build": 20348,
    "SupportedVersions": ["10.0", "9.0"],
    "Cluster": "CL1",
    "Switches": ["LAN"],
}
EXISTING = {
    "Name": "web01",
    "Id": "9f1c2e3d-4b5a-4c6d-8e7f-0a1b2c3d4e5f",
    "State": "Running",
    "Version": "10.0",
    "Clustered": True,
    "ConfigurationLocation": "C:\\ClusterStorage\\Volume1\\web01",
    "Disks": ["C:\\ClusterStorage\\Volume1\\web01\\web01.vhdx"],
    "Adapters": [{"Name": "Network Adapter", "Switch": "LAN"}],
}
PLANNED = {**EXISTING, "Name": "web01-dr", "Id": None, "State": "Off", "Clustered": False}


def read(existing=None, incompatibilities=(), planned=PLANNED):
    document = {"Host": HOST, "Existing": existing, "Planned": planned, "Incompatibilities": list(incompatibilities)}
    return {"rc": 0, "stdout": document, "stderr": ""}


def run(make_action, replies, check_mode=False, diff=False, **args):
    return run_action(make_action, "vm_restore", replies, args, check_mode, diff)


@pytest.mark.parametrize(
    ("args", "words"),
    [
        ({**NEW, "source": "restore\\web01"}, "source"),
        ({**NEW, "storage_path": "C:\\VMs\\web01-dr."}, "storage_path"),
        ({**NEW, "name": "WEB01"}, "the restored VM's own name"),
        ({**NEW, "location": "original"}, "location=original keeps the VM's name and folders"),
        ({**NEW, "switches": {"LAN": ""}}, "null to leave the adapter disconnected"),
        ({**NEW, "switches": {"LAN": "A", "lan": "B"}}, "more than once"),
        ({**NEW, "configuration": "sub\\x.vmcx"}, "configuration"),
    ],
)
def test_bad_input_fails_before_any_round_trip(make_action, args, words):
    result, calls = run(make_action, [], **args)
    assert result["failed"] and words in result["msg"], result
    assert calls == []


def test_new_vm_needs_a_name_and_a_storage_path(make_action):
    with pytest.raises(Exception, match="storage_path"):
        run(make_action, [], vm="web01", source=SOURCE, location="new", name="web01-dr")


def test_incompatibilities_fail_in_words_and_nothing_is_applied(make_action):
    switch = {
        "Kind": "switch",
        "MessageId": 33012,
        "Message": "Could not find Ethernet switch 'Prod'.",
        "Subject": "Prod",
    }
    version = {"Kind": "version", "MessageId": None, "Message": "not supported", "Subject": "12.0"}
    result, calls = run(make_action, [read(incompatibilities=[switch, version])], **NEW)
    assert len(calls) == 1 and result["failed"] and not result["changed"]
    assert [entry["kind"] for entry in result["incompatibilities"]] == ["switch", "version"]
    assert "map it in switches ('Prod'" in result["msg"] and "newer than HV1 (build 20348)" in result["msg"]


def test_a_running_vm_is_refused_without_force(make_action):
    args = {"vm": "web01", "source": SOURCE, "location": "original"}
    result, calls = run(make_action, [read(existing=EXISTING, planned={**EXISTING, "State": "Off"})], **args)
    assert len(calls) == 1 and result["failed"] and "set force" in result["msg"]
    assert result["vm"]["name"] == "web01"


def test_check_mode_reads_and_says_what_the_import_would_register(make_action):
    result, calls = run(make_action, [read()], check_mode=True, diff=True, start=True, **NEW)
    assert len(calls) == 1 and calls[0].request()["name"] == "vm_restore_read"
    assert result["changed"] and result["vm"]["name"] == "web01-dr" and result["vm"]["state"] == "Running"
    assert result["vm"]["clustered"] and result["diff"]["before"] == {}


def test_force_stops_and_the_cluster_role_comes_back(make_action):
    applied = {"Vm": {**EXISTING, "State": "Off"}, "Steps": ["Stop-VM -TurnOff web01", "Import-VM x"]}
    replies = [
        read(existing=EXISTING, planned={**EXISTING, "State": "Off"}),
        {"rc": 0, "stdout": applied, "stderr": ""},
    ]
    args = {"vm": "web01", "source": SOURCE, "location": "original", "force": True}
    result, calls = run(make_action, replies, **args)
    params = calls[1].request()["params"]
    assert params["Stop"] and params["ClusterRole"] and not params["Start"], params
    assert result["changed"] and result["steps"][0] == "Stop-VM -TurnOff web01"


ORIGINAL = {"vm": "web01", "location": "original"}


def test_prepare_refuses_a_running_vm_without_force_and_reads_no_source(make_action):
    result, calls = run(make_action, [read(existing=EXISTING, planned=None)], prepare=True, **ORIGINAL)
    assert len(calls) == 1 and result["failed"] and "set force" in result["msg"], result
    assert calls[0].request()["params"]["Prepare"] is True


def test_prepare_with_force_only_turns_the_vm_off(make_action):
    applied = {"Vm": {**EXISTING, "State": "Off"}, "Steps": ["Stop-VM -TurnOff web01"]}
    replies = [read(existing=EXISTING, planned=None), {"rc": 0, "stdout": applied, "stderr": ""}]
    result, calls = run(make_action, replies, prepare=True, force=True, **ORIGINAL)
    params = calls[1].request()["params"]
    assert calls[1].request()["name"] == "vm_restore_apply" and params["Prepare"] and params["Stop"], params
    assert result["changed"] and result["vm"]["state"] == "Off" and result["steps"] == ["Stop-VM -TurnOff web01"]
    assert result["disk_folder"] == "C:\\ClusterStorage\\Volume1\\web01"


def test_prepare_of_a_vm_that_is_off_changes_nothing(make_action):
    off = {**EXISTING, "State": "Off"}
    result, calls = run(make_action, [read(existing=off, planned=None)], prepare=True, **ORIGINAL)
    assert len(calls) == 1 and not result["changed"] and not result.get("failed"), result
    assert result["vm"]["disks"] == EXISTING["Disks"] and result["disk_folder"] == EXISTING["ConfigurationLocation"]


def test_disks_in_place_is_passed_to_both_scripts(make_action):
    applied = {"Vm": {**EXISTING, "State": "Off"}, "Steps": ["Import-VM x"]}
    off = {**EXISTING, "State": "Off"}
    replies = [read(existing=off, planned=off), {"rc": 0, "stdout": applied, "stderr": ""}]
    result, calls = run(make_action, replies, source=SOURCE, disks_in_place=True, **ORIGINAL)
    assert [call.request()["params"]["InPlace"] for call in calls] == [True, True], result


@pytest.mark.parametrize(
    ("args", "words"),
    [
        ({**NEW, "prepare": True}, "prepare and disks_in_place replace the VM"),
        ({**NEW, "disks_in_place": True}, "prepare and disks_in_place replace the VM"),
        (ORIGINAL, "source is required"),
    ],
)
def test_prepare_and_disks_in_place_are_for_the_original_location(make_action, args, words):
    result, calls = run(make_action, [], **args)
    assert result["failed"] and words in result["msg"] and calls == [], result
