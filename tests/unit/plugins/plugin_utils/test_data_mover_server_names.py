"""The start and poll scripts and the engine's job server agree on every name and limit they share.

The server (module_utils/datamover/server.py) and data_mover_common.ps1 / data_mover_start.ps1 meet only in files:
a name spelt differently on one side would make every hand-over wait out its claim and fall back, silently
slower. The lab imports the engine's names and keeps the start script's waits; both are read back from the
scripts here.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from lab.handlers import data_mover_task

from ansible_collections.backup.hyperv.plugins.module_utils.datamover import server
from ansible_collections.backup.hyperv.plugins.plugin_utils import _pwsh
from ansible_collections.backup.hyperv.plugins.plugin_utils.data_mover_job import MAX_SERVER_IDLE_SECONDS

SCRIPTS = Path(_pwsh.__file__).with_name("scripts")
COMMON = (SCRIPTS / "data_mover_common.ps1").read_text(encoding="utf-8")
START = (SCRIPTS / "data_mover_start.ps1").read_text(encoding="utf-8")


def assigned(script: str, variable: str) -> str:
    found = re.search(rf"^\${variable} = (.+?)\s*(?:#.*)?$", script, re.M)
    assert found, f"${variable} is not assigned"
    return found.group(1).strip("'\"")


@pytest.mark.parametrize(
    ("variable", "name"),
    [
        ("ServerAccepting", server.ACCEPTING),
        ("ServerInbox", server.INBOX),
        ("ServerClaimed", server.CLAIMED),
        ("ServerUnclaimed", server.UNCLAIMED),
        ("ServerRunning", server.RUNNING),
        ("ServerNamePattern", server.SERVER_NAME.pattern),
    ],
)
def test_the_scripts_use_the_servers_file_names(variable, name):
    assert assigned(COMMON, variable) == name


def test_the_server_folder_and_options_file_are_the_servers():
    assert assigned(COMMON, "DataMoverServerRoot") == f"$DataMoverJobRoot\\{server.SERVER_FOLDER}"
    assert f"\\{server.OPTIONS_FILE}" in START and f"\\{server.EXIT_CODE_FILE}" in START


def test_the_lab_waits_as_the_start_script_and_the_range_is_the_action_plugins():
    assert int(assigned(START, "ServerStartSeconds")) == data_mover_task.SERVER_START_SECONDS
    assert int(assigned(START, "ServerClaimSeconds")) == data_mover_task.SERVER_CLAIM_SECONDS
    assert int(assigned(START, "ServerLookMilliseconds")) / 1000 == data_mover_task.SERVER_LOOK_SECONDS
    assert int(assigned(START, "EngineUsageError")) == data_mover_task.ENGINE_USAGE_ERROR
    assert int(assigned(COMMON, "ExitCodeLookMilliseconds")) / 1000 == data_mover_task._EXIT_CODE_LOOK_SECONDS
    assert data_mover_task.SERVER_LOOK_SECONDS == server.LOOK_SECONDS  # the start looks as often as the server
    assert f"[ValidateRange(0, {MAX_SERVER_IDLE_SECONDS})][int]$ServerIdleSeconds" in START
