"""What the machine the benchmarks run on was doing: its busy CPU time (Linux /proc/stat)."""

from __future__ import annotations

import os
from pathlib import Path


def busy_cpu_seconds() -> float:
    """CPU seconds the whole machine has spent busy since boot (/proc/stat: every state but idle and iowait), to
    show, per run, how many of its cores the lab, Ansible and the data movers kept busy together."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(value) for value in fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")
