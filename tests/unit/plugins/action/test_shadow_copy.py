"""shadow_copy action: create on the source (R15 refused first), import on the proxy, release; round trips counted."""

from __future__ import annotations

import base64

import pytest
from action_run import run_action

from ansible_collections.backup.hyperv.plugins.plugin_utils._pwsh import load_script

SET_ID = "{1f0e8d2a-7c41-4b3e-9a55-0d6c2e9b1a77}"
ROOT = "C:\\ProgramData\\backup.hyperv\\shadow"
SET_FOLDER = ROOT + "\\1f0e8d2a-7c41-4b3e-9a55-0d6c2e9b1a77"
COPIES = [
    {"shadow_id": "{6b0d3c1e-2a4f-4d8b-8e1f-3c5a7b9d0e21}", "alias": "Vol1"},
    {"shadow_id": "{7c1e4d2f-3b5a-4e9c-9f20-4d6b8c0e1f32}", "alias": "Vol2"},
]
IMPORT = {"state": "imported", "snapshot_set_id": SET_ID, "metadata": "TVNDRgAAAAA=", "shadow_copies": COPIES}


def run(make_action, replies, check_mode=False, **args):
    return run_action(make_action, "shadow_copy", replies, args, check_mode)


def names(calls):
    return [call.request()["name"] for call in calls]


def release(make_action, recorded, read_reply, set_id=SET_ID):
    """Release ``set_id`` on a host whose read replies ``read_reply``; return the release script's params."""
    replies = [recorded(read_reply), recorded("shadow_copy_release_done.json")]
    result, calls = run(make_action, replies, state="absent", snapshot_set_id=set_id)
    assert names(calls) == ["shadow_copy_read", "shadow_copy_release"] and result["changed"] is True
    return calls[1].request()["params"]


def test_present_reads_then_creates_and_maps_vm_files_into_the_exposed_set(make_action, recorded):
    result, calls = run(
        make_action,
        [recorded("shadow_copy_read_vms_two_volumes.json"), recorded("shadow_copy_create_two_volumes.json")],
        vms=["web01"],
    )
    assert names(calls) == ["shadow_copy_read", "shadow_copy_create"]
    assert base64.b64decode(calls[1].request()["script"]) == load_script("shadow_copy_create")
    assert calls[0].request()["params"]["Vms"] == ["web01"]
    assert calls[1].request()["params"]["Volumes"] == [
        {"Path": "C:\\ClusterStorage\\Volume1\\", "Alias": "Vol1"},
        {"Path": "C:\\ClusterStorage\\Volume2\\", "Alias": "Vol2"},
    ]
    assert result["changed"] is True and result["snapshot_set_id"] == SET_ID
    assert result["shadow_id"] == COPIES[0]["shadow_id"]
    assert result["exposed_path"] == SET_FOLDER and result["metadata"] == "TVNDRgAAAAA="
    files = {f["source"]: f["path"] for f in result["vm_files"]["web01"]}
    assert files["C:\\ClusterStorage\\Volume2\\web01\\web01-data.vhdx"] == SET_FOLDER + "\\Vol2\\web01\\web01-data.vhdx"
    assert files["C:\\ClusterStorage\\Volume1\\web01\\web01-os.vhdx"] == SET_FOLDER + "\\Vol1\\web01\\web01-os.vhdx"


def test_r15_vhd_set_is_refused_after_the_read_and_nothing_is_created(make_action, recorded):
    result, calls = run(make_action, [recorded("shadow_copy_read_vms_vhd_set.json")], vms=["web01", "sql01"])
    assert names(calls) == ["shadow_copy_read"]
    assert result["failed"] is True and result["changed"] is False
    assert "R15" in result["msg"] and "sql01" in result["msg"] and "shared-log.vhds" in result["msg"]
    assert "web01" not in result["msg"].split("nothing was created.")[1]


def test_unknown_vm_is_refused(make_action, recorded):
    result, calls = run(make_action, [recorded("shadow_copy_read_vms_two_volumes.json")], vms=["web01", "nope"])
    assert len(calls) == 1 and result["failed"] is True and "nope" in result["msg"]


def test_present_in_check_mode_reads_only_and_has_no_ids(make_action, recorded):
    result, calls = run(
        make_action, [recorded("shadow_copy_read_vms_two_volumes.json")], check_mode=True, vms=["web01"]
    )
    assert names(calls) == ["shadow_copy_read"] and result["changed"] is True
    assert result["snapshot_set_id"] is None and result["exposed_path"] is None
    assert [c["alias"] for c in result["shadow_copies"]] == ["Vol1", "Vol2"]
    assert all(f["path"] is None for f in result["vm_files"]["web01"])


def test_create_failure_is_a_failed_result(make_action, recorded):
    result, calls = run(
        make_action,
        [recorded("shadow_copy_read_vms_two_volumes.json"), recorded("shadow_copy_create_failed_writer.json")],
        vms=["web01"],
    )
    assert len(calls) == 2 and result["failed"] is True and "Writer verification failed" in result["msg"]


def test_import_on_a_fresh_proxy_imports_and_exposes(make_action, recorded):
    created = recorded("shadow_copy_create_two_volumes.json")["stdout"]
    registered = [  # shadow_copies exactly as the present task returns them
        {"shadow_id": s["ShadowId"], "alias": s["Alias"], "volume": s["Volume"], "exposed_path": "x"}
        for s in created["Shadows"]
    ]
    result, calls = run(
        make_action,
        [recorded("shadow_copy_import_done.json")],
        state="imported",
        snapshot_set_id=SET_ID.upper(),
        metadata="TVNDRgAAAAA=",
        shadow_copies=registered,
    )
    # One round trip: the import script asks Win32_ShadowCopy itself what is missing (-Missing), no read before.
    assert names(calls) == ["shadow_copy_import"]
    params = calls[0].request()["params"]
    assert params["Missing"] is True and params["PlanOnly"] is False
    assert params["Metadata"] == "TVNDRgAAAAA=" and params["SnapshotSetId"] == SET_ID
    assert [e["Path"] for e in params["Expose"]] == [SET_FOLDER + "\\Vol1", SET_FOLDER + "\\Vol2"]
    assert result["changed"] is True and result["exposed_path"] == SET_FOLDER


def test_import_of_an_exposed_set_is_one_round_trip_and_no_change(make_action):
    result, calls = run(make_action, [{"rc": 0, "stdout": {"imported": False, "exposed": []}}], **IMPORT)
    assert names(calls) == ["shadow_copy_import"] and result["changed"] is False


def test_import_of_a_set_imported_but_not_exposed_is_a_change(make_action):
    exposed = [{"ShadowId": COPIES[1]["shadow_id"], "Path": SET_FOLDER + "\\Vol2"}]
    result, calls = run(make_action, [{"rc": 0, "stdout": {"imported": False, "exposed": exposed}}], **IMPORT)
    assert names(calls) == ["shadow_copy_import"] and result["changed"] is True


def test_import_in_check_mode_asks_the_script_for_its_plan_only(make_action):
    plan = {"imported": True, "exposed": [{"ShadowId": c["shadow_id"], "Path": "x"} for c in COPIES]}
    result, calls = run(make_action, [{"rc": 0, "stdout": plan}], check_mode=True, **IMPORT)
    assert names(calls) == ["shadow_copy_import"] and calls[0].request()["params"]["PlanOnly"] is True
    assert result["changed"] is True


@pytest.mark.parametrize(
    ("read_reply", "args"),
    [
        ("shadow_copy_read_set_exposed.json", {"state": "absent", "snapshot_set_id": SET_ID}),
    ],
    ids=["release"],
)
def test_check_mode_reads_once_and_applies_nothing(make_action, recorded, read_reply, args):
    result, calls = run(make_action, [recorded(read_reply)], check_mode=True, **args)
    assert names(calls) == ["shadow_copy_read"] and result["changed"] is True


def test_release_unexposes_deletes_and_removes_the_mount_folder(make_action, recorded):
    params = release(make_action, recorded, "shadow_copy_read_set_exposed.json")
    assert params["ExposedPaths"] == [SET_FOLDER + "\\Vol1\\", SET_FOLDER + "\\Vol2\\"]
    assert len(params["ShadowIds"]) == 2 and params["Directories"] == [SET_FOLDER] and params["Files"] == []


def test_release_of_a_gone_set_is_no_change_and_one_round_trip(make_action, recorded):
    result, calls = run(make_action, [recorded("shadow_copy_read_set_gone.json")], state="absent", shadow_id=SET_ID)
    assert len(calls) == 1 and result["changed"] is False and not result.get("failed")
    assert calls[0].request()["params"]["ShadowId"] == SET_ID


def test_release_on_the_source_removes_the_metadata_file(make_action, recorded):
    params = release(make_action, recorded, "shadow_copy_read_source_metadata_only.json")
    assert params["Files"] == [ROOT + "\\1f0e8d2a-7c41-4b3e-9a55-0d6c2e9b1a77.cab"]


NOTHING_RELEASED = {"rc": 0, "stdout": {"unexposed": 0, "deleted": 0, "removed_files": 0, "removed_directories": 0}}


def test_release_of_known_copies_is_one_round_trip_the_script_checks_itself(make_action, recorded):
    # The copies the job created (present/imported) are named: no read first, the release script looks each one up.
    result, calls = run(
        make_action,
        [recorded("shadow_copy_release_done.json")],
        state="absent",
        snapshot_set_id=SET_ID,
        shadow_copies=COPIES,
    )
    assert names(calls) == ["shadow_copy_release"] and result["changed"] is True
    params = calls[0].request()["params"]
    assert params["ExposedPaths"] == [SET_FOLDER + "\\Vol1", SET_FOLDER + "\\Vol2"]
    assert params["ShadowIds"] == [c["shadow_id"] for c in COPIES] and params["ShareShadowIds"] == []
    assert params["Files"] == [ROOT + "\\1f0e8d2a-7c41-4b3e-9a55-0d6c2e9b1a77.cab"]
    assert params["Directories"] == [SET_FOLDER]


def test_release_of_known_copies_already_gone_is_no_change(make_action):
    result, calls = run(make_action, [NOTHING_RELEASED], state="absent", snapshot_set_id=SET_ID, shadow_copies=COPIES)
    assert names(calls) == ["shadow_copy_release"] and result["changed"] is False and result["released"] == {}


def test_release_of_known_copies_in_check_mode_still_reads_and_releases_nothing(make_action, recorded):
    result, calls = run(
        make_action,
        [recorded("shadow_copy_read_set_exposed.json")],
        check_mode=True,
        state="absent",
        snapshot_set_id=SET_ID,
        shadow_copies=COPIES,
    )
    assert names(calls) == ["shadow_copy_read"] and result["changed"] is True


def test_release_of_known_share_copies_reads_first(make_action, recorded):
    # A share's copy lives on the file server, which the release script deletes by a run of its own (no look-up).
    copies = [{"shadow_id": SHARE_SHADOW, "alias": "Share1", "volume": "\\\\fs1\\vms\\", "exposed_path": COPY_SHARE}]
    replies = [recorded("shadow_copy_read_set_gone.json")]
    result, calls = run(make_action, replies, state="absent", snapshot_set_id=SHARE_SET, shadow_copies=copies)
    assert names(calls) == ["shadow_copy_read"] and result["changed"] is False


def test_a_bad_id_fails_with_no_round_trip(make_action):
    result, calls = run(make_action, [], state="absent", snapshot_set_id="not-a-guid")
    assert calls == [] and result["failed"] is True and "GUID" in result["msg"]


SHARE_SET = "{2a9c4e61-8d3b-4f70-a1c5-6e2b9d0f4a83}"
SHARE_SHADOW = "{3b0d5f72-9e4c-4a81-b2d6-7f3c0e1a5b94}"
COPY_SHARE = "\\\\fs1\\vms@" + SHARE_SHADOW


def test_present_for_a_vm_on_a_share_creates_a_share_set_and_maps_files_into_the_shadow_copy_share(
    make_action, recorded
):
    result, calls = run(
        make_action,
        [recorded("shadow_copy_read_vms_smb_share.json"), recorded("shadow_copy_create_smb_share.json")],
        vms=["files01"],
    )
    params = calls[1].request()["params"]
    assert params["Volumes"] == [{"Path": "\\\\fs1\\vms\\", "Alias": "Vol1"}] and params["Transportable"] is False
    assert result["snapshot_set_id"] == SHARE_SET and result["import_required"] is False
    assert result["exposed_path"] is None and result["shadow_copy_shares"] == {"\\\\fs1\\vms\\": COPY_SHARE}
    assert result["shadow_copies"][0]["exposed_path"] == COPY_SHARE
    files = {f["source"]: f["path"] for f in result["vm_files"]["files01"]}
    assert files["\\\\fs1\\vms\\files01\\files01.vhdx"] == COPY_SHARE + "\\files01\\files01.vhdx"
    assert all(path.startswith(COPY_SHARE + "\\files01\\") for path in files.values())


def test_a_local_set_stays_transportable_and_asks_for_an_import(make_action, recorded):
    result, calls = run(
        make_action,
        [recorded("shadow_copy_read_vms_two_volumes.json"), recorded("shadow_copy_create_two_volumes.json")],
        vms=["web01"],
    )
    assert calls[1].request()["params"]["Transportable"] is True
    assert result["import_required"] is True and result["shadow_copy_shares"] == {}


def test_a_vm_on_both_a_share_and_a_local_volume_is_refused_before_anything_is_created(make_action, recorded):
    result, calls = run(make_action, [recorded("shadow_copy_read_vms_mixed.json")], vms=["files01"])
    assert names(calls) == ["shadow_copy_read"] and result["failed"] is True
    assert "\\\\fs1\\vms\\" in result["msg"] and "C:\\" in result["msg"]


def test_present_for_a_share_in_check_mode_reads_only(make_action, recorded):
    result, calls = run(
        make_action, [recorded("shadow_copy_read_vms_smb_share.json")], check_mode=True, vms=["files01"]
    )
    assert names(calls) == ["shadow_copy_read"] and result["import_required"] is False
    assert all(f["path"] is None for f in result["vm_files"]["files01"])


def test_release_of_a_share_set_deletes_the_copies_and_removes_the_record(make_action, recorded):
    params = release(make_action, recorded, "shadow_copy_read_source_share_set.json", SHARE_SET)
    # On the file server, not in this host's Win32_ShadowCopy: the script deletes each one in its own DiskShadow run.
    assert params["ExposedPaths"] == params["ShadowIds"] == [] and params["ShareShadowIds"] == [SHARE_SHADOW.upper()]
    assert [p.rsplit("\\", 1)[1] for p in params["Files"]] == [
        "2a9c4e61-8d3b-4f70-a1c5-6e2b9d0f4a83.cab",
        "2a9c4e61-8d3b-4f70-a1c5-6e2b9d0f4a83.shares.json",
    ]


def test_a_share_copy_without_a_shadow_copy_share_fails(make_action, recorded):
    created = recorded("shadow_copy_create_smb_share.json")
    created["stdout"]["Shadows"][0]["ShadowCopyShare"] = None  # DiskShadow reported no device name
    result, calls = run(make_action, [recorded("shadow_copy_read_vms_smb_share.json"), created], vms=["files01"])
    assert len(calls) == 2 and result["failed"] is True and "no shadow copy share for \\\\fs1\\vms\\" in result["msg"]


@pytest.mark.parametrize(
    ("args", "option", "shown"),
    [
        ({"vms": ["vm1"], "metadata_dir": "C:\\ProgramData\\meta\x0bdata"}, "metadata_dir", "\\x0b (vertical tab"),
        ({"vms": ["vm1"], "expose_root": "C:\\Shadow|Root"}, "expose_root", "'|'"),
        ({"vms": ["vm1"], "expose_root": "C:/ProgramData/shadow"}, "expose_root", "backslashes only"),
        (
            {
                "state": "imported",
                "snapshot_set_id": SET_ID,
                "metadata": "TVNDRg==",
                "shadow_copies": COPIES,
                "expose_root": ROOT + "\r",
            },
            "expose_root",
            "\\x0d (carriage return",
        ),
        (
            {
                "state": "imported",
                "snapshot_set_id": SET_ID,
                "metadata": "TVNDRg==",
                "shadow_copies": [{"shadow_id": COPIES[0]["shadow_id"], "alias": "Vol:1"}],
            },
            "shadow_copies[0].alias",
            "':'",
        ),
        ({"state": "absent", "snapshot_set_id": SET_ID, "metadata_dir": "C:\\meta."}, "metadata_dir", "period"),
    ],
)
def test_a_folder_windows_refuses_fails_before_any_round_trip(make_action, args, option, shown):
    result, calls = run(make_action, [], **args)
    assert calls == [] and result["failed"] is True and result["changed"] is False
    assert result["msg"].startswith(f"{option}: ") and shown in result["msg"]


def test_a_negative_wait_for_vss_is_refused_before_any_round_trip(make_action):
    result, calls = run(make_action, [], vms=["web01"], vss_wait_timeout=-5)
    assert result["failed"] is True and calls == []
    assert "vss_wait_timeout must be 0 or more seconds (got -5)" in result["msg"]
