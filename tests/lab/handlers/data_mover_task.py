"""Handlers of `data_mover_start.ps1` and `data_mover_poll.ps1`: Task Scheduler, as the data mover's job uses it.

On Windows the start script registers a one-time task (`\\backup.hyperv\\data mover <job id>`, principal
`NT AUTHORITY\\SYSTEM`, no time limit), writes the options document to `options.json` in the job's folder
`C:\\ProgramData\\backup.hyperv\\jobs\\<job id>` and starts the task, whose runner starts
`python.exe datamover.pyz run --options-file <folder>\\options.json --progress` with stdout and stderr in
`stdout.txt` and `stderr.txt` and writes `exit_code.txt` when it ends. The lab does the same on the emulated
host: the task is an entry of the host's state (`scheduled_tasks`: principal, state Running or Ready, last
result), the folder is in the host's tree, and the engine is this checkout's (`data_mover.engine_command`), run
by a thread of the lab in a process of its own, so the request that started it answers at once and the job
outlives the connection. It reads as the proxy's computer account: a `\\\\server\\share` path is not refused as
a second hop (the shell's runs are, `data_mover.py`). A start whose task is registered starts nothing
(`already`), as the script does; the poll reports `running` with the end of stderr (the engine's progress),
`done` with the exit code and the output in Windows form, `lost` or `absent`, and `Release` (sent with every
poll) keeps the reply of a job that ended as `<job id>.json` in the jobs folder, unregisters the task and removes
the folder; a poll of a released job answers its kept reply, and a start removes kept replies older than a week.
`lab stats` counts `data_mover_jobs` started.
"""

from __future__ import annotations

import json
import re
import shutil
import threading
import time
from pathlib import Path
from typing import Any

from lab.handlers import HandlerRegistry, ScriptCall, ScriptFailure
from lab.handlers.data_mover import (
    ENGINE_ENVIRONMENT,
    PathMap,
    engine_command,
    find_component,
    mapped_document,
    output_to_windows,
)
from lab.handlers.data_mover_cpus import host_cores, run_on_cores
from lab.windows.hostfs import InvalidNameError
from lab.windows.hoststate import HostState, count

JOB_ROOT = "C:\\ProgramData\\backup.hyperv\\jobs"
TASK_PATH = "\\backup.hyperv\\"
PRINCIPAL = "NT AUTHORITY\\SYSTEM"
_JOB_ID = re.compile(r"^[0-9a-f]{32}$", re.IGNORECASE)  # ValidatePattern matches case-blind, as -match does
_PROGRESS_BYTES = 1024  # the end of stderr a running job reports, as the poll script reads it
# data_mover_common.ps1's Wait-DataMoverJob: a look for the exit code file every 50 ms, the task's state read
# every second (or when the file is there).
_EXIT_CODE_LOOK_SECONDS = 0.05
_TASK_LOOK_SECONDS = 1.0
KEPT_REPLY_SECONDS = 7 * 24 * 3600  # data_mover_common.ps1's $KeptReplyDays


def _job_id(call: ScriptCall) -> str:
    job_id = call.params.get("JobId")
    if not isinstance(job_id, str) or not _JOB_ID.match(job_id):
        raise ScriptFailure(
            f"Cannot validate argument on parameter 'JobId'. The argument \"{job_id}\" does not match the "
            '"^[0-9a-f]{32}$" pattern. Supply an argument that matches "^[0-9a-f]{32}$" and try the command again.'
        )
    return job_id


def _task_name(job_id: str) -> str:
    return f"{TASK_PATH}data mover {job_id}"


def _folder(call: ScriptCall, job_id: str) -> Path:
    return call.files.local_path(f"{JOB_ROOT}\\{job_id}")


def _kept_reply(call: ScriptCall, job_id: str) -> Path:
    return call.files.local_path(f"{JOB_ROOT}\\{job_id}.json")


def _remove_old_kept_replies(call: ScriptCall) -> None:
    """Remove-OldKeptReply: the kept replies of released jobs written more than a week ago."""
    limit = time.time() - KEPT_REPLY_SECONDS
    for kept in call.files.local_path(JOB_ROOT).glob("*.json"):
        if kept.stat().st_mtime < limit:
            kept.unlink()


def _run_task(state: HostState, task: str, command: list[str], folder: Path, cores: tuple[int, ...] | None) -> None:
    """The task's runner: the engine (on the host's `cores`) with its output in the folder, then the exit code, then
    the task Ready."""
    with open(folder / "stdout.txt", "wb") as stdout, open(folder / "stderr.txt", "wb") as stderr:
        code = run_on_cores(command, cores, stdout=stdout, stderr=stderr, env=ENGINE_ENVIRONMENT)[0]
    (folder / "exit_code.tmp").write_text(str(code), encoding="ascii")
    (folder / "exit_code.tmp").replace(folder / "exit_code.txt")
    with state.edit() as document:
        entry = document.setdefault("scheduled_tasks", {}).get(task)
        if entry is not None:
            entry.update(state="Ready", last_result=0)


def _runtime(host: dict[str, Any], component: str) -> str:
    """The Windows path of the component's python.exe, which the task runs (what Win32_Process shows for a job)."""
    record = host.get("components", {}).get(component) or {}
    return f"{str(record.get('Destination') or '').rstrip(chr(92))}\\{record.get('Runtime')}"


def _register(call: ScriptCall, job_id: str, document: str, host: dict[str, Any], component: str) -> threading.Thread:
    """New-JobFolder, the options file and Register-ScheduledTask (in `host`, the state being edited); the thread
    returned is Start-ScheduledTask."""
    folder, paths = _folder(call, job_id), PathMap(call, in_shell=False)
    try:
        mapped = mapped_document(paths, document)
    except InvalidNameError as exc:
        raise ScriptFailure(f"lab: the options document names a path Windows refuses: {exc}") from exc
    shutil.rmtree(folder, ignore_errors=True)  # left by a start that failed before registering
    folder.mkdir(parents=True)
    (folder / "options.json").write_text(mapped, encoding="utf-8")
    command = engine_command("run", "--options-file", str(folder / "options.json"), "--progress")
    task = _task_name(job_id)
    entry = {"principal": PRINCIPAL, "state": "Running", "last_result": None, "paths": paths.back}
    entry["executable"] = _runtime(host, component)
    host.setdefault("scheduled_tasks", {})[task] = entry
    count(call.state_dir, "data_mover_jobs")
    runner = (HostState(call.state_dir), task, command, folder, host_cores(call))
    return threading.Thread(target=_run_task, args=runner, daemon=True, name=task)


def data_mover_start(call: ScriptCall) -> dict[str, Any]:
    job_id, wait = _job_id(call), _wait_seconds(call)  # parameters bind before anything runs
    found, document = find_component(call)
    reply = {**found, "job": job_id, "started": False, "already": False, "poll": None}
    if document is None:
        return reply
    with HostState(call.state_dir).edit() as host:  # the script's mutex: one start of a job at a time
        # registered, or released already (its kept reply): a start re-sent after its reply was lost
        already = _task_name(job_id) in host.get("scheduled_tasks", {}) or _kept_reply(call, job_id).is_file()
        task = None if already else _register(call, job_id, document, host, found["component"]["Name"])
    if task is not None:
        _remove_old_kept_replies(call)
        task.start()  # once the task is registered (the state written): the runner marks it Ready when it ends
    reply.update(started=True, already=already)
    if wait > 0 or call.params.get("Release"):
        reply["poll"] = _wait(call, job_id)
    return reply


def _read(path: Path, tail: int = 0) -> str:
    if not path.is_file():
        return ""
    data = path.read_bytes()
    return data[-tail:].decode("utf-8", "replace") if tail else data.decode("utf-8", "replace")


def _job_state(call: ScriptCall, job_id: str) -> dict[str, Any]:
    state: dict[str, Any] = {"job": job_id, "state": "absent", "progress": None, "exit_code": None}
    state.update(stdout="", stderr="", task_result=None, released=False)
    task = HostState(call.state_dir).read().get("scheduled_tasks", {}).get(_task_name(job_id))  # the task first
    folder = _folder(call, job_id)
    if (folder / "exit_code.txt").is_file():
        paths = PathMap(call, in_shell=False, back=(task or {}).get("paths"))
        stdout = _read(folder / "stdout.txt")
        state.update(state="done", exit_code=int((folder / "exit_code.txt").read_text(encoding="ascii").strip()))
        state.update(stdout=output_to_windows(paths, stdout) if stdout.strip() else stdout)
        state.update(stderr=paths.to_windows(_read(folder / "stderr.txt")))
    elif task is not None and task["state"] == "Running":
        state.update(state="running", progress=_read(folder / "stderr.txt", _PROGRESS_BYTES))
    elif task is not None or folder.exists():
        state.update(state="lost", task_result=(task or {}).get("last_result"), stderr=_read(folder / "stderr.txt"))
    return state


def _release(call: ScriptCall, job_id: str) -> None:
    """Unregister-ScheduledTask and Remove-Item of the folder: only what is still there."""
    with HostState(call.state_dir).edit() as host:
        host.setdefault("scheduled_tasks", {}).pop(_task_name(job_id), None)
    shutil.rmtree(_folder(call, job_id), ignore_errors=True)


def _wait_seconds(call: ScriptCall) -> int:
    wait = call.params.get("WaitSeconds") or 0
    if not isinstance(wait, int):
        raise ScriptFailure(f"Cannot process argument transformation on parameter 'WaitSeconds'. \"{wait}\"")
    return wait


def data_mover_poll(call: ScriptCall) -> dict[str, Any]:
    return _wait(call, _job_id(call))


def _wait(call: ScriptCall, job_id: str) -> dict[str, Any]:
    """Wait-DataMoverJob (data_mover_common.ps1): the poll's reply, shared with the start's own poll."""
    deadline = time.monotonic() + _wait_seconds(call)
    state = _job_state(call, job_id)
    exit_code = _folder(call, job_id) / "exit_code.txt"
    while state["state"] == "running" and time.monotonic() < deadline:
        look = min(time.monotonic() + _TASK_LOOK_SECONDS, deadline)
        while not exit_code.is_file() and time.monotonic() < look:  # Wait-ExitCodeFile
            time.sleep(_EXIT_CODE_LOOK_SECONDS)
        state = _job_state(call, job_id)
    kept = _kept_reply(call, job_id)
    if state["state"] == "absent" and kept.is_file():
        return json.loads(kept.read_text(encoding="utf-8"))  # released by an earlier poll
    if call.params.get("Release") and state["state"] != "running":
        state["released"] = True
        if call.params.get("KeepReply", True) and state["state"] != "absent":
            kept.write_text(json.dumps(state), encoding="utf-8")  # before anything is removed, as the script
        _release(call, job_id)
    return state


def register(registry: HandlerRegistry) -> None:
    registry.add("data_mover_start", data_mover_start)
    registry.add("data_mover_poll", data_mover_poll)
