"""data_mover_job.collect: the start's own poll, then polls while the job runs; every poll releases a job that ended."""

from __future__ import annotations

from typing import Any

import pytest

from ansible_collections.backup.hyperv.plugins.plugin_utils.data_mover_job import POLL, JobLost, collect

JOB = "0" * 32
DONE = {"job": JOB, "state": "done", "exit_code": 0, "stdout": "{}", "stderr": "", "released": True}
RUNNING = {"job": JOB, "state": "running", "progress": "\r[##--]  50.0% 4 MiB/8 MiB"}


def recorder(replies: list[dict[str, Any]]):
    sent: list[tuple[str, dict[str, Any]]] = []

    def run_script(name: str, params: dict[str, Any]) -> dict[str, Any]:
        sent.append((name, dict(params)))
        return replies.pop(0)

    return run_script, sent


def test_a_job_the_start_saw_end_costs_no_poll():
    run_script, sent = recorder([])
    assert collect(run_script, JOB, lambda _line: None, DONE)["exit_code"] == 0
    assert sent == []  # the start's poll released it: nothing more to send


def test_a_running_job_is_polled_until_it_ends_and_each_poll_asks_for_the_release():
    run_script, sent = recorder([RUNNING, DONE])
    lines: list[str] = []
    assert collect(run_script, JOB, lines.append, RUNNING)["state"] == "done"
    assert sent == [(POLL, {"JobId": JOB, "WaitSeconds": 5, "Release": True})] * 2
    assert lines == [f"data mover job {JOB}: [##--]  50.0% 4 MiB/8 MiB"] * 2  # the start's, then the first poll's


def test_without_the_starts_poll_the_first_round_trip_is_a_poll():
    run_script, sent = recorder([DONE])
    collect(run_script, JOB, lambda _line: None)
    assert [name for name, _params in sent] == [POLL]


@pytest.mark.parametrize("end", [{"state": "lost", "task_result": 2147942402}, {"state": "absent"}])
def test_a_job_that_ended_without_its_exit_code_is_lost(end):
    run_script, sent = recorder([])
    with pytest.raises(JobLost, match=r"Run the task again|0x80070002"):
        collect(run_script, JOB, lambda _line: None, {"job": JOB, "released": True, **end})
    assert sent == []  # released with the reply that said so: no second round trip


def test_a_check_run_keeps_no_reply_on_the_proxy():
    ended = {**DONE, "released": False}
    run_script, sent = recorder([RUNNING, ended, {"state": "done", "released": True}])
    assert collect(run_script, JOB, lambda _line: None, RUNNING, check_mode=True)["exit_code"] == 0
    assert sent == [
        (POLL, {"JobId": JOB, "WaitSeconds": 5, "Release": False}),
        (POLL, {"JobId": JOB, "WaitSeconds": 5, "Release": False}),
        (POLL, {"JobId": JOB, "Release": True, "KeepReply": False}),  # after the end is in hand
    ]
