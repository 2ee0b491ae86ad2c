"""What the machine the benchmarks run on was doing: its busy CPU time, and which processes spent it (Linux /proc)."""

from __future__ import annotations

import os
import resource
from pathlib import Path


def busy_cpu_seconds() -> float:
    """CPU seconds the whole machine has spent busy since boot (/proc/stat: every state but idle and iowait), to
    show, per run, how many of its cores the lab, Ansible and the data movers kept busy together."""
    return _cpu_states()[0]


def iowait_seconds() -> float:
    """CPU seconds the machine's cores have spent idle with disk I/O outstanding since boot (/proc/stat iowait): a
    run bound by the disk, not the cores, shows it."""
    return _cpu_states()[1]


def _cpu_states() -> tuple[float, float]:
    """(busy, iowait) CPU seconds since boot, from the first line of /proc/stat."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    user, nice, system, _idle, iowait, irq, softirq, steal = (int(value) for value in fields[:8])
    ticks = os.sysconf("SC_CLK_TCK")
    return (user + nice + system + irq + softirq + steal) / ticks, iowait / ticks


def process_cpu_seconds(pid: int) -> tuple[float, float]:
    """(its own, its waited-for children's) CPU seconds so far of process ``pid`` (/proc/<pid>/stat: utime + stime,
    cutime + cstime). For the lab's server: the emulator's own work, and the data mover runs it started and waited
    for (every proxy's engine is a child of the lab)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()  # the name may hold spaces
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks, (int(fields[13]) + int(fields[14])) / ticks


def children_cpu_seconds() -> float:
    """CPU seconds of this process's children that ended and were waited for (getrusage RUSAGE_CHILDREN): around
    one ``ansible-playbook`` run, the controller's, every worker it forked included."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime
