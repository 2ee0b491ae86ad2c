"""data_mover's shadow_copy on a Windows proxy: the set is imported before the job and released after it, in the
job's task; the release runs whatever the job and the import did, and a release that fails keeps the job's results
(plugin_utils/data_mover_shadow_copy.py)."""

from __future__ import annotations

import json

import pytest
from ansible.plugins.shell.sh import ShellModule as PosixShell
from test_data_mover_action import DONE, JOB_BACKUP, JOB_RESTORE, PASSPHRASE, run

SET_ID = "{1f0e8d2a-7c41-4b3e-9a55-0d6c2e9b1a77}"
ROOT = "C:\\ProgramData\\backup.hyperv\\shadow"
SET_FOLDER = ROOT + "\\1f0e8d2a-7c41-4b3e-9a55-0d6c2e9b1a77"
COPIES = [
    {"shadow_id": "{6b0d3c1e-2a4f-4d8b-8e1f-3c5a7b9d0e21}", "alias": "Vol1", "volume": "C:\\ClusterStorage\\Volume1\\"},
    {"shadow_id": "{7c1e4d2f-3b5a-4e9c-9f20-4d6b8c0e1f32}", "alias": "Vol2", "volume": "C:\\ClusterStorage\\Volume2\\"},
]
SHADOW = {"snapshot_set_id": SET_ID.upper(), "metadata": "TVNDRgAAAAA=", "shadow_copies": COPIES}
IMPORTED = {
    "rc": 0,
    "stdout": {"imported": True, "exposed": [{"ShadowId": c["shadow_id"], "Path": "x"} for c in COPIES]},
}
RELEASED = {"rc": 0, "stdout": {"unexposed": 2, "deleted": 2, "removed_files": 0, "removed_directories": 1}}
SCRIPT_FAILED = (1, json.dumps({"failed": True, "msg": "diskshadow: the set is not on this host"}), "")


def names(calls) -> list[str]:
    return [call.request()["name"] for call in calls]


def backup(**shadow) -> dict:
    return {**JOB_BACKUP, "shadow_copy": {**SHADOW, **shadow}}


def test_the_set_is_imported_the_job_run_and_the_set_released_in_one_task(make_action, recorded):
    result, calls = run(make_action, [IMPORTED, recorded(DONE), RELEASED], backup())
    assert names(calls) == ["shadow_copy_import", "data_mover_start", "shadow_copy_release"]
    imported, released = calls[0].request()["params"], calls[2].request()["params"]
    assert imported["SnapshotSetId"] == SET_ID and imported["Missing"] is True and imported["PlanOnly"] is False
    assert [e["Path"] for e in imported["Expose"]] == [SET_FOLDER + "\\Vol1", SET_FOLDER + "\\Vol2"]
    assert released["ShadowIds"] == [c["shadow_id"] for c in COPIES] and released["Directories"] == [SET_FOLDER]
    assert not result.get("failed") and result["changed"] is True and result["restore_point"]
    assert result["shadow_copy"] == {
        "snapshot_set_id": SET_ID,
        "imported": True,
        "exposed_path": SET_FOLDER,
        "released": True,
        "release": released,
    }


def test_an_expose_root_of_its_own_places_and_releases_the_copies_there(make_action, recorded):
    _result, calls = run(make_action, [IMPORTED, recorded(DONE), RELEASED], backup(expose_root="E:\\Shadows"))
    folder = "E:\\Shadows\\1f0e8d2a-7c41-4b3e-9a55-0d6c2e9b1a77"
    assert [e["Path"] for e in calls[0].request()["params"]["Expose"]] == [folder + "\\Vol1", folder + "\\Vol2"]
    assert calls[2].request()["params"]["Directories"] == [folder]


def test_a_failed_job_still_releases_the_set(make_action, recorded):
    reply = recorded("data_mover_run_wrong_passphrase.json")
    result, calls = run(make_action, [IMPORTED, reply, RELEASED], backup())
    assert names(calls) == ["shadow_copy_import", "data_mover_start", "shadow_copy_release"]
    assert (
        result["failed"] is True
        and result["msg"] == "data mover: wrong passphrase: it does not unlock the repository key"
    )
    assert result["shadow_copy"]["released"] is True


def test_a_failed_import_runs_no_job_and_releases_what_it_may_have_left(make_action):
    result, calls = run(make_action, [SCRIPT_FAILED, RELEASED], backup())
    assert names(calls) == ["shadow_copy_import", "shadow_copy_release"]  # no job on a set not exposed
    assert result["failed"] is True and result["changed"] is False
    assert result["msg"].startswith(f"importing shadow copy set {SET_ID} on the proxy failed, so no job ran: ")
    assert "the set is not on this host" in result["msg"]
    assert result["shadow_copy"]["released"] is True and result["shadow_copy"]["exposed_path"] is None


def test_a_release_that_fails_fails_the_task_and_keeps_every_vms_result(make_action, recorded):
    result, calls = run(make_action, [IMPORTED, recorded(DONE), SCRIPT_FAILED], backup())
    assert names(calls) == ["shadow_copy_import", "data_mover_start", "shadow_copy_release"]
    assert result["failed"] is True and result["restore_point"]  # what the job stored stays in the result
    assert result["shadow_copy"]["released"] is False and "release" not in result["shadow_copy"]
    assert f"shadow copy set {SET_ID} could not be released on the proxy after the job" in result["msg"]
    assert f"backup.hyperv.shadow_copy state=absent snapshot_set_id={SET_ID}" in result["msg"]


def test_check_mode_plans_the_import_and_runs_no_job(make_action):
    result, calls = run(make_action, [IMPORTED], backup(), check_mode=True)
    assert names(calls) == ["shadow_copy_import"] and calls[0].request()["params"]["PlanOnly"] is True
    assert result["changed"] is True and not result.get("failed")
    assert result["shadow_copy"]["released"] is False


@pytest.mark.parametrize(
    ("args", "says"),
    [
        ({**JOB_RESTORE, "shadow_copy": SHADOW}, "shadow_copy is for operation=backup"),
        (backup(snapshot_set_id="not-a-guid"), "shadow_copy.snapshot_set_id: 'not-a-guid' is not a GUID"),
        (backup(expose_root="C:/shadow"), "expose_root"),
        (backup(shadow_copies=[]), "shadow_copy.shadow_copies is empty"),
        (
            backup(shadow_copies=[COPIES[0], {"shadow_id": "Vol2", "alias": "Vol2"}]),
            "shadow_copy.shadow_copies[1].shadow_id: 'Vol2' is not a GUID",
        ),
        (backup(shadow_copies=[{**COPIES[0], "alias": "Vol:1"}]), "shadow_copies[0].alias"),
        (
            backup(
                shadow_copies=[{"shadow_id": COPIES[0]["shadow_id"], "alias": "Share1", "volume": "\\\\fs1\\vms\\"}]
            ),
            "copies of SMB3 shares (\\\\fs1\\vms\\)",
        ),
        ({**backup(), "server_idle": -1}, "server_idle must be 0 to 86400 seconds"),
    ],
)
def test_what_the_import_or_the_job_could_not_use_fails_before_any_round_trip(make_action, args, says):
    result, calls = run(make_action, [], args)
    assert calls == [] and result["failed"] is True and result["changed"] is False
    assert says in result["msg"]


def test_the_passphrase_stays_out_of_the_result_whatever_the_release_says(make_action, recorded):
    reply = recorded(DONE)
    failed = (1, json.dumps({"failed": True, "msg": f"access denied {PASSPHRASE}"}), "")
    result, _calls = run(make_action, [IMPORTED, reply, failed], {**backup(), "passphrase": PASSPHRASE})
    assert result["failed"] is True and PASSPHRASE not in json.dumps(result)


def test_other_connections_refuse_a_set_to_import(make_action, monkeypatch):
    action, calls = make_action("data_mover", args=backup(), transport="ansible.builtin.local")
    action._connection._shell = PosixShell()
    monkeypatch.setattr(action, "_execute_module", lambda **kwargs: pytest.fail("the module must not run"))
    result = action.run(task_vars={})
    assert (
        calls == [] and result["failed"] is True and "only a Windows proxy reached over winrm or psrp" in result["msg"]
    )


def test_an_import_reply_of_another_shape_fails_the_task_and_still_releases(make_action):
    result, calls = run(make_action, [{"rc": 0, "stdout": {"exposed": []}}, RELEASED], backup())
    assert names(calls) == ["shadow_copy_import", "shadow_copy_release"]
    assert (
        result["failed"] is True and "shadow_copy_import.ps1 replied in an unexpected shape (KeyError(" in result["msg"]
    )
    assert result["shadow_copy"]["released"] is True
