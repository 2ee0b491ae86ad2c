"""The collection's filter files stay cheap to import: a worker process that templates any filter of the collection
imports every filter file (ansible-core looks a filter up by its file name first, then loads them all), so a filter
that needs a task's option code imports it when it is called."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

FILTERS = Path(__file__).resolve().parents[4] / "plugins" / "filter"
PACKAGE = "ansible_collections.backup.hyperv.plugins"
# what the option checks bring, which only backup_option_problems and vm_restore_option_problems need
HEAVY = (
    f"{PACKAGE}.module_utils.datamover.argspec",
    f"{PACKAGE}.module_utils.datamover.settings",
    f"{PACKAGE}.plugin_utils.group_snapshot",
    f"{PACKAGE}.plugin_utils.data_mover_job",
    f"{PACKAGE}.plugin_utils.vm_restore",
    f"{PACKAGE}.plugin_utils.backup_option_checks",
)


def test_importing_every_filter_file_imports_no_tasks_option_code():
    modules = sorted(f"{PACKAGE}.filter.{path.stem}" for path in FILTERS.glob("*.py") if path.stem != "__init__")
    probe = (
        "import importlib, sys\n"
        f"for name in {modules!r}: importlib.import_module(name)\n"
        f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}  # where this test finds the collection
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, env=environment)
    assert done.stdout.strip() == "", f"imported by a filter file at import time: {done.stdout.strip()}"


def test_the_option_filters_still_answer_once_called():
    from ansible_collections.backup.hyperv.plugins.filter.backup_options import backup_option_problems
    from ansible_collections.backup.hyperv.plugins.filter.restore_options import vm_restore_option_problems

    assert backup_option_problems({"backup_block_size": "3M"})[0].startswith("backup_block_size: ")
    assert vm_restore_option_problems({"vm": "a", "location": "original", "source": "C:\\x", "name": "b"})
