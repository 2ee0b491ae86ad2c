"""A data mover job on a Windows proxy: started as a scheduled task, polled until it ends, then released.

The engine does not run inside the WinRM shell: a process the shell starts lives in the shell's job object,
which WinRM ends at its quotas (MaxMemoryPerShellMB, MaxShellRunTime, IdleTimeout: "Installation and
configuration for Windows Remote Management",
https://learn.microsoft.com/windows/win32/winrm/installation-and-configuration-for-windows-remote-management),
and its reads of ``\\\\server\\share`` are a second hop the file server refuses without delegation.
``data_mover_start.ps1`` registers and starts a one-time task running as LocalSystem (the proxy's computer
account on the network, the identity R12 to R14 check); ``data_mover_poll.ps1`` reports its state and, in the
same round trip once the job has ended, removes the task and its folder (every poll asks for that: one round
trip fewer than a release of its own; docs/backup.md, "Which identity reads what").

The controller chooses the job's id, so every round trip is safe to send again after a dropped connection
(``_connection_retry.RESEND_SAFE``): a re-sent start finds its task and starts no second one, a poll reads, and
the poll that released the job kept its reply on the proxy (``<job id>.json``), which a re-sent poll answers
again. A dropped connection costs a reconnection, not the job nor its result.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from ansible_collections.backup.hyperv.plugins.module_utils.datamover.settings import DataMoverOptions

START, POLL = "data_mover_start", "data_mover_poll"
# How long one poll waits on the proxy for a running job to end before it answers "running": a short job
# costs one poll, a long one a round trip every few seconds. Short enough that a poll stays far below WinRM's
# operation timeout (60 s by default) and a dropped connection loses little; long enough that a backup of
# hours costs a few thousand small round trips, not a flood.
POLL_WAIT_SECONDS = 5
# The engine redraws its progress line on stderr ("\r[####----]  42.0% 1.2 GiB/2.9 GiB 88.0 MiB/s ETA 0:19").
_PROGRESS = re.compile(r"\r?\[[#-]+\][^\r\n]*")


def poll_params(check_mode: bool) -> dict[str, Any]:
    """Every poll's parameters, and the start's own poll: wait a while, and release the job in the same round trip
    once it has ended (its reply kept on the proxy for a poll re-sent after a lost reply). A check run writes
    nothing on the proxy, so it keeps no reply: its polls do not release, and ``collect`` releases after them."""
    return {"WaitSeconds": POLL_WAIT_SECONDS, "Release": not check_mode}


RunScript = Callable[[str, Mapping[str, Any]], dict[str, Any]]


class JobOptionError(Exception):
    """An option of the job the proxy's start script would refuse: the message says which and why."""


class JobLost(Exception):
    """The job's task ended without an exit code, or the proxy has no such job: the message says which."""


def new_job_id() -> str:
    """A job id nobody else picks: 32 lower-case hex digits (what the scripts accept)."""
    return uuid.uuid4().hex


# The seconds a proxy's job server may stay after a job (data_mover_start.ps1's ValidateRange): a day.
MAX_SERVER_IDLE_SECONDS = 86400


def server_params(server_idle: int | None, check_mode: bool) -> dict[str, Any]:
    """The start script's ``Server`` and ``ServerIdleSeconds`` for the option ``server_idle``: left out, or in a check
    run (which writes nothing on the proxy, and a server writes its own files), no server; else the job goes to the
    server, which stays that long after it. Raises JobOptionError for seconds the script refuses."""
    if server_idle is not None and not 0 <= server_idle <= MAX_SERVER_IDLE_SECONDS:
        raise JobOptionError(
            f"server_idle must be 0 to {MAX_SERVER_IDLE_SECONDS} seconds (got {server_idle}): how long the proxy's "
            "data mover stays after this job for the next one, 0 to end with it"
        )
    use = server_idle is not None and not check_mode
    return {"Server": use, "ServerIdleSeconds": server_idle if use else 0}


def start_params(
    job_id: str, options: DataMoverOptions, component: str | None, server_idle: int | None
) -> dict[str, Any]:
    """Parameters of ``data_mover_start.ps1``: the job's id, the component's name ('' for the proxy's one data
    mover), the options document (the passphrase inside it travels on stdin, then in the job's folder only
    until the engine has read it), whether the job goes to the job server and how long that stays after it
    (``server_params``; datamover/server.py), and a poll's (the start polls once: a short job costs no poll of
    its own)."""
    return {
        "JobId": job_id,
        "Component": component or "",
        "Options": options.to_json(),
        **server_params(server_idle, options.check_mode),
        **poll_params(options.check_mode),
    }


def progress_line(stderr: str) -> str | None:
    """The engine's latest progress line in the end of its stderr, or None when it drew none."""
    lines = _PROGRESS.findall(stderr or "")
    return lines[-1].strip("\r") if lines else None


def without_progress(stderr: str) -> str:
    """The engine's stderr without its progress redraws: its messages only."""
    return _PROGRESS.sub("", stderr or "").lstrip("\r\n")


def collect(
    run_script: RunScript,
    job_id: str,
    report: Callable[[str], None],
    first: Mapping[str, Any] | None = None,
    check_mode: bool = False,
) -> dict[str, Any]:
    """Poll the job until it ends (the poll that sees the end releases it) and return its end (exit_code, stdout,
    stderr); raises JobLost.

    ``run_script(name, params)`` is one round trip; ``report`` shows each progress line as it comes; ``first`` is
    the start's own poll (its reply's ``poll``), or None to poll first; ``check_mode``: the job is a check run's
    (poll_params)."""
    state = first or {"state": "running"}
    while state.get("state") == "running":
        line = progress_line(str(state.get("progress") or ""))
        if line:
            report(f"data mover job {job_id}: {line}")
        state = run_script(POLL, {"JobId": job_id, **poll_params(check_mode)})
    if check_mode:  # the end is in hand: a reply lost now loses nothing, so none is kept
        run_script(POLL, {"JobId": job_id, "Release": True, "KeepReply": False})
    if state.get("state") != "done":
        raise JobLost(_lost_message(job_id, state))
    return {**state, "stderr": without_progress(str(state.get("stderr") or ""))}


def _lost_message(job_id: str, state: Mapping[str, Any]) -> str:
    if state.get("state") == "absent":
        return (
            f"data mover job {job_id} is not on the proxy (no scheduled task, no job folder): it was removed while "
            "it ran. Run the task again."
        )
    result = state.get("task_result")
    code = f"0x{int(result) & 0xFFFFFFFF:08X}" if isinstance(result, int) else "unknown"
    detail = without_progress(str(state.get("stderr") or "")).strip()
    return (
        f"data mover job {job_id}: its scheduled task ended without the engine's exit code (last run result "
        f"{code}{': ' + detail if detail else ''}). Check that LocalSystem can run the data mover component "
        "(Get-ScheduledTaskInfo, the Task Scheduler operational log) and run the task again."
    )
