"""Paths a component's record or the manifest names are joined as text, never with Join-Path (issue 19).

Windows PowerShell 5.1's Join-Path asks the FileSystem provider for the drive and throws
DriveNotFoundException when the drive does not exist on the host (PowerShell/PowerShell issue 4386), so
a component on a missing drive failed the read instead of reading as absent. The lab answers scripts in
Python and cannot show it; these tests read the scripts as they are sent (includes expanded).
"""

from __future__ import annotations

import re

import pytest

from ansible_collections.backup.hyperv.plugins.plugin_utils._pwsh import load_script

# Scripts that join a component's Source or Destination folder with a file of it.
PROBED_FOLDER_SCRIPTS = ("proxy_components_read", "proxy_components_apply", "data_mover_run", "shadow_copy_read")
# Registry roots (records_common.ps1): their drive, HKLM:, exists on every host.
ROOTS_THAT_ALWAYS_EXIST = {"$ComponentRecordRoot"}
JOIN_PATH = re.compile(r"\bJoin-Path\s+-Path\s+(\S+)", re.IGNORECASE)


@pytest.mark.parametrize("name", PROBED_FOLDER_SCRIPTS)
def test_folders_that_may_be_on_a_missing_drive_are_not_joined_by_the_file_system_provider(name: str):
    script = load_script(name).decode("utf-8")
    folders = [m.group(1) for m in JOIN_PATH.finditer(script)]
    assert set(folders) <= ROOTS_THAT_ALWAYS_EXIST, f"{name}.ps1 joins {folders} with Join-Path"
    assert re.search(r"\bJoin-HostPath\s+-Folder\b", script), f"{name}.ps1 joins no component path"


def test_the_text_join_never_resolves_a_drive():
    body = re.search(r"function Join-HostPath \{(.*?)\n\}", load_script("data_mover_run").decode("utf-8"), re.DOTALL)
    assert body is not None
    code = "\n".join(line for line in body.group(1).splitlines() if not line.strip().startswith("#"))
    assert not re.search(r"Join-Path|Resolve-Path|Get-Item|Convert-Path|GetFullPath", code, re.IGNORECASE), code
