"""The "busy machine" of the benchmark: other work started before a busy step and stopped right after it.

Two processes stand for what else runs on a backup proxy (other tasks, shadow copy imports, an antivirus):
a CPU hog busy-looping on one core (pinned with ``taskset -c 0``, so one core is taken and the other is
free for the tool to take), and an I/O writer on the file system of the repositories, writing and fsyncing
a file of its own under the work directory in a loop. Each runs in a process group of its own, killed whole
when the step ends (``stop`` or the ``running`` context manager, whatever ended the step); each also ends
itself when the benchmark that started it is gone, so a killed benchmark leaves no load behind.

    .venv/bin/python bench/load.py cpu PARENT_PID
    .venv/bin/python bench/load.py io FILE PARENT_PID
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

BLOCK = 1 << 20  # bytes per write of the I/O writer
FSYNC_EVERY = 8  # writes between fsyncs: a log or a database checkpointing, not one fsync per write
FILE_BLOCKS = 256  # the writer's file wraps around at this many blocks (256 MiB): it never fills the disk
CHECK_PARENT_EVERY = 0.5  # seconds between the load's checks that the benchmark still runs
LOAD_FILE = "busy-load.bin"
CPU_CORE = "0"  # the core the CPU hog takes


def _parent_gone(parent: int) -> bool:
    return os.getppid() != parent


def hog_cpu(parent: int) -> None:
    """Spin until the parent is gone (or a signal ends the process group)."""
    deadline = time.monotonic() + CHECK_PARENT_EVERY
    while True:
        if time.monotonic() >= deadline:
            if _parent_gone(parent):
                return
            deadline = time.monotonic() + CHECK_PARENT_EVERY


def write_and_fsync(path: Path, parent: int) -> None:
    """Rewrite ``path`` block by block, fsyncing every few blocks, until the parent is gone."""
    block = os.urandom(BLOCK)  # incompressible, as most data written on a proxy is by the time it hits a disk
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        written = 0
        while not _parent_gone(parent):
            os.pwrite(fd, block, (written % FILE_BLOCKS) * BLOCK)
            written += 1
            if written % FSYNC_EVERY == 0:
                os.fsync(fd)
    finally:
        os.close(fd)


class BusyLoad:
    """The CPU hog and the I/O writer for one busy step; ``work``: the folder of the repositories."""

    def __init__(self, work: Path) -> None:
        self.file = work / LOAD_FILE
        self._groups: list = []

    def start(self) -> None:
        me = str(os.getpid())
        script = str(Path(__file__).resolve())
        pin = ["taskset", "-c", CPU_CORE] if shutil.which("taskset") else []
        self._spawn([*pin, sys.executable, script, "cpu", me])
        self._spawn([sys.executable, script, "io", str(self.file), me])

    def _spawn(self, command: list) -> None:
        process = subprocess.Popen(command, start_new_session=True)  # its own process group: killed whole
        self._groups.append(process)

    def stop(self) -> None:
        """Kill every process group started, wait for them, remove the writer's file (idempotent)."""
        for process in self._groups:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
        for process in self._groups:
            process.wait()
        self._groups.clear()
        self.file.unlink(missing_ok=True)


@contextlib.contextmanager
def running(work: Path, busy: bool = True) -> Iterator[None]:
    """Run the body with the load on (``busy``) or as it is; the load is stopped however the body ends."""
    if not busy:
        yield
        return
    load = BusyLoad(work)
    try:
        load.start()
        yield
    finally:
        load.stop()


def main(argv: list) -> int:
    if argv[:1] == ["cpu"] and len(argv) == 2:
        hog_cpu(int(argv[1]))
        return 0
    if argv[:1] == ["io"] and len(argv) == 3:
        write_and_fsync(Path(argv[1]), int(argv[2]))
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
