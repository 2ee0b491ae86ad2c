"""One backup or restore in its own process, and the peak RSS of that process.

``backup REPO DISK`` stores DISK as VM ``big``; ``restore REPO FOLDER`` restores the VM's latest point there as
VHDX (sparse: only the stored blocks are written). ``measure OPERATION ARGS...`` runs one of those as a child
and prints its peak RSS in bytes: ``ru_maxrss`` of that child, read by ``os.wait4`` when it is reaped. The
measuring process is this small script, not the test run: Linux counts in a child's ``ru_maxrss`` the memory of
the process it was forked from, so a child of a large pytest process would report pytest's size.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

TIMEOUT = 120.0  # seconds; each step takes a few


def measure(arguments: list) -> int:
    """Peak RSS in bytes of ``this script ARGUMENTS`` (Linux counts ``ru_maxrss`` in KiB); raises on failure."""
    child = subprocess.Popen([sys.executable, __file__, *arguments])
    deadline = time.monotonic() + TIMEOUT
    pid, status, usage = os.wait4(child.pid, os.WNOHANG)
    while pid == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
        pid, status, usage = os.wait4(child.pid, os.WNOHANG)
    if pid == 0:
        child.kill()
        os.wait4(child.pid, 0)
        raise SystemExit(f"{arguments[0]} did not finish in {TIMEOUT} s")
    child.returncode = os.waitstatus_to_exitcode(status)  # reaped here: Popen must not wait for it again
    if child.returncode != 0:
        raise SystemExit(f"{arguments[0]} failed with exit status {child.returncode}")
    return usage.ru_maxrss * 1024


def run(operation: str, repository: str, path: str) -> None:
    import runs  # only in the measured process: the measuring one stays small

    if operation == "backup":
        result = runs.backup(repository, "big", [path], workers=2)
    else:
        result = runs.restore(repository, "big", path, format="vhdx", workers=2)
    print(json.dumps(result, default=str))


if __name__ == "__main__":
    if sys.argv[1] == "measure":
        print(measure(sys.argv[2:]))
    else:
        run(*sys.argv[1:4])
