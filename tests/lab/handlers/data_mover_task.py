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

With Server, the job goes to the component's job server instead
(`hyperv-datamover serve`, the engine's `server.py`, which says how a job is handed over, claimed or taken back):
the lab registers the server's task (`\\backup.hyperv\\data mover server <name> <version>`) and runs the
checkout's `serve` in a process of its own on the host's cores, hands jobs over through the same files, and
takes a job back into a task of its own when the server does not claim it in time, as the script does. The
poll follows a claimed job through the server's task. The lab ends its servers when it stops (`end_servers`),
as tasks end with a host that stops. `lab stats` counts `data_mover_jobs` started, `data_mover_servers` started
and `data_mover_server_jobs` (the jobs a server took).
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

from ansible_collections.backup.hyperv.plugins.module_utils.datamover.server import (
    ACCEPTING,
    CLAIMED,
    INBOX,
    OPTIONS_FILE,
    RUNNING,
    SERVER_FOLDER,
    SERVER_NAME,
    UNCLAIMED,
)
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
from lab.windows import folder_security
from lab.windows.hostfs import InvalidNameError
from lab.windows.hoststate import HostState, count

JOB_ROOT = "C:\\ProgramData\\backup.hyperv\\jobs"
TASK_PATH = "\\backup.hyperv\\"
PRINCIPAL = "NT AUTHORITY\\SYSTEM"
_JOB_ID = re.compile(r"^[0-9a-f]{32}$", re.IGNORECASE)  # ValidatePattern matches case-blind, as -match does
_PROGRESS_BYTES = 1024  # the end of stderr a running job reports, as the poll script reads it
# data_mover_common.ps1's Wait-DataMoverJob: a look for the exit code file every 20 ms, the task's state read
# every second (or when the file is there).
_EXIT_CODE_LOOK_SECONDS = 0.02
_TASK_LOOK_SECONDS = 1.0
KEPT_REPLY_SECONDS = 7 * 24 * 3600  # data_mover_common.ps1's $KeptReplyDays
# data_mover_start.ps1's $ServerStartSeconds, $ServerClaimSeconds, $ServerLookMilliseconds and $EngineUsageError
SERVER_START_SECONDS, SERVER_CLAIM_SECONDS, SERVER_LOOK_SECONDS, ENGINE_USAGE_ERROR = 15, 2, 0.02, 2
# Protect-JobRoot's DACL as Windows reads it back, and the owners Assert-JobRootParent takes (SDDL aliases: the
# lab's state records well-known SIDs so, lab.windows.accounts.sddl_trustee)
JOB_ROOT_DACL = "D:PAI(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)"
JOB_FOLDER_OWNERS = ("SY", "BA", "S-1-5-18", "S-1-5-32-544")
_OWNER = re.compile(r"^O:(.*?)D:")
_JOB_LOCKS: dict[tuple[str, str], threading.Lock] = {}
_JOB_LOCKS_GUARD = threading.Lock()
_SERVERS: set[subprocess.Popen] = set()  # the job servers' processes, ended when the lab stops (end_servers)
_SERVERS_GUARD = threading.Lock()


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


def _runner_ended(state: HostState, task: str, folder: Path, code: int) -> None:
    """What a task's runner does once its program ended: the exit code renamed into place, then the task Ready."""
    (folder / "exit_code.tmp").write_text(str(code), encoding="ascii")
    (folder / "exit_code.tmp").replace(folder / "exit_code.txt")
    with state.edit() as document:
        entry = document.setdefault("scheduled_tasks", {}).get(task)
        if entry is not None:
            entry.update(state="Ready", last_result=0)


def _run_task(state: HostState, task: str, command: list[str], folder: Path, cores: tuple[int, ...] | None) -> None:
    """The task's runner: the engine (on the host's `cores`) with its output in the folder, then the exit code, then
    the task Ready."""
    with open(folder / "stdout.txt", "wb") as stdout, open(folder / "stderr.txt", "wb") as stderr:
        code = run_on_cores(command, cores, stdout=stdout, stderr=stderr, env=ENGINE_ENVIRONMENT)[0]
    _runner_ended(state, task, folder, code)


def _runtime(host: dict[str, Any], component: str) -> str:
    """The Windows path of the component's python.exe, which the task runs (what Win32_Process shows for a job)."""
    record = host.get("components", {}).get(component) or {}
    return f"{str(record.get('Destination') or '').rstrip(chr(92))}\\{record.get('Runtime')}"


def _job_lock(call: ScriptCall, name: str) -> threading.Lock:
    """The start script's mutexes (Global\\backup.hyperv.data_mover.<job id>, and .server.<name> for a server's
    start): one start of a job, or of a server, at a time."""
    with _JOB_LOCKS_GUARD:
        return _JOB_LOCKS.setdefault((str(call.state_dir), name), threading.Lock())


def _protect_job_root(call: ScriptCall, host: dict[str, Any]) -> None:
    """Assert-JobRootParent and Protect-JobRoot: the folder above the jobs folder owned by LocalSystem or
    Administrators (else refused, as the script throws), the jobs folder given the protected ACL of LocalSystem and
    Administrators, owner Administrators, when it has any other (recorded in `folder_security`)."""
    parent = JOB_ROOT.rsplit("\\", 1)[0]
    owner = _OWNER.match(folder_security.folder_sddl(host, parent))
    if call.files.local_path(parent).is_dir() and (owner is None or owner[1] not in JOB_FOLDER_OWNERS):
        found = owner[1] if owner else "nobody"
        raise ScriptFailure(
            f"{parent} is owned by {found}, not by LocalSystem or Administrators: its owner could replace the data "
            "mover's jobs folder and have LocalSystem run their jobs. Nothing was started. Make Administrators its "
            f'owner (icacls "{parent}" /setowner *S-1-5-32-544), check who else may write there, then run again.'
        )
    call.files.local_path(JOB_ROOT).mkdir(parents=True, exist_ok=True)
    sddl = folder_security.folder_sddl(host, JOB_ROOT)
    owner = _OWNER.match(sddl)
    if owner is None or owner[1] not in JOB_FOLDER_OWNERS or sddl[owner.end() - 2 :] != JOB_ROOT_DACL:
        folder_security.protect_folder(host, JOB_ROOT, "BA", ["SY", "BA"])


def _new_job_folder(call: ScriptCall, job_id: str, document: str) -> Path:
    """New-JobFolder and the options file, its paths mapped into the lab; the way back kept in the host's state for
    the poll (`data_mover_paths`: lab bookkeeping, not Windows state, removed with the job)."""
    folder, paths = _folder(call, job_id), PathMap(call, in_shell=False)
    try:
        mapped = mapped_document(paths, document)
    except InvalidNameError as exc:
        raise ScriptFailure(f"lab: the options document names a path Windows refuses: {exc}") from exc
    with HostState(call.state_dir).edit() as host:
        _protect_job_root(call, host)
        shutil.rmtree(folder, ignore_errors=True)  # left by a start that failed before registering
        folder.mkdir(parents=True)
        (folder / OPTIONS_FILE).write_text(mapped, encoding="utf-8")
        host.setdefault("data_mover_paths", {})[job_id] = paths.back
    count(call.state_dir, "data_mover_jobs")
    return folder


def _register(call: ScriptCall, job_id: str, folder: Path, component: str) -> threading.Thread:
    """Register-ScheduledTask of the job's own task; the thread returned is Start-ScheduledTask."""
    command = engine_command("run", "--options-file", str(folder / OPTIONS_FILE), "--progress")
    task = _task_name(job_id)
    with HostState(call.state_dir).edit() as host:
        entry = {"principal": PRINCIPAL, "state": "Running", "last_result": None}
        entry["executable"] = _runtime(host, component)
        host.setdefault("scheduled_tasks", {})[task] = entry
    runner = (HostState(call.state_dir), task, command, folder, host_cores(call))
    return threading.Thread(target=_run_task, args=runner, daemon=True, name=task)


def _server_name(component: dict[str, Any]) -> str | None:
    """The job server's name: the component's name and version, when the script's pattern takes it (-match is
    case-blind)."""
    name = f"{component.get('Name')} {component.get('Version')}"
    return name if SERVER_NAME.match(name) else None


def _server_task_name(name: str) -> str:
    return f"{TASK_PATH}data mover server {name}"


def _run_server(state: HostState, task: str, command: list[str], folder: Path, cores: tuple[int, ...] | None) -> None:
    """The server task's runner: `serve` (on the host's `cores`) until it ends, kept in `_SERVERS` so that the lab
    can end it when it stops, as a host that stops ends its tasks; then its exit code and the task Ready."""
    with open(folder / "stdout.txt", "wb") as stdout, open(folder / "stderr.txt", "wb") as stderr:
        process = subprocess.Popen(command, stdout=stdout, stderr=stderr, env=ENGINE_ENVIRONMENT)
        with _SERVERS_GUARD:
            _SERVERS.add(process)
        if cores is not None:
            os.sched_setaffinity(process.pid, set(cores))
        code = process.wait()
        with _SERVERS_GUARD:
            _SERVERS.discard(process)
    _runner_ended(state, task, folder, code)


def end_servers() -> None:
    """End the job servers the lab started (its hosts stop)."""
    with _SERVERS_GUARD:
        running = list(_SERVERS)
    for process in running:
        process.kill()


def _start_server(call: ScriptCall, name: str, folder: Path, component: str) -> bool:
    """Start-DataMoverServer under the server's mutex: True when it waits for jobs (started now, or by the start
    that held the mutex before)."""
    with _job_lock(call, f"server {name}"):
        return (folder / ACCEPTING).is_file() or _started_server(call, name, folder, component)


def _started_server(call: ScriptCall, name: str, folder: Path, component: str) -> bool:
    """Register and start the server unless its task runs or its engine has no server (exit code 2 in its folder),
    then wait for `accepting`; True once it is there."""
    task, ended = _server_task_name(name), folder / "exit_code.txt"
    idle = call.params["ServerIdleSeconds"]
    with HostState(call.state_dir).edit() as host:
        if host.get("scheduled_tasks", {}).get(task, {}).get("state") in ("Running", "Queued"):
            return False
        if ended.is_file() and ended.read_text(encoding="ascii").strip() == str(ENGINE_USAGE_ERROR):
            return False
        folder.mkdir(parents=True, exist_ok=True)
        ended.unlink(missing_ok=True)
        jobs = str(call.files.local_path(JOB_ROOT))
        command = engine_command("serve", "--jobs", jobs, "--name", name, "--idle-seconds", str(idle))
        entry = {
            "principal": PRINCIPAL,
            "state": "Running",
            "last_result": None,
            "executable": _runtime(host, component),
        }
        host.setdefault("scheduled_tasks", {})[task] = entry
    count(call.state_dir, "data_mover_servers")
    runner = (HostState(call.state_dir), task, command, folder, host_cores(call))
    threading.Thread(target=_run_server, args=runner, daemon=True, name=task).start()
    accepting = folder / ACCEPTING
    deadline = time.monotonic() + SERVER_START_SECONDS
    while not accepting.is_file() and time.monotonic() < deadline and not ended.is_file():
        time.sleep(SERVER_LOOK_SECONDS)
    return accepting.is_file()


def _send_to_server(call: ScriptCall, job_id: str, folder: Path, component: dict[str, Any]) -> bool:
    """Send-JobToServer: hand the job over (server.py's protocol), starting the server when none waits and
    ServerIdleSeconds asks for one; True once the server claimed it, False when it is taken back or never handed."""
    name = _server_name(component)
    if not call.params["Server"] or name is None:
        return False
    server_folder = call.files.local_path(f"{JOB_ROOT}\\{SERVER_FOLDER}\\{name}")
    waiting = (server_folder / ACCEPTING).is_file()
    if not waiting and (
        call.params["ServerIdleSeconds"] == 0 or not _start_server(call, name, server_folder, component["Name"])
    ):
        return False
    handed = server_folder / INBOX / job_id
    writing = handed.with_name(f"{job_id}.tmp")  # renamed into place: the server never claims it half written
    writing.write_text(f"{_server_task_name(name)[len(TASK_PATH) :]}\n{call.params['ServerIdleSeconds']}\n", "utf-8")
    _move(writing, handed)
    claimed, deadline = folder / CLAIMED, time.monotonic() + SERVER_CLAIM_SECONDS
    while time.monotonic() < deadline:
        if claimed.is_file():
            count(call.state_dir, "data_mover_server_jobs")
            return True
        time.sleep(SERVER_LOOK_SECONDS)
    try:
        _move(handed, folder / UNCLAIMED)  # fails when the server took it meanwhile
    except FileNotFoundError:
        count(call.state_dir, "data_mover_server_jobs")
        return True
    except ScriptFailure:
        if (folder / CLAIMED).is_file():
            return True
        raise
    (server_folder / ACCEPTING).unlink(missing_ok=True)
    return False


def _move(source: Path, target: Path) -> None:
    """[IO.File]::Move as .NET Framework does it: FileNotFoundException (FileNotFoundError here) when the source is
    gone, looked at first; then an IOException when the target's folder is missing or the target exists (POSIX
    rename would blame the source, or replace the target). The rename itself still fails if the source went
    meanwhile. https://learn.microsoft.com/dotnet/api/system.io.file.move"""
    if not source.exists():
        raise FileNotFoundError(f"Could not find file '{source}'.")
    if not target.parent.is_dir():
        raise ScriptFailure(f"Could not find a part of the path '{target}'.")
    if target.exists():
        raise ScriptFailure("Cannot create a file when that file already exists.")
    source.rename(target)


def _undo_hand_over(call: ScriptCall, job_id: str) -> bool:
    """Undo-HandOver: a hand-over of this job left in a server's inbox is taken back; True when a server claimed it
    meanwhile."""
    for entry in call.files.local_path(f"{JOB_ROOT}\\{SERVER_FOLDER}").glob(f"*/{INBOX}/{job_id}"):
        taken = entry.with_name(f"{job_id}.taken")
        try:
            _move(entry, taken)
        except FileNotFoundError:
            return True
        taken.unlink()
    return False


def _start_job(call: ScriptCall, job_id: str, document: str, component: dict[str, Any]) -> bool:
    """Start-DataMoverJob: the folder, then the server or the job's own task; True when the server took it."""
    folder = _new_job_folder(call, job_id, document)
    _remove_old_kept_replies(call)
    if _send_to_server(call, job_id, folder, component):
        return True
    _register(call, job_id, folder, component["Name"]).start()  # the runner marks the task Ready when it ends
    return False


def data_mover_start(call: ScriptCall) -> dict[str, Any]:
    job_id, wait = _job_id(call), _wait_seconds(call)  # parameters bind before anything runs
    found, document = find_component(call)
    reply = {**found, "job": job_id, "started": False, "already": False, "server": False, "poll": None}
    if document is None:
        return reply
    with _job_lock(call, job_id):
        # registered, claimed by the server, or released already (its kept reply): a start re-sent after its reply
        # was lost
        registered = _task_name(job_id) in HostState(call.state_dir).read().get("scheduled_tasks", {})
        claimed = (_folder(call, job_id) / CLAIMED).is_file()
        already = registered or claimed or _kept_reply(call, job_id).is_file()
        if not already and _undo_hand_over(call, job_id):
            already = claimed = True
        reply.update(started=True, already=already, server=claimed)
        if not already:
            reply["server"] = _start_job(call, job_id, document, found["component"])
    if wait > 0 or call.params.get("Release"):
        reply["poll"] = _wait(call, job_id)
    return reply


def _read(path: Path, tail: int = 0) -> str:
    if not path.is_file():
        return ""
    data = path.read_bytes()
    return data[-tail:].decode("utf-8", "replace") if tail else data.decode("utf-8", "replace")


def _job_running(folder: Path) -> bool:
    """Test-JobRunning: the server holds a lock on the claimed job's `running` file while it runs the job (flock
    here, as the checkout's engine takes it on Linux; LockFile on Windows)."""
    path = folder / RUNNING
    if not path.is_file():
        return False
    with open(path, "rb") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
    return False


def _job_state(call: ScriptCall, job_id: str) -> dict[str, Any]:
    state: dict[str, Any] = {"job": job_id, "state": "absent", "progress": None, "exit_code": None}
    state.update(stdout="", stderr="", task_result=None, released=False)
    folder, host = _folder(call, job_id), HostState(call.state_dir).read()
    # the task (or the server's lock on a claimed job) first, then the exit code, as the script
    # a claimed job by its server's lock; a job of its own by its task (the server's task is read only once lost)
    claimed, tasks = (folder / CLAIMED).is_file(), host.get("scheduled_tasks", {})
    task = None if claimed else tasks.get(_task_name(job_id))
    running = _job_running(folder) if claimed else task is not None and task["state"] in ("Running", "Queued")
    if (folder / "exit_code.txt").is_file():
        paths = PathMap(call, in_shell=False, back=host.get("data_mover_paths", {}).get(job_id))
        stdout = _read(folder / "stdout.txt")
        state.update(state="done", exit_code=int((folder / "exit_code.txt").read_text(encoding="ascii").strip()))
        state.update(stdout=output_to_windows(paths, stdout) if stdout.strip() else stdout)
        state.update(stderr=paths.to_windows(_read(folder / "stderr.txt")))
    elif running:
        state.update(state="running", progress=_read(folder / "stderr.txt", _PROGRESS_BYTES))
    elif task is not None or folder.exists():
        task = tasks.get(_runner_task_name(folder, job_id)) if claimed else task
        state.update(state="lost", task_result=(task or {}).get("last_result"), stderr=_read(folder / "stderr.txt"))
    return state


def _runner_task_name(folder: Path, job_id: str) -> str:
    """Get-JobRunnerTaskName: the server's task once it claimed the job (the first line of `claimed`), else the
    job's own."""
    claimed = folder / CLAIMED
    first = claimed.read_text(encoding="utf-8").splitlines()[:1] if claimed.is_file() else []
    return f"{TASK_PATH}{first[0]}" if first and first[0] else _task_name(job_id)


def _release(call: ScriptCall, job_id: str) -> None:
    """Unregister-ScheduledTask of the job's own task and Remove-Item of the folder: only what is still there."""
    with HostState(call.state_dir).edit() as host:
        host.setdefault("scheduled_tasks", {}).pop(_task_name(job_id), None)
        host.setdefault("data_mover_paths", {}).pop(job_id, None)
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
