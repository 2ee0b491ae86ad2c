"""The scripts' includes: `#include` lines expand in place, and what the scripts share is written once."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from ansible_collections.backup.hyperv.plugins.plugin_utils import _pwsh


def scripts_in(tmp_path, monkeypatch, files):
    (tmp_path / "scripts").mkdir()
    for name, body in files.items():
        (tmp_path / "scripts" / f"{name}.ps1").write_bytes(body)
    monkeypatch.setattr(_pwsh.importlib.resources, "files", lambda _package: tmp_path)


def test_load_script_expands_includes_in_place_and_nested(tmp_path, monkeypatch):
    scripts = {
        "main_probe": b"param($a)\r\n#include lib_probe.ps1\r\n$a\r\n",
        "lib_probe": b"\xef\xbb\xbffunction F {}\n#include inner_probe.ps1\n\n",
        "inner_probe": b"function G {}\n",
    }
    scripts_in(tmp_path, monkeypatch, scripts)
    assert _pwsh.load_script("main_probe") == b"param($a)\r\nfunction F {}\nfunction G {}\r\n$a\r\n"


def test_an_include_of_itself_is_refused(tmp_path, monkeypatch):
    loop = {"loop_probe": b"#include again_probe.ps1\n", "again_probe": b"#include loop_probe.ps1\n"}
    scripts_in(tmp_path, monkeypatch, loop)
    with pytest.raises(ValueError, match=r"loop_probe\.ps1 includes itself"):
        _pwsh.load_script("loop_probe")


def test_only_a_whole_line_directive_includes(tmp_path, monkeypatch):
    body = b"# see #include x_probe.ps1\n  #include x_probe.ps1\n#include X.ps1\n"
    scripts_in(tmp_path, monkeypatch, {"plain_probe": body})
    assert _pwsh.load_script("plain_probe") == body


SCRIPTS_DIR = Path(_pwsh.__file__).with_name("scripts")
DISKSHADOW = ["Invoke-DiskShadow", "Invoke-Program"]
HYPERV_WMI = ["Invoke-HyperVMethod", "Wait-HyperVJob", "New-List", "Get-Text"]
# The shared functions each script gets through its includes (#include, nested in diskshadow_common.ps1).
SHARED_FUNCTIONS = {
    "data_mover_run": ["Invoke-Program", "Find-DataMover"],
    "data_mover_start": ["Find-DataMover", "New-RedirectedRunner", "Get-JobTaskName", "Wait-DataMoverJob"],
    "data_mover_poll": ["Get-JobTaskName", "Get-KeptReplyPath", "Wait-DataMoverJob"],
    "host_facts": ["Invoke-Program", "New-List", "Get-Text"],
    "proxy_components_read": ["New-List"],
    "proxy_components_apply": ["Invoke-Program", "Invoke-PlanSteps"],
    "vss_provider_read": ["Get-Text"],
    "vss_provider_apply": ["Invoke-Program", "Invoke-PlanSteps"],
    "windows_feature_apply": ["Invoke-PlanSteps"],
    "shadow_copy_create": DISKSHADOW,
    "shadow_copy_import": DISKSHADOW,
    "shadow_copy_release": DISKSHADOW,
    "change_tracking_checkpoint": HYPERV_WMI,
    "change_tracking_reference": HYPERV_WMI,
    "change_tracking_release": HYPERV_WMI,
}
# What the scripts share, and the one include file that spells it.
ONE_PLACE = {
    r"ProcessStartInfo|Start-Process": "process_common.ps1",
    r"foreach \(\$\w+ in \$Steps\)": "steps_common.ps1",
    r"function (New-List|Get-Text) ": "values_common.ps1",
    r"JobState|\$HyperVNamespace =": "hyperv_wmi_common.ps1",
    r"'HKLM:\\SOFTWARE\\(backup\.hyperv|Microsoft\\Windows\\CurrentVersion\\Uninstall)": "records_common.ps1",
}


@pytest.mark.parametrize(("name", "functions"), SHARED_FUNCTIONS.items())
def test_scripts_carry_each_shared_function_they_include_once(name, functions):
    sent = _pwsh.load_script(name).decode("utf-8")
    assert [sent.count(f"function {function} ") for function in functions] == [1] * len(functions)
    assert not [line for line in sent.splitlines() if line.startswith("#include")]


def scripts_matching(pattern: str) -> list[str]:
    found = re.compile(pattern, re.IGNORECASE)
    return sorted(path.name for path in SCRIPTS_DIR.glob("*.ps1") if found.search(path.read_text(encoding="utf-8")))


@pytest.mark.parametrize(("pattern", "home"), ONE_PLACE.items())
def test_what_the_scripts_share_is_spelled_in_one_include(pattern, home):
    assert scripts_matching(pattern) == [home]


# style.md: one idea per file, under about 300 lines.
SCRIPT_LINE_LIMIT = 300


@pytest.mark.parametrize("script", sorted(SCRIPTS_DIR.glob("*.ps1")), ids=lambda path: path.name)
def test_each_script_file_stays_under_the_line_limit(script):
    assert len(script.read_text(encoding="utf-8").splitlines()) <= SCRIPT_LINE_LIMIT


FACTS_SCHEMA = SCRIPTS_DIR.parent / "facts" / "hyperv_offhost.schema.json"
# The fields host_facts.ps1 writes itself; every other field of the schema is a section a collector returns.
DRIVER_FIELDS = {"schema_version", "collected_at", "probe_duration_ms"}


def test_host_facts_is_a_driver_whose_section_collectors_come_from_includes_once_each():
    driver = (SCRIPTS_DIR / "host_facts.ps1").read_text(encoding="utf-8")
    collectors = dict(re.findall(r"^\$facts\.(\w+) = Invoke-Section \{ (Get-\w+Section) \}$", driver, re.MULTILINE))
    sent = _pwsh.load_script("host_facts").decode("utf-8")
    assert set(collectors) == set(json.loads(FACTS_SCHEMA.read_text(encoding="utf-8"))["properties"]) - DRIVER_FIELDS
    assert [sent.count(f"function {name} ") for name in collectors.values()] == [1] * len(collectors)
    assert not re.findall(r"^function Get-\w+Section ", driver, re.MULTILINE)
