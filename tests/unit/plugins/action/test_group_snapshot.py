"""group_snapshot action: a volume group's source-host steps in two batches, and its release in one.

Each test counts round trips exactly (the fake connection fails on one more than the replies given) and checks
what a failed step leaves in the result for the release, which is what makes a batch safe to use.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from action_run import run_action

from ansible_collections.backup.hyperv.plugins.plugin_utils._pwsh import BATCH_COMMAND, COMMAND

SET_ID = "{1f0e8d2a-7c41-4b3e-9a55-0d6c2e9b1a77}"
WEB_CHECKPOINT = "Microsoft:1F0E8D2A-7C41-4B3E-9A55-0D6C2E9B1A77"
SQL_CHECKPOINT = "Microsoft:2A1F9E3B-8D52-4C4F-AB66-1E7D3F0C2B88"
POINT = "Microsoft:6B0D3C1E-2A4F-4D8B-8E1F-3C5A7B9D0E21"
VOLUME1, VOLUME2 = "C:\\ClusterStorage\\Volume1\\", "C:\\ClusterStorage\\Volume2\\"
COPY1 = {"shadow_id": "{6b0d3c1e-2a4f-4d8b-8e1f-3c5a7b9d0e21}", "alias": "Vol1", "volume": VOLUME1}


def run(make_action, replies, check_mode=False, **args):
    return run_action(make_action, "group_snapshot", replies, args, check_mode)


def batch(*replies: Any) -> dict[str, Any]:
    """The batch bootstrap's reply: each item a script's value, or its failure record (a dict with failed)."""
    items = [r if isinstance(r, dict) and r.get("failed") else {"value": r} for r in replies]
    return {"rc": 0, "stdout": {"replies": items}}


def failure(name: str, msg: str) -> dict[str, Any]:
    return {"failed": True, "name": name, "msg": msg, "category": "NotSpecified", "at": None}


def scripts(call) -> list[str]:
    return [request["name"] for request in call.request()["requests"]]


def checkpointed(name: str, checkpoint: str | None, failed: bool = False) -> dict[str, Any]:
    disk = {"Path": f"C:\\ClusterStorage\\Volume{1 if name == 'web01' else 2}\\{name}\\{name}.vhdx"}
    disk.update(Name=f"{name}.vhdx", Size=33554432, Since=None, Ranges=None, Reason="no RCT id recorded")
    return {
        "Name": name,
        "Id": "9f1c2e3d-4b5a-4c6d-8e7f-0a1b2c3d4e5f",
        "Version": "9.0",
        "Checkpoint": checkpoint,
        "Consistency": None if failed else "application",
        "ConsistencyMessage": None,
        "Failed": failed,
        "Message": "the checkpoint was refused" if failed else None,
        "Disks": [] if failed else [disk],
    }


def read_vm(name: str, volume: str, extension: str = "vhdx") -> dict[str, Any]:
    return {"Name": name, "Files": [{"Path": f"{volume}{name}\\{name}.{extension}", "Kind": "disk", "Format": "VHDX"}]}


READ = {
    "vms": [read_vm("web01", VOLUME1), read_vm("sql01", VOLUME2)],
    "volumes": [{"DeviceID": "vol1", "MountPoints": [VOLUME1]}, {"DeviceID": "vol2", "MountPoints": [VOLUME2]}],
    "shadows": [],
    "metadata_files": [],
    "mount_dirs": [],
}
CHECKPOINTS = {"vms": [checkpointed("web01", WEB_CHECKPOINT), checkpointed("sql01", SQL_CHECKPOINT)]}
CREATED = {
    "SnapshotSetId": SET_ID,
    "Shadows": [
        {"ShadowId": COPY1["shadow_id"], "Alias": "Vol1", "Volume": VOLUME1},
        {"ShadowId": "{7c1e4d2f-3b5a-4e9c-9f20-4d6b8c0e1f32}", "Alias": "Vol2", "Volume": VOLUME2},
    ],
    "MetadataPath": "C:\\ProgramData\\backup.hyperv\\shadow\\1f0e8d2a-7c41-4b3e-9a55-0d6c2e9b1a77.cab",
    "Metadata": "TVNDRgAAAAA=",
}


def referenced(*vms: str) -> dict[str, Any]:
    disk = {"Path": "x.vhdx", "Name": "x.vhdx", "ChangeId": "rct:1"}
    return {"vms": [{"ReferencePoint": POINT, "Failed": False, "Message": None, "Disks": [disk]} for _vm in vms]}


def test_present_is_two_batches_checkpoint_and_read_then_create_and_reference(make_action):
    replies = [batch(CHECKPOINTS, READ), batch(CREATED, referenced("web01", "sql01"))]
    result, calls = run(make_action, replies, vms=["web01", "sql01"], since={"web01": {"web01.vhdx": "rct:0"}})
    assert [call.cmd for call in calls] == [BATCH_COMMAND, BATCH_COMMAND]
    assert [scripts(call) for call in calls] == [
        ["change_tracking_checkpoint", "shadow_copy_read"],
        ["shadow_copy_create", "change_tracking_reference"],
    ]
    assert all(call.request()["stop"] is True for call in calls)  # nothing is converted once the set failed
    first = calls[0].request()["requests"]
    assert first[0]["params"]["Vms"][0] == {"Name": "web01", "Since": {"web01.vhdx": "rct:0"}}
    assert first[1]["params"]["Vms"] == ["web01", "sql01"]
    assert result["changed"] is True and "failed" not in result
    assert result["shadow"]["snapshot_set_id"] == SET_ID and result["shadow"]["import_required"] is True
    assert result["checkpoint"]["vms"]["sql01"]["checkpoint"] == SQL_CHECKPOINT
    assert result["reference"]["vms"]["web01"]["change_ids"] == {"x.vhdx": "rct:1"}
    converted = calls[1].request()["requests"][1]["params"]["Checkpoints"]
    assert converted == [{"Vm": "web01", "Checkpoint": WEB_CHECKPOINT}, {"Vm": "sql01", "Checkpoint": SQL_CHECKPOINT}]


def test_a_vm_whose_checkpoint_failed_is_left_out_of_the_set_alone(make_action):
    checkpoints = {"vms": [checkpointed("web01", WEB_CHECKPOINT), checkpointed("sql01", None, failed=True)]}
    replies = [batch(checkpoints, READ), batch(CREATED, referenced("web01"))]
    result, calls = run(make_action, replies, vms=["web01", "sql01"])
    create, reference = calls[1].request()["requests"]
    assert create["params"]["Volumes"] == [{"Path": VOLUME1, "Alias": "Vol1"}]  # sql01's volume is not shadowed
    assert reference["params"]["Checkpoints"] == [{"Vm": "web01", "Checkpoint": WEB_CHECKPOINT}]
    assert list(result["shadow"]["vm_files"]) == ["web01"]
    assert result["checkpoint"]["vms"]["sql01"]["failed"] is True and "failed" not in result


def test_no_vm_checkpointed_creates_nothing(make_action):
    checkpoints = {"vms": [checkpointed("web01", None, failed=True)]}
    result, calls = run(make_action, [batch(checkpoints, READ)], vms=["web01"])
    assert len(calls) == 1 and "shadow" not in result and result["changed"] is False


def test_r15_is_refused_after_the_checkpoints_and_they_stay_in_the_result_for_the_release(make_action):
    read = {**READ, "vms": [read_vm("web01", VOLUME1, "vhds")]}
    result, calls = run(make_action, [batch({"vms": [checkpointed("web01", WEB_CHECKPOINT)]}, read)], vms=["web01"])
    assert len(calls) == 1 and not result.get("failed") and "R15" in result["refused"]["web01"]
    assert result["checkpoint"]["vms"]["web01"]["checkpoint"] == WEB_CHECKPOINT
    assert "shadow" not in result


@pytest.mark.parametrize(
    ("sql01", "reason"),
    [
        ({**read_vm("sql01", VOLUME2), "Unreadable": [{"Path": "x.vmrs", "Reason": "denied"}]}, "cannot be read"),
        (None, "no VM named sql01 on this host"),  # moved to another node since the plan
    ],
)
def test_a_vm_the_set_cannot_hold_fails_alone_and_the_others_are_shadowed_and_converted(make_action, sql01, reason):
    read = {**READ, "vms": [read_vm("web01", VOLUME1)] + ([sql01] if sql01 else [])}
    replies = [batch(CHECKPOINTS, read), batch(CREATED, referenced("web01"))]
    result, calls = run(make_action, replies, vms=["web01", "sql01"])
    assert not result.get("failed") and list(result["refused"]) == ["sql01"] and reason in result["refused"]["sql01"]
    create, reference = calls[1].request()["requests"]
    assert create["params"]["Volumes"] == [{"Path": VOLUME1, "Alias": "Vol1"}]  # sql01's volume is not shadowed
    assert reference["params"]["Checkpoints"] == [{"Vm": "web01", "Checkpoint": WEB_CHECKPOINT}]
    assert list(result["shadow"]["vm_files"]) == ["web01"]
    assert result["checkpoint"]["vms"]["sql01"]["checkpoint"] == SQL_CHECKPOINT  # the release destroys it


def test_a_failed_create_converts_nothing_and_keeps_the_checkpoints(make_action):
    replies = [batch(CHECKPOINTS, READ), batch(failure("shadow_copy_create", "VSS_E_PROVIDER_VETO"))]
    result, calls = run(make_action, replies, vms=["web01", "sql01"])
    assert len(calls) == 2 and result["failed"] is True and "VSS_E_PROVIDER_VETO" in result["msg"]
    assert "shadow" not in result and "reference" not in result
    assert result["checkpoint"]["vms"]["web01"]["checkpoint"] == WEB_CHECKPOINT


def test_a_failed_conversion_keeps_the_set_for_its_release(make_action):
    replies = [batch(CHECKPOINTS, READ), batch(CREATED, failure("change_tracking_reference", "WMI error 32768"))]
    result, _calls = run(make_action, replies, vms=["web01", "sql01"])
    assert result["failed"] is True and "change_tracking_reference.ps1: WMI error 32768" in result["msg"]
    assert result["shadow"]["snapshot_set_id"] == SET_ID and "reference" not in result


def test_a_failed_checkpoint_script_fails_the_task_before_the_read_is_used(make_action):
    replies = [batch(failure("change_tracking_checkpoint", "Hyper-V is not installed"))]
    result, calls = run(make_action, replies, vms=["web01"])
    assert len(calls) == 1 and result["failed"] is True and "Hyper-V is not installed" in result["msg"]


def test_check_mode_sends_only_the_read(make_action):
    result, calls = run(make_action, [{"rc": 0, "stdout": READ}], check_mode=True, vms=["web01", "sql01"])
    assert [call.cmd for call in calls] == [COMMAND] and calls[0].request()["name"] == "shadow_copy_read"
    assert result["shadow"]["snapshot_set_id"] is None and result["checkpoint"]["vms"]["web01"]["checkpoint"] is None
    assert "reference" not in result and result["changed"] is True


RELEASE = {"web01": {"keep": POINT}, "sql01": {"checkpoint": SQL_CHECKPOINT}}
RELEASED = {"vms": [{"DestroyedCheckpoints": [], "DestroyedReferencePoints": ["old"]}]}
RELEASED["vms"].append({"DestroyedCheckpoints": [SQL_CHECKPOINT], "DestroyedReferencePoints": []})
NOTHING_LEFT = {"unexposed": 0, "deleted": 0, "removed_files": 0, "removed_directories": 0}


def absent(make_action, replies, **args):
    return run(make_action, replies, state="absent", **args)


def test_absent_releases_both_in_one_batch_each_tried_whatever_the_other_did(make_action):
    done = {**NOTHING_LEFT, "deleted": 1, "removed_files": 1}
    result, calls = absent(
        make_action, [batch(RELEASED, done)], release=RELEASE, snapshot_set_id=SET_ID, shadow_copies=[COPY1]
    )
    assert len(calls) == 1 and scripts(calls[0]) == ["change_tracking_release", "shadow_copy_release"]
    assert calls[0].request()["stop"] is False
    assert result["changed"] is True and "failed" not in result
    assert result["change_tracking"]["released"]["sql01"]["checkpoints"] == [SQL_CHECKPOINT]
    assert result["shadow_copy"]["snapshot_set_id"] == SET_ID
    params = calls[0].request()["requests"][1]["params"]
    assert params["ShadowIds"] == [COPY1["shadow_id"]] and params["Files"][0].endswith(
        "1f0e8d2a-7c41-4b3e-9a55-0d6c2e9b1a77.cab"
    )


def test_a_failed_release_fails_the_task_and_the_other_is_still_reported(make_action):
    replies = [batch(failure("change_tracking_release", "Access is denied."), {**NOTHING_LEFT, "deleted": 1})]
    result, _calls = absent(make_action, replies, release=RELEASE, snapshot_set_id=SET_ID, shadow_copies=[COPY1])
    assert result["failed"] is True and "change_tracking_release.ps1: Access is denied." in result["msg"]
    assert result["shadow_copy"]["changed"] is True and result["change_tracking"] == {}


def test_absent_with_nothing_named_sends_nothing(make_action):
    result, calls = absent(make_action, [], release={})
    assert calls == [] and result["changed"] is False and "failed" not in result


def test_absent_without_the_copies_reads_what_is_left_first(make_action):
    read = {**READ, "vms": [], "metadata_files": [{"Path": "C:\\m.cab", "Exists": True}]}
    replies = [{"rc": 0, "stdout": read}, {"rc": 0, "stdout": {**NOTHING_LEFT, "removed_files": 1}}]
    result, calls = absent(make_action, replies, snapshot_set_id=SET_ID)
    assert [call.request()["name"] for call in calls] == ["shadow_copy_read", "shadow_copy_release"]
    assert result["shadow_copy"]["released"]["Files"] == ["C:\\m.cab"] and "change_tracking" not in result


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"vms": ["web01"], "release": RELEASE}, "state=present does not take release"),
        ({"state": "absent", "vms": ["web01"]}, "state=absent does not take vms"),
        ({"vms": ["web01", "WEB01"]}, "more than once"),
        ({"vms": []}, "vms names no VM"),
        ({"state": "absent", "snapshot_set_id": "not-a-guid"}, "snapshot_set_id"),
        ({"vms": ["web01"], "metadata_dir": "C:/shadow"}, "metadata_dir"),
        ({"state": "absent", "release": {"web01": {"keep": POINT, "drop": POINT}}}, "keep and drop"),
    ],
)
def test_bad_input_fails_before_any_round_trip(make_action, args: dict[str, Any], message: str):
    result, calls = run(make_action, [], **args)
    assert calls == [] and result["failed"] is True and message in result["msg"], json.dumps(result)


def test_the_wait_for_vss_reaches_the_create_script(make_action):
    """vss_wait_timeout (default 600) is the create script's InProgressTimeoutSeconds: one place for the default."""
    for args, seconds in (({}, 600), ({"vss_wait_timeout": 0}, 0)):
        replies = [batch(CHECKPOINTS, READ), batch(CREATED, referenced("web01", "sql01"))]
        _result, calls = run(make_action, replies, vms=["web01", "sql01"], **args)
        create = calls[1].request()["requests"][0]
        assert create["name"] == "shadow_copy_create" and create["params"]["InProgressTimeoutSeconds"] == seconds


def test_a_negative_wait_for_vss_is_refused_before_any_round_trip(make_action):
    result, calls = run(make_action, [], vms=["web01"], vss_wait_timeout=-1)
    assert result["failed"] is True and calls == []
    assert "vss_wait_timeout must be 0 or more seconds (got -1)" in result["msg"]
