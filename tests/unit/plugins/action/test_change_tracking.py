"""change_tracking action: one round trip per state, the replies shaped as documented, bad input sends nothing."""

from __future__ import annotations

import base64

import pytest
from action_run import run_action
from ansible.errors import AnsibleActionFail
from test_connection_retries import DropsFirst

from ansible_collections.backup.hyperv.plugins.plugin_utils import _connection_retry
from ansible_collections.backup.hyperv.plugins.plugin_utils._pwsh import load_script

CHECKPOINT = "Microsoft:1F0E8D2A-7C41-4B3E-9A55-0D6C2E9B1A77"
POINT = "Microsoft:6B0D3C1E-2A4F-4D8B-8E1F-3C5A7B9D0E21"
OLD_POINT = "Microsoft:7C1E4D2F-3B5A-4E9C-9F20-4D6B8C0E1F32"
FROZEN = "C:\\ClusterStorage\\Volume1\\web01\\web01.vhdx"


def run(make_action, replies, check_mode=False, **args):
    return run_action(make_action, "change_tracking", replies, args, check_mode)


def reply(document):
    return {"rc": 0, "stdout": document, "stderr": ""}


def disk(**fields):
    entry = {"Path": FROZEN, "Name": "web01.vhdx", "Size": 33554432, "Since": None, "Ranges": None, "Reason": None}
    return {**entry, **fields}


def vm_entry(name, **fields):
    entry = {
        "Name": name,
        "Id": None,
        "Version": None,
        "Checkpoint": None,
        "Consistency": None,
        "ConsistencyMessage": None,
        "Failed": False,
        "Message": None,
        "Disks": [],
    }
    return {**entry, **fields}


CHECKPOINTED = vm_entry(
    "web01",
    Id="9f1c2e3d-4b5a-4c6d-8e7f-0a1b2c3d4e5f",
    Version="9.0",
    Checkpoint=CHECKPOINT,
    Consistency="application",
    Disks=[disk(Since="rct:a:1", Ranges=[[0, 262144], [1048576, 262144]])],
)
OLD_VM = vm_entry(
    "old01",
    Id="0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d",
    Version="5.0",
    Disks=[disk(Path="D:\\old01.vhdx", Name="old01.vhdx", Reason="configuration version 5.0 has no resilient change")],
)
MISSING = vm_entry("nope", Failed=True, Message="VM 'nope' was not found on HV1")


def test_checkpoint_sends_each_vm_with_its_rct_ids_and_shapes_the_reply(make_action):
    document = {"vms": [CHECKPOINTED, OLD_VM, MISSING]}
    result, calls = run(
        make_action,
        [reply(document)],
        vms=["web01", "old01", "nope"],
        since={"WEB01": {"web01.vhdx": "rct:a:1"}},
    )
    assert [c.request()["name"] for c in calls] == ["change_tracking_checkpoint"]
    assert base64.b64decode(calls[0].request()["script"]) == load_script("change_tracking_checkpoint")
    assert calls[0].request()["params"] == {
        "Vms": [
            {"Name": "web01", "Since": {"web01.vhdx": "rct:a:1"}},  # VM names are case-blind
            {"Name": "old01", "Since": {}},
            {"Name": "nope", "Since": {}},
        ],
        "CrashConsistentFallback": True,  # the default
    }
    assert result["changed"] is True and not result.get("failed")
    web01 = result["vms"]["web01"]
    assert web01["checkpoint"] == CHECKPOINT and web01["version"] == "9.0" and web01["failed"] is False
    assert web01["consistency"] == "application" and web01["consistency_msg"] is None
    assert web01["disks"] == [
        {
            "path": FROZEN,
            "name": "web01.vhdx",
            "size": 33554432,
            "since": "rct:a:1",
            "ranges": [[0, 262144], [1048576, 262144]],
            "reason": None,
        }
    ]
    assert result["vms"]["old01"]["checkpoint"] is None and result["vms"]["old01"]["disks"][0]["ranges"] is None
    assert result["vms"]["nope"] == {
        "id": None,
        "version": None,
        "checkpoint": None,
        "consistency": None,
        "consistency_msg": None,
        "failed": True,
        "msg": "VM 'nope' was not found on HV1",
        "disks": [],
    }


def test_a_crash_consistent_checkpoint_says_so_and_the_fallback_can_be_turned_off(make_action):
    quiesce = "the application-consistent checkpoint failed: Production checkpoints cannot be created for 'web01'."
    crash = {**CHECKPOINTED, "Consistency": "crash", "ConsistencyMessage": quiesce}
    result, calls = run(make_action, [reply({"vms": [crash]})], vms=["web01"], crash_consistent_fallback=False)
    assert calls[0].request()["params"]["CrashConsistentFallback"] is False
    assert result["vms"]["web01"]["consistency"] == "crash"
    assert result["vms"]["web01"]["consistency_msg"] == quiesce


def test_a_vm_whose_state_hyper_v_refuses_fails_alone_with_what_to_do(make_action):
    refused = "CreateSnapshot returned 32775 (invalid state for this operation)"
    words = f"no recovery checkpoint of VM 'saving01': application consistent: {refused}; crash consistent: {refused}"
    busy = vm_entry("saving01", Id="1b2c3d4e-5f6a-4b7c-8d9e-0f1a2b3c4d5e", Version="9.0", Failed=True, Message=words)
    other = vm_entry(
        "db01", Id="2c3d4e5f-6a7b-4c8d-9e0f-1a2b3c4d5e6f", Failed=True, Message="CreateSnapshot returned 32768"
    )
    result, _ = run(make_action, [reply({"vms": [busy, CHECKPOINTED, other]})], vms=["saving01", "web01", "db01"])
    assert result["vms"]["saving01"]["failed"] is True
    assert result["vms"]["saving01"]["msg"].startswith(words + " Hyper-V takes a checkpoint only of a VM that is ")
    assert "once its state has settled" in result["vms"]["saving01"]["msg"]
    assert result["vms"]["db01"]["msg"] == "CreateSnapshot returned 32768"  # another failure keeps the host's words
    assert result["vms"]["web01"]["failed"] is False and result["changed"] is True


def test_checkpoint_without_any_checkpoint_created_is_no_change(make_action):
    result, _ = run(make_action, [reply({"vms": [OLD_VM]})], vms=["old01"])
    assert result["changed"] is False and not result.get("failed")


def test_checkpoint_in_check_mode_sends_nothing_and_has_no_ranges(make_action):
    result, calls = run(make_action, [], check_mode=True, vms=["web01"], since={"web01": {"web01.vhdx": "rct:a:1"}})
    assert calls == []
    assert result["vms"]["web01"]["checkpoint"] is None
    assert result["vms"]["web01"]["disks"] == [
        {"path": None, "name": "web01.vhdx", "size": None, "since": "rct:a:1", "ranges": None, "reason": "check mode"}
    ]


def test_a_reply_that_skips_a_vm_fails_the_task(make_action):
    result, _ = run(make_action, [reply({"vms": [CHECKPOINTED]})], vms=["web01", "old01"])
    assert result["failed"] is True and "1 VMs for 2 asked" in result["msg"]


def test_reference_converts_and_maps_each_disk_file_name_to_its_rct_id(make_action):
    document = {
        "vms": [
            {
                "Name": "web01",
                "ReferencePoint": POINT,
                "Failed": False,
                "Message": None,
                "Disks": [
                    {"Path": FROZEN, "Name": "web01.vhdx", "ChangeId": "rct:a:2"},
                    {"Path": "C:\\vms\\web01-old.vhd", "Name": "web01-old.vhd", "ChangeId": None},
                ],
            },
            {"Name": "db01", "ReferencePoint": None, "Failed": True, "Message": "checkpoint x is gone", "Disks": []},
        ]
    }
    result, calls = run(
        make_action, [reply(document)], state="reference", checkpoints={"web01": CHECKPOINT, "db01": "x"}
    )
    assert calls[0].request()["name"] == "change_tracking_reference"
    assert calls[0].request()["params"] == {
        "Checkpoints": [{"Vm": "web01", "Checkpoint": CHECKPOINT}, {"Vm": "db01", "Checkpoint": "x"}]
    }
    assert result["changed"] is True and not result.get("failed")
    assert result["vms"]["web01"] == {
        "reference_point": POINT,
        "failed": False,
        "msg": None,
        "change_ids": {"web01.vhdx": "rct:a:2"},  # a disk without an RCT id records none
        "disks": [
            {"path": FROZEN, "name": "web01.vhdx", "change_id": "rct:a:2"},
            {"path": "C:\\vms\\web01-old.vhd", "name": "web01-old.vhd", "change_id": None},
        ],
    }
    assert result["vms"]["db01"]["failed"] is True and result["vms"]["db01"]["msg"] == "checkpoint x is gone"


def test_release_sends_what_to_destroy_and_reports_what_was(make_action):
    document = {"vms": [{"Name": "web01", "DestroyedCheckpoints": [], "DestroyedReferencePoints": [OLD_POINT]}]}
    result, calls = run(make_action, [reply(document)], state="absent", release={"web01": {"keep": POINT}})
    assert calls[0].request()["name"] == "change_tracking_release"
    assert calls[0].request()["params"] == {"Vms": [{"Name": "web01", "Checkpoint": None, "Keep": POINT, "Drop": None}]}
    assert result["changed"] is True
    assert result["released"] == {"web01": {"checkpoints": [], "reference_points": [OLD_POINT]}}


def test_a_release_that_found_nothing_of_a_vm_on_its_host_says_so(make_action):
    """A VM that live-migrated during the backup took its checkpoint along: nothing destroyed is not "released"."""
    document = {
        "vms": [
            {"Name": "web01", "OnHost": False, "DestroyedCheckpoints": [], "DestroyedReferencePoints": []},
            {"Name": "db01", "OnHost": True, "DestroyedCheckpoints": [], "DestroyedReferencePoints": []},
        ]
    }
    release = {"web01": {"checkpoint": CHECKPOINT}, "db01": {"keep": POINT}}
    result, _ = run(make_action, [reply(document)], state="absent", release=release)
    assert result["not_on_host"] == ["web01"] and result["changed"] is False


def test_a_second_release_destroys_nothing_and_is_no_change(make_action):
    document = {"vms": [{"Name": "web01", "DestroyedCheckpoints": [], "DestroyedReferencePoints": []}]}
    result, _ = run(make_action, [reply(document)], state="absent", release={"web01": {"checkpoint": CHECKPOINT}})
    assert result["changed"] is False and not result.get("failed")


def test_a_script_failure_fails_the_task_with_the_hosts_words(make_action):
    failure = {"failed": True, "name": "change_tracking_checkpoint", "msg": "Invalid namespace", "at": None}
    result, _ = run(make_action, [{"rc": 1, "stdout": failure, "stderr": ""}], vms=["web01"])
    assert result["failed"] is True and "Invalid namespace" in result["msg"] and result["rc"] == 1


@pytest.mark.parametrize(
    ("args", "words"),
    [
        ({"vms": ["web01", "WEB01"]}, "more than once"),
        ({"vms": ["web01"], "since": {"db01": {"db01.vhdx": "rct:1"}}}, "not in vms: db01"),
        ({"vms": ["web01"], "since": {"web01": {"C:\\vms\\web01.vhdx": "rct:1"}}}, "not a disk file name"),
        ({"vms": ["web01"], "since": {"web01": {"web01.vhdx": ""}}}, "since.web01.web01.vhdx must be a non-empty id"),
        ({"vms": ["web01"], "checkpoints": {"web01": CHECKPOINT}}, "does not take checkpoints"),
        ({"state": "reference", "checkpoints": {"web01": 7}}, "checkpoints.web01 must be a non-empty id"),
        ({"state": "reference", "checkpoints": {"web01": "x"}, "since": {"web01": {}}}, "does not take since"),
        ({"state": "absent", "release": {"web01": {"keep": POINT, "drop": POINT}}}, "keep and drop name the same"),
        ({"state": "absent", "release": {"web01": {"keep": POINT, "destroy": "all"}}}, "not destroy"),
        ({"state": "absent", "release": {}}, "release names no VM"),
    ],
    ids=[
        "duplicate-vm",
        "since-stranger",
        "since-path",
        "since-blank-id",
        "foreign-option",
        "checkpoint-not-text",
        "since-with-reference",
        "keep-is-drop",
        "unknown-release-key",
        "empty-release",
    ],
)
def test_bad_input_fails_before_any_round_trip(make_action, args, words):
    result, calls = run(make_action, [], **args)
    assert calls == [] and result["failed"] is True and result["changed"] is False
    assert words in result["msg"]


def test_each_state_requires_its_option(make_action):
    # AnsibleActionFail: Ansible's task executor turns it into a failed result naming the option.
    with pytest.raises(AnsibleActionFail, match="state is reference but all of the following are missing: checkpoints"):
        run(make_action, [], state="reference")


@pytest.mark.parametrize(
    ("args", "document"),
    [
        ({"vms": ["web01"]}, {"vms": [CHECKPOINTED]}),
        ({"state": "reference", "checkpoints": {"web01": CHECKPOINT}}, {"vms": []}),
    ],
    ids=["checkpoint", "reference"],
)
def test_a_checkpoint_or_reference_whose_connection_dropped_is_not_sent_again(make_action, monkeypatch, args, document):
    monkeypatch.setattr(_connection_retry, "sleep", lambda seconds: None)
    action, calls = make_action("change_tracking", replies=[reply(document)], args=args)
    action._connection = DropsFirst(action._connection, drops=1)
    result = action.run(task_vars={})
    # Failed, not unreachable (an unreachable host skips a block's rescue and always, where the release runs).
    assert result["failed"] is True and "unreachable" not in result and "not sent again" in result["msg"]
    assert calls == []


def test_a_release_whose_connection_dropped_is_sent_again(make_action, monkeypatch):
    monkeypatch.setattr(_connection_retry, "sleep", lambda seconds: None)
    document = {"vms": [{"Name": "web01", "DestroyedCheckpoints": [CHECKPOINT], "DestroyedReferencePoints": []}]}
    action, calls = make_action(
        "change_tracking",
        replies=[reply(document)],
        args={"state": "absent", "release": {"web01": {"checkpoint": CHECKPOINT}}},
    )
    action._connection = DropsFirst(action._connection, drops=1)
    result = action.run(task_vars={})
    assert len(calls) == 1 and result["released"]["web01"]["checkpoints"] == [CHECKPOINT]
    assert result["connection_retries"][0]["script"] == "change_tracking_release"
