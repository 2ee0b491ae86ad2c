"""The data mover's job server (``hyperv-datamover serve``): one process that runs a proxy's jobs one after another.

A job run in a process of its own pays, before its first byte, the interpreter's start, the engine's imports
and the derivation of the repository's key from the passphrase (scrypt, about 0.1 s at the cost chosen for
security); on a Windows proxy also the scheduled task's registration and the runtime's start under a fresh
process. A backup run sends each proxy one job per volume group, so those costs repeat per group. The server
is started once (``data_mover_start.ps1`` registers it as a scheduled task of its own), takes the jobs handed
to it in turn, and ends with the job that asks it to, or by itself once no job came for a while: the next job
of the run finds it waiting, with its modules loaded and the keys it derived kept (``kdf.keep_derived_keys``;
the keys live only in this process's memory, for the life of the process).

Its folder is ``<jobs>/server/<name>``, in the jobs folder (the same volume as the job folders, so that every
move below is a rename, atomic on NTFS as on POSIX; the same ACL, inherited: LocalSystem and Administrators):

- ``accepting``: present while the server waits for a job. A start hands a job over only then; a server
  running a job removes it first, so a start seeing none runs the job as a task of its own instead of waiting.
- ``inbox/<job id>``: a start hands a job over by creating this file; its first line is the server's task name
  (the poll's: the task that runs the job), its second how long the server is to stay after this job (0: end
  with it; the last job of a backup run asks that). The job's folder ``<jobs>/<job id>`` already holds its
  ``options.json``.
- the claim: the server renames ``inbox/<job id>`` to ``<jobs>/<job id>/claimed``; a start that sees no claim in
  time takes the job back by renaming the same file to ``<jobs>/<job id>/unclaimed``. A rename of a file that
  is gone fails, so exactly one of the two succeeds: a job is run by the server or by a task of its own, never
  by both and never by neither.
- a claimed job ends as a task's does: ``stdout.txt`` and ``stderr.txt`` in its folder, then ``exit_code.txt``
  renamed into place, which the poll waits for. While it runs, the server holds a lock on ``running`` in the
  job's folder (taken before the claim, released after the exit code): a poll that finds the lock free and no
  exit code knows the job is lost (the server died, or was stopped), whatever the server's task does since.

Only one server serves a folder (``lock``, held while it runs); a second one started by mistake exits at once.
The server runs one job at a time: jobs that come while it is busy run as tasks of their own, so a restore is
never queued behind a backup.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import time
import traceback
from typing import Callable, Iterator, List, Optional, TextIO, Tuple

from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.kdf import keep_derived_keys

# The names the start and poll scripts share with the server (data_mover_common.ps1 holds the same).
SERVER_FOLDER = "server"
ACCEPTING = "accepting"
INBOX = "inbox"
CLAIMED = "claimed"
UNCLAIMED = "unclaimed"
LOCK = "lock"
RUNNING = "running"  # in a claimed job's folder: locked by the server while it runs the job
OPTIONS_FILE = "options.json"
EXIT_CODE_FILE = "exit_code.txt"
JOB_ID = re.compile(r"^[0-9a-f]{32}$")
# a component's name and version: no trailing space or period, which Windows strips from a folder's name
SERVER_NAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9_. -]*[A-Za-z0-9_-])?$")
# How often an idle server looks into its inbox: a job handed over waits at most this long, and an idle server
# costs a directory read per look (50 a second, no measurable CPU).
LOOK_SECONDS = 0.02

RunJob = Callable[[List[str], TextIO, TextIO], int]


def server_folder(jobs_root: str, name: str) -> str:
    """The folder of the server ``name`` (its component's name and version) under the jobs folder."""
    if not SERVER_NAME.match(name):
        raise ValueError(f"server name {name!r}: letters, digits, '_', '.', '-' and spaces only, no space or '.' last")
    return os.path.join(jobs_root, SERVER_FOLDER, name)


class _FileLock:
    """An exclusive lock on a file's first byte, released by the OS when the process dies: ``lock`` in the
    server's folder while the server lives, ``running`` in a job's folder while it runs the job. msvcrt on
    Windows (LockFile, which .NET's FileStream.Lock, the poll's test, meets), flock elsewhere."""

    def __init__(self, path: str) -> None:
        self._handle = open(path, "a+b")  # noqa: SIM115 - held until close()

    def acquire(self) -> bool:
        try:
            if sys.platform == "win32":
                import msvcrt

                self._handle.seek(0)
                msvcrt.locking(self._handle.fileno(), msvcrt.LK_NBLCK, 1)
            else:
                import fcntl

                fcntl.flock(self._handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return False
        return True

    def close(self) -> None:
        self._handle.close()


def _handed_over(inbox: str) -> List[str]:
    """The job ids waiting in the inbox, oldest first; other names are left alone."""
    try:
        names = [name for name in os.listdir(inbox) if JOB_ID.match(name)]
    except FileNotFoundError:
        return []
    return sorted(names, key=lambda name: _mtime(os.path.join(inbox, name)))


def _mtime(path: str) -> float:
    try:
        return os.stat(path).st_mtime
    except OSError:
        return 0.0


def _claim(jobs_root: str, inbox: str, job_id: str) -> Optional[_FileLock]:
    """Claim the job: its ``running`` file locked first (so that a poll that sees ``claimed`` sees the lock
    too), then the entry renamed to ``claimed``. The lock, to hold until the job's exit code is written; None
    when the start took the job back first, or when the job has no folder (removed: nothing to run), whose entry
    is then dropped so that it does not come back."""
    folder, handed = os.path.join(jobs_root, job_id), os.path.join(inbox, job_id)
    if not os.path.isdir(folder):
        _remove(handed)
        return None
    running = _FileLock(os.path.join(folder, RUNNING))
    try:
        if running.acquire():
            os.rename(handed, os.path.join(folder, CLAIMED))
            return running
    except OSError:  # the entry is gone: taken back
        pass
    running.close()
    return None


def _remove(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.remove(path)


def _write_exit_code(folder: str, code: int) -> None:
    """The exit code file, renamed into place: the poll that sees it reads the whole of stdout and stderr."""
    temporary = os.path.join(folder, "exit_code.tmp")
    with open(temporary, "w", encoding="ascii") as handle:
        handle.write(str(code))
    os.replace(temporary, os.path.join(folder, EXIT_CODE_FILE))


def run_claimed(folder: str, run_job: RunJob) -> int:
    """Run the job of ``folder`` as ``run --options-file <folder>/options.json --progress`` would, with its output
    in the folder; an error the engine does not report itself (or one opening the output) ends this job with
    status 1 and its traceback, not the server."""
    argv = ["run", "--options-file", os.path.join(folder, OPTIONS_FILE), "--progress"]
    try:
        with open(os.path.join(folder, "stdout.txt"), "w", encoding="utf-8") as stdout, open(
            os.path.join(folder, "stderr.txt"), "w", encoding="utf-8"
        ) as stderr:
            try:
                code = run_job(argv, stdout, stderr)
            except Exception:  # one job's failure, written where its poll reads it
                stderr.write(traceback.format_exc())
                code = 1
        _write_exit_code(folder, code)
    except OSError:  # its folder is gone or unwritable: the poll finds the job lost, the server goes on
        return 1
    return code


class _Marker:
    """The ``accepting`` file: shown while idle, hidden while a job runs and once the server is stopping. A start
    that took a job back removes it too (a server that did not claim in time is not accepting); an idle server
    shows it again at its next look."""

    def __init__(self, path: str) -> None:
        self.path = path

    def show(self) -> None:
        if not os.path.exists(self.path):
            with open(self.path, "w", encoding="ascii"):
                pass

    def hide(self) -> None:
        _remove(self.path)


def _claimed_jobs(jobs_root: str, inbox: str) -> Iterator[Tuple[str, _FileLock]]:
    for job_id in _handed_over(inbox):
        running = _claim(jobs_root, inbox, job_id)
        if running is not None:
            yield os.path.join(jobs_root, job_id), running


def serve(
    jobs_root: str,
    name: str,
    idle_seconds: float,
    run_job: RunJob,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """Serve the jobs handed over in ``<jobs_root>/server/<name>`` until none came for ``idle_seconds`` (or for as
    long as the last job asked: ``idle_after``); returns the number of jobs run, or -1 when another server holds
    the folder (this one then runs nothing)."""
    folder = server_folder(jobs_root, name)
    inbox = os.path.join(folder, INBOX)
    os.makedirs(inbox, exist_ok=True)
    lock = _FileLock(os.path.join(folder, LOCK))
    if not lock.acquire():
        lock.close()
        return -1
    marker, jobs_run = _Marker(os.path.join(folder, ACCEPTING)), 0
    keep_derived_keys(True)
    try:
        deadline = clock() + idle_seconds
        while clock() < deadline:
            asked = _run_waiting(jobs_root, inbox, marker, run_job, idle_seconds)
            if asked:
                jobs_run, deadline = jobs_run + len(asked), clock() + asked[-1]
                continue  # a job that asked for no wait ends the server now
            marker.show()
            sleep(LOOK_SECONDS)
        marker.hide()  # no start hands a job over from now on; one that did just before is still run
        jobs_run += len(_run_waiting(jobs_root, inbox, marker, run_job, 0))
    finally:
        marker.hide()
        keep_derived_keys(False)
        lock.close()
    return jobs_run


def idle_after(claimed: str, default: float) -> float:
    """How long the server stays after the job: the second line of its ``claimed`` file (the start wrote it), else
    ``default``."""
    try:
        with open(claimed, encoding="utf-8-sig") as handle:
            lines = handle.read().splitlines()
        value = float(lines[1])
    except (OSError, ValueError, IndexError):
        return default
    return value if value >= 0 else default


def _run_waiting(jobs_root: str, inbox: str, marker: _Marker, run_job: RunJob, default_idle: float) -> List[float]:
    """Run every job waiting in the inbox, the marker hidden while they run; how long each asked the server to
    stay after it."""
    if not _handed_over(inbox):
        return []
    marker.hide()
    asked = []
    for job_folder, running in _claimed_jobs(jobs_root, inbox):
        asked.append(idle_after(os.path.join(job_folder, CLAIMED), default_idle))
        try:
            run_claimed(job_folder, run_job)
        finally:
            running.close()  # after the exit code: a poll that finds the lock free and no exit code says lost
    return asked


def add_serve_command(sub: object) -> None:
    """``hyperv-datamover serve``: the job server (what the server's scheduled task runs)."""
    text = "run the jobs handed over in a jobs folder one after another, until none came for a while"
    parser = sub.add_parser("serve", help=text, description=text, allow_abbrev=False)  # type: ignore[attr-defined]
    parser.add_argument("--jobs", required=True, metavar="DIR", help="the jobs folder (the job folders are in it)")
    parser.add_argument("--name", required=True, help="the server's name: its component's name and version")
    parser.add_argument("--idle-seconds", type=float, required=True, help="end once no job came for this long")


def serve_command(args: object, run_job: RunJob, stderr: TextIO) -> int:
    """``hyperv-datamover serve`` with its parsed arguments: 0 once idle (or when another server holds the folder),
    2 for a name the server refuses."""
    try:
        ran = serve(args.jobs, args.name, args.idle_seconds, run_job)  # type: ignore[attr-defined]
    except ValueError as exc:
        stderr.write(f"hyperv-datamover: error: {exc}\n")
        return 2
    stderr.write(f"hyperv-datamover serve: {'another server holds the folder' if ran < 0 else f'{ran} job(s) run'}\n")
    return 0
