"""Which process holds a lock, and whether that holder is still alive (``stale_reason``).

A process is named by host name, process id (PID) and process start time. The start time is what keeps a
reused PID from keeping a dead holder's lock alive: after the holder dies its PID can be given to another
process, which is alive but started later. Where the start time cannot be read (not Linux or Windows), only
the PID is checked, as before.
"""

from __future__ import annotations

import os
import socket
import time
from typing import Optional

STALE_AFTER = 600.0  # a lock not refreshed for 10 minutes is stale, whichever host holds it
UNREADABLE_GRACE = 10.0  # seconds an unreadable lock file is left alone (an exclusive create being written)
# The record of a lock file that exists but holds no readable record (compared by identity).
UNREADABLE: dict = {"kind": "unreadable"}


def stale_reason(holder: Optional[dict], age: float, host: str) -> Optional[str]:
    """Why the lock whose record is ``holder`` is stale (None: it is live); ``age``: seconds since written."""
    if holder is UNREADABLE or holder is None:
        return f"its lock file is unreadable and {age:.0f} s old" if age > UNREADABLE_GRACE else None
    refreshed = holder.get("refreshed")
    if isinstance(refreshed, (int, float)):  # records of older versions have none: they never refresh
        silent = time.time() - refreshed
        if silent > float(holder.get("stale_after") or STALE_AFTER):
            return f"not refreshed for {silent:.0f} s"
    if holder.get("host") == host:
        try:
            pid = int(holder["pid"])
        except (KeyError, TypeError, ValueError):
            return None
        if not process_running(pid, holder.get("started")):
            return f"process {pid} is no longer running on {host}"
    return None


def describe(holder: Optional[dict]) -> str:
    if holder is UNREADABLE:
        return "an unreadable lock file (damaged, or being written)"
    if not holder:
        return "an unknown process"
    what = ", ".join(str(part) for part in (holder.get("operation"), f"{holder.get('kind')} lock") if part)
    since = holder.get("acquired") or holder.get("time")
    text = f"pid {holder.get('pid')} on host {holder.get('host')} since {since} ({what})"
    if isinstance(holder.get("refreshed"), (int, float)):
        text += f", refreshed {max(time.time() - holder['refreshed'], 0):.0f} s ago"
    return text


def this_host() -> str:
    return socket.gethostname()


def process_start(pid: int) -> Optional[str]:
    """An opaque text that differs between two processes that had the same PID, or None if unknown."""
    try:
        if os.name == "nt":
            return _windows_process_start(pid)
        return _linux_process_start(pid)
    except (OSError, ValueError, IndexError, AttributeError):
        return None


def process_running(pid: int, started: Optional[str]) -> bool:
    """True while process ``pid`` (started at ``started``, when recorded) runs on this host."""
    if not _pid_alive(pid):
        return False
    if started is None:
        return True
    now_started = process_start(pid)
    return now_started is None or now_started == started


def _linux_process_start(pid: int) -> Optional[str]:
    # proc(5): field 22 of /proc/<pid>/stat is the start time in clock ticks after boot; the boot id makes it
    # unique across reboots. The command name (field 2) may hold spaces and parentheses, so split after it.
    with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as handle:
        fields = handle.read().rpartition(")")[2].split()
    with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as handle:
        boot = handle.read().strip()
    return f"{boot}:{int(fields[19])}"


def _windows_process_start(pid: int) -> Optional[str]:
    # GetProcessTimes gives the creation time as a FILETIME (100 ns since 1601), fixed for the process's life
    # (https://learn.microsoft.com/en-us/windows/win32/api/processthreadsapi/nf-processthreadsapi-getprocesstimes).
    import ctypes

    kernel32 = ctypes.windll.kernel32
    handle = kernel32.OpenProcess(0x1000, False, pid)  # PROCESS_QUERY_LIMITED_INFORMATION
    if not handle:
        return None
    try:
        created, exited, kernel, user = (ctypes.c_ulonglong() for _slot in range(4))
        ok = kernel32.GetProcessTimes(
            handle, ctypes.byref(created), ctypes.byref(exited), ctypes.byref(kernel), ctypes.byref(user)
        )
        return str(created.value) if ok else None
    finally:
        kernel32.CloseHandle(handle)


def _pid_alive(pid: int) -> bool:
    if os.name == "nt":  # os.kill(pid, 0) would terminate the process on Windows
        return _windows_pid_alive(pid)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _windows_pid_alive(pid: int) -> bool:
    import ctypes

    kernel32 = ctypes.windll.kernel32
    handle = kernel32.OpenProcess(0x1000, False, pid)  # PROCESS_QUERY_LIMITED_INFORMATION
    if not handle:
        return kernel32.GetLastError() == 5  # ERROR_ACCESS_DENIED: exists, owned by someone else
    try:
        code = ctypes.c_ulong()
        kernel32.GetExitCodeProcess(handle, ctypes.byref(code))
        return code.value == 259  # STILL_ACTIVE
    finally:
        kernel32.CloseHandle(handle)
