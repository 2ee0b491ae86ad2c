"""The read test of a disk on a host whose .NET Framework runs with legacy path handling (estate
`legacy_path_handling`, issue 19): FileStream refuses a `\\\\.\\PhysicalDriveN` path there, so facts_storage.ps1
opens the drive with CreateFileW and wraps the handle; the lab refuses the old way by the script's own text."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from lab_testkit import ProvisionedLab

# isort: split
from lab.estate.fields import EstateError
from lab.estate.loader import parse_estate
from lab.windows import dotnet, script_code

CREDENTIALS = {"username": "Administrator", "password": "x"}
OLD_OPEN = """\
        $path = "\\\\.\\PhysicalDrive$Number"
        $mode = [System.IO.FileMode]::Open
        $share = [System.IO.FileShare]::ReadWrite
        $stream = [System.IO.FileStream]::new($path, $mode, [System.IO.FileAccess]::Read, $share)
"""


def estate(legacy: object = True) -> dict:
    host = {"name": "hv1", "address": "127.0.0.71", "credentials": CREDENTIALS, "role": "hyperv"}
    return {
        "domains": [{"dns": "contoso.local"}],
        "luns": [{"id": "lun1"}],
        "hosts": [{**host, "luns": ["lun1"], "legacy_path_handling": legacy}],
    }


def disks(tmp_path: Path) -> list[dict]:
    lab = ProvisionedLab(parse_estate(estate()), tmp_path / "lab")
    return lab.call("hv1", "host_facts", {"ProbeTimeout": 60, "Components": []})["disks"]


def test_every_disk_reads_on_a_host_with_legacy_path_handling(tmp_path):
    found = disks(tmp_path)
    assert [(disk["number"], disk["readable"], disk["read_error"]) for disk in found] == [
        (0, True, None),
        (1, True, None),
    ]


def test_a_script_opening_the_drive_as_a_filestream_path_reads_nothing_there(tmp_path, monkeypatch):
    """What ties the lab to the script: facts_storage.ps1 put back to `[IO.FileStream]::new($path, ...)` on
    `\\\\.\\PhysicalDriveN` reads no disk on this host, each with the ArgumentException .NET Framework throws."""
    scripts = tmp_path / "scripts"
    shutil.copytree(script_code.SCRIPTS_DIR, scripts)
    script = scripts / "facts_storage.ps1"
    text = script.read_text()
    start, end = text.index("        $stream = Open-PhysicalDrive $Number\n"), text.index("        $buffer = [byte[]]")
    script.write_text(text[:start] + OLD_OPEN + text[end:])
    monkeypatch.setattr(script_code, "SCRIPTS_DIR", scripts)
    assert dotnet.opens_device_by_path("facts_storage")
    found = disks(tmp_path)
    assert {(disk["readable"], disk["read_error"]) for disk in found} == {(False, dotnet.DEVICE_PATH_REFUSED)}


def test_the_collection_script_opens_the_drive_through_createfile():
    assert not dotnet.opens_device_by_path("facts_storage")
    assert "CreateFileW(" in script_code.code("facts_storage") and "SafeFileHandle" in script_code.code("facts_storage")


def test_legacy_path_handling_is_a_boolean(tmp_path):
    with pytest.raises(EstateError, match="legacy_path_handling"):
        parse_estate(estate("yes"))
