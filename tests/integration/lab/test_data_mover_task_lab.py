"""The lab's Task Scheduler for `data_mover_start.ps1` and `data_mover_poll.ps1`, in-process (issue 19).

The job runs as the proxy's LocalSystem, so it reads `\\\\fs1\\vms` (healthy.yml) where the in-shell run is
refused as a second hop (test_data_mover_run_lab.py); a re-sent start finds the job and starts no second one;
the engine deletes the options document once read; Release removes the task and the folder.
"""

from __future__ import annotations

import json
import os
import time
import uuid

import pytest
from test_data_mover_run_lab import healthy_with_component, run_params

# isort: split
from lab.handlers import ScriptFailure
from lab.windows.hoststate import HostState, read_counters

JOBS = "C:\\ProgramData\\backup.hyperv\\jobs"


def start(lab, job_id: str, params: dict) -> dict:
    return lab.call("px1", "data_mover_start", {"JobId": job_id, **params})


def poll_until_done(lab, job_id: str, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = lab.call("px1", "data_mover_poll", {"JobId": job_id, "WaitSeconds": 1})
        if state["state"] != "running":
            return state
    raise AssertionError(f"job {job_id} still running after {timeout} s")


def tasks(lab) -> dict:
    return HostState(lab.contexts["px1"].state_dir).read().get("scheduled_tasks", {})


def test_the_task_reads_a_share_as_the_computer_account_and_is_released(tmp_path):
    lab = healthy_with_component(tmp_path)
    job_id, disk, repository = uuid.uuid4().hex, "\\\\fs1\\vms\\vm3\\vm3.vhdx", "\\\\fs1\\vms\\repo"
    reply = start(lab, job_id, run_params("backup", repository, vm="vm3", source=[disk]))
    assert (reply["started"], reply["already"], reply["job"]) == (True, False, job_id)
    assert tasks(lab)[f"\\backup.hyperv\\data mover {job_id}"]["principal"] == "NT AUTHORITY\\SYSTEM"
    state = poll_until_done(lab, job_id)
    assert (state["state"], state["exit_code"]) == ("done", 0), state["stderr"]
    assert json.loads(state["stdout"])["disks"][0]["source"] == disk  # the output in Windows form
    folder = lab.host_file("px1", f"{JOBS}\\{job_id}")
    assert not (folder / "options.json").exists()  # the engine deleted it once read
    assert (folder / "exit_code.txt").read_text() == "0"
    released = lab.call("px1", "data_mover_poll", {"JobId": job_id, "WaitSeconds": 0, "Release": True})
    assert (released["state"], released["released"]) == ("done", True)
    assert not folder.exists() and not tasks(lab)
    again = lab.call("px1", "data_mover_poll", {"JobId": job_id, "WaitSeconds": 0, "Release": True})
    assert again == released  # a poll re-sent after its reply was lost: the kept reply, nothing more removed


def test_the_poll_that_sees_the_end_releases_and_a_start_removes_week_old_kept_replies(tmp_path):
    lab = healthy_with_component(tmp_path)
    job_id = uuid.uuid4().hex
    start(lab, job_id, run_params("list", "C:\\Backup\\none"))
    deadline = time.monotonic() + 60
    state = {"state": "running"}
    while state["state"] == "running" and time.monotonic() < deadline:
        state = lab.call("px1", "data_mover_poll", {"JobId": job_id, "WaitSeconds": 1, "Release": True})
    assert (state["state"], state["exit_code"], state["released"]) == ("done", 1, True)
    assert not lab.host_file("px1", f"{JOBS}\\{job_id}").exists() and not tasks(lab)
    kept = lab.host_file("px1", f"{JOBS}\\{job_id}.json")
    assert json.loads(kept.read_text()) == state
    week_ago = time.time() - 7 * 24 * 3600 - 60
    os.utime(kept, (week_ago, week_ago))
    start(lab, uuid.uuid4().hex, run_params("list", "C:\\Backup\\none"))
    assert not kept.exists()  # older than a week: removed by the next start


def test_a_resent_start_finds_the_job_and_starts_no_second_one(tmp_path):
    lab = healthy_with_component(tmp_path)
    job_id, params = uuid.uuid4().hex, run_params("list", "C:\\Backup\\none")
    assert start(lab, job_id, params)["already"] is False
    assert start(lab, job_id, params)["already"] is True
    state = poll_until_done(lab, job_id)
    assert state["exit_code"] == 1 and "C:\\Backup\\none" in state["stderr"] and str(tmp_path) not in state["stderr"]
    counters = read_counters(lab.contexts["px1"].state_dir)
    assert counters["data_mover_jobs"] == 1


def test_no_data_mover_starts_nothing_and_a_bad_job_id_is_refused(tmp_path):
    lab = healthy_with_component(tmp_path)
    reply = start(lab, uuid.uuid4().hex, run_params("list", "C:\\Backup\\none", component="other"))
    assert (reply["started"], reply["found"]) == (False, ["data_mover"]) and not tasks(lab)
    with pytest.raises(ScriptFailure, match="does not match"):
        start(lab, "..\\..\\x", run_params("list", "C:\\Backup\\none"))
    assert lab.call("px1", "data_mover_poll", {"JobId": uuid.uuid4().hex, "WaitSeconds": 0})["state"] == "absent"


def test_a_start_that_waits_polls_and_releases_and_a_resent_start_starts_no_second_job(tmp_path):
    lab = healthy_with_component(tmp_path)
    job_id, params = uuid.uuid4().hex, {**run_params("list", "C:\\Backup\\none"), "WaitSeconds": 30, "Release": True}
    reply = start(lab, job_id, params)
    assert (reply["started"], reply["already"]) == (True, False)
    assert (reply["poll"]["state"], reply["poll"]["exit_code"], reply["poll"]["released"]) == ("done", 1, True)
    assert not lab.host_file("px1", f"{JOBS}\\{job_id}").exists() and not tasks(lab)
    again = start(lab, job_id, params)  # its reply was lost: the job ended and was released meanwhile
    assert (again["already"], again["poll"]) == (True, reply["poll"])
    assert read_counters(lab.contexts["px1"].state_dir)["data_mover_jobs"] == 1
    assert start(lab, uuid.uuid4().hex, run_params("list", "C:\\Backup\\none"))["poll"] is None  # not asked
