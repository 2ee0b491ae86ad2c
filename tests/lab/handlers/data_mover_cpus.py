"""The cores a data mover run of the lab may use: the estate's `cpus` of the host it runs for.

The lab emulates every host in one machine, so without this every proxy's data mover would share all of its
cores, and a second proxy could add no CPU. A proxy is a machine of its own: an estate that gives px1 `cpus: [0]`
and px2 `cpus: [1]` makes one proxy one core and two proxies two (bench/job.py does). Both runners of the engine
(`data_mover.py` in the shell, `data_mover_task.py` as a scheduled task) start it through `run_on_cores`.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Sequence
from typing import Any

from lab.handlers import ScriptCall


def host_cores(call: ScriptCall) -> tuple[int, ...] | None:
    """The estate's `cpus` of the host the call runs on (None: every core)."""
    return call.estate.model.host(call.host.name).cpus


def run_on_cores(
    command: Sequence[str], cores: Sequence[int] | None, stdin: str | None = None, **options: Any
) -> tuple[int, Any, Any]:
    """Run `command` to its end limited to `cores` (None: unlimited): exit code, stdout and stderr (as
    `Popen.communicate` returns them). The affinity is set right after the start, before the engine starts its
    worker threads, which inherit it (sched_setaffinity(2))."""
    with subprocess.Popen(command, stdin=subprocess.PIPE if stdin is not None else None, **options) as process:
        if cores is not None:
            os.sched_setaffinity(process.pid, set(cores))
        output, errors = process.communicate(stdin)
        return process.returncode, output, errors
