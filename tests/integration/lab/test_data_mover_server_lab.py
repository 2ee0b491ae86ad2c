"""The data mover's job server on the lab's px1 (data_mover_start.ps1 with ServerIdleSeconds, server.py).

The first job starts the component's server as a task of its own and the next ones are handed to it: one
server, every job done; a job that asks for no wait ends it. A job that comes while the server runs another one
runs as a task of its own, at once; one the server does not claim in time (stopped here with SIGSTOP) is taken
back and run once, as a task of its own; a start re-sent after the server took its job starts nothing; an engine
without the server (exit status 2) leaves every job to a task of its own without trying again; ServerIdleSeconds
outside its range is refused as PowerShell refuses it.
"""

from __future__ import annotations

import fcntl
import signal
import time
import uuid

import pytest
from test_data_mover_run_lab import healthy_with_component, run_params
from test_data_mover_task_lab import JOBS, poll_until_done, start, tasks

# isort: split
from lab.handlers import ScriptFailure, data_mover_task
from lab.handlers.data_mover_task import end_servers
from lab.windows import folder_security
from lab.windows.hoststate import HostState, read_counters

SERVER_TASK = "\\backup.hyperv\\data mover server data_mover 0.1.0"
SERVER_FOLDER = f"{JOBS}\\server\\data_mover 0.1.0"


@pytest.fixture
def lab(tmp_path):
    lab = healthy_with_component(tmp_path)
    yield lab
    end_servers()


def listing(idle: int | None, repository: str = "C:\\Backup\\none") -> dict:
    """A job as the action plugin sends it with server_idle (None: left out)."""
    return {**run_params("list", repository), "Server": idle is not None, "ServerIdleSeconds": idle or 0}


def counters(lab) -> dict:
    return read_counters(lab.contexts["px1"].state_dir)


def wait_until_ready(lab, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while tasks(lab)[SERVER_TASK]["state"] == "Running":
        assert time.monotonic() < deadline, "the server did not end"
        time.sleep(0.05)


def test_one_server_runs_the_jobs_of_a_run_and_the_last_job_ends_it(lab):
    replies = []
    for idle in (60, 60, 0):
        job_id = uuid.uuid4().hex
        replies.append(start(lab, job_id, listing(idle)))
        state = poll_until_done(lab, job_id)
        assert (state["state"], state["exit_code"]) == ("done", 1) and "C:\\Backup\\none" in state["stderr"]
        assert f"\\backup.hyperv\\data mover {job_id}" not in tasks(lab)  # no task of its own
    assert [reply["server"] for reply in replies] == [True, True, True]
    wait_until_ready(lab)  # the third job asked for no wait
    numbers = counters(lab)
    assert (numbers["data_mover_servers"], numbers["data_mover_server_jobs"], numbers["data_mover_jobs"]) == (1, 3, 3)
    assert tasks(lab)[SERVER_TASK]["principal"] == "NT AUTHORITY\\SYSTEM"
    assert "3 job(s) run" in lab.host_file("px1", f"{SERVER_FOLDER}\\stderr.txt").read_text()


@pytest.mark.parametrize("idle", [0, None])
def test_a_job_without_wait_or_without_server_starts_no_server(lab, idle):
    job_id = uuid.uuid4().hex
    assert start(lab, job_id, listing(idle))["server"] is False
    poll_until_done(lab, job_id)
    assert SERVER_TASK not in tasks(lab) and counters(lab).get("data_mover_servers", 0) == 0


def test_a_job_without_server_goes_to_a_task_of_its_own_even_when_a_server_waits(lab):
    first, job_id = uuid.uuid4().hex, uuid.uuid4().hex
    assert start(lab, first, listing(60))["server"] is True
    poll_until_done(lab, first)
    assert start(lab, job_id, listing(None))["server"] is False
    assert f"\\backup.hyperv\\data mover {job_id}" in tasks(lab)
    poll_until_done(lab, job_id)


@pytest.fixture
def stopped_server(lab):
    """px1's server, started by a first job, then stopped (SIGSTOP) while it waits: it claims nothing."""
    job_id = uuid.uuid4().hex
    assert start(lab, job_id, listing(60))["server"] is True
    poll_until_done(lab, job_id)
    [process] = list(data_mover_task._SERVERS)
    process.send_signal(signal.SIGSTOP)
    yield process
    process.send_signal(signal.SIGCONT)


def test_a_job_that_comes_while_the_server_runs_another_runs_at_once_as_a_task_of_its_own(lab, stopped_server):
    lab.host_file("px1", f"{SERVER_FOLDER}\\accepting").unlink()  # as while it runs a job
    began, job_id = time.monotonic(), uuid.uuid4().hex
    assert start(lab, job_id, listing(60))["server"] is False
    assert time.monotonic() - began < 1  # no wait for a server that is not waiting
    assert f"\\backup.hyperv\\data mover {job_id}" in tasks(lab)
    assert poll_until_done(lab, job_id)["exit_code"] == 1
    assert counters(lab)["data_mover_servers"] == 1


def test_a_job_the_server_does_not_claim_in_time_is_taken_back_and_run_once_as_a_task_of_its_own(lab, stopped_server):
    job_id = uuid.uuid4().hex
    assert start(lab, job_id, listing(60))["server"] is False
    folder = lab.host_file("px1", f"{JOBS}\\{job_id}")
    assert (folder / "unclaimed").is_file() and not (folder / "claimed").exists()
    assert not lab.host_file("px1", f"{SERVER_FOLDER}\\accepting").exists()  # not waiting: no job is handed to it
    assert poll_until_done(lab, job_id)["exit_code"] == 1
    stopped_server.send_signal(signal.SIGCONT)
    time.sleep(0.5)  # ten of its looks: it shows the marker again and finds nothing to run
    assert lab.host_file("px1", f"{SERVER_FOLDER}\\accepting").exists()
    assert counters(lab)["data_mover_server_jobs"] == 1  # the first job only


def test_a_resent_start_of_a_job_the_server_took_starts_nothing(lab):
    job_id = uuid.uuid4().hex
    assert start(lab, job_id, listing(60))["server"] is True
    again = start(lab, job_id, listing(60))
    assert (again["already"], again["server"]) == (True, True)
    poll_until_done(lab, job_id)
    assert counters(lab)["data_mover_jobs"] == 1


def test_an_engine_without_the_server_leaves_every_job_to_a_task_of_its_own_without_trying_again(lab):
    folder = lab.host_file("px1", SERVER_FOLDER)
    folder.mkdir(parents=True)
    (folder / "exit_code.txt").write_text("2", encoding="ascii")  # what an engine that has no "serve" exits with
    for _ in range(2):
        job_id = uuid.uuid4().hex
        assert start(lab, job_id, listing(60))["server"] is False
        poll_until_done(lab, job_id)
    assert counters(lab).get("data_mover_servers", 0) == 0


@pytest.mark.parametrize(("idle", "words"), [(-1, "less than the minimum allowed range of 0"), (86401, "greater")])
def test_server_idle_seconds_out_of_range_is_refused_before_anything_runs(lab, idle, words):
    with pytest.raises(ScriptFailure, match=words):
        start(lab, uuid.uuid4().hex, listing(idle))
    assert not tasks(lab)


def test_a_hand_over_left_in_the_inbox_is_taken_back_by_the_resent_start_and_the_job_runs_once(lab, stopped_server):
    """The first start's shell ended after its entry reached the inbox (the server, stopped, never took it): the
    re-sent start takes the entry back before making the job's folder anew, and runs the job as a task of its
    own; the server, once it goes on, finds nothing of it."""
    job_id = uuid.uuid4().hex
    inbox = lab.host_file("px1", f"{SERVER_FOLDER}\\inbox")
    (inbox / job_id).write_text("data mover server data_mover 0.1.0\n60\n", encoding="utf-8")
    lab.host_file("px1", f"{SERVER_FOLDER}\\accepting").unlink()  # the server no longer waits
    reply = start(lab, job_id, listing(60))
    assert (reply["already"], reply["server"]) == (False, False) and not (inbox / job_id).exists()
    assert poll_until_done(lab, job_id)["exit_code"] == 1
    stopped_server.send_signal(signal.SIGCONT)
    time.sleep(0.5)
    assert not lab.host_file("px1", f"{JOBS}\\{job_id}\\claimed").exists()
    assert counters(lab)["data_mover_server_jobs"] == 1  # the fixture's first job only


def test_a_claimed_job_whose_server_died_is_lost_even_while_another_server_runs(lab):
    """The poll follows a claimed job by the lock its server holds on the job's `running` file, not by the
    server's task: a server killed mid-job holds nothing, so its job is lost, though a new server of the same
    task runs."""
    job_id = uuid.uuid4().hex
    folder = lab.host_file("px1", f"{JOBS}\\{job_id}")
    folder.mkdir(parents=True)
    (folder / "claimed").write_text("data mover server data_mover 0.1.0\n60\n", encoding="utf-8")
    (folder / "running").write_bytes(b"")  # the dead server's: no lock on it
    other = uuid.uuid4().hex
    assert start(lab, other, listing(60))["server"] is True  # a new server: its task runs
    assert tasks(lab)[SERVER_TASK]["state"] == "Running"
    state = lab.call("px1", "data_mover_poll", {"JobId": job_id, "WaitSeconds": 0})
    assert state["state"] == "lost"
    with open(folder / "running", "rb") as held:  # a live server's lock
        fcntl.flock(held, fcntl.LOCK_EX)
        assert lab.call("px1", "data_mover_poll", {"JobId": job_id, "WaitSeconds": 0})["state"] == "running"
    poll_until_done(lab, other)


def test_the_jobs_folder_gets_its_acl_back_and_a_parent_owned_by_a_user_is_refused(lab):
    """A jobs folder someone else made first (it inherits ProgramData's ACL: Users may create in it) is given the
    ACL of LocalSystem and Administrators again before a job's folder is made in it; a backup.hyperv folder owned by
    a user is refused before anything is written, since its owner could replace the jobs folder."""
    lab.host_file("px1", JOBS).mkdir(parents=True)
    job_id = uuid.uuid4().hex
    start(lab, job_id, listing(None))
    poll_until_done(lab, job_id)
    state = HostState(lab.contexts["px1"].state_dir).read()
    assert folder_security.folder_sddl(state, JOBS) == "O:BAD:PAI(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)"
    with HostState(lab.contexts["px1"].state_dir).edit() as host:
        user = "S-1-5-21-1004336348-1177238915-682003330-1013"
        folder_security.protect_folder(host, "C:\\ProgramData\\backup.hyperv", user, [user])
    other = uuid.uuid4().hex
    with pytest.raises(
        ScriptFailure, match=r"backup\.hyperv is owned by S-1-5-21-.*not by LocalSystem or Administrators"
    ):
        start(lab, other, listing(60))
    assert not lab.host_file("px1", f"{JOBS}\\{other}").exists() and SERVER_TASK not in tasks(lab)
