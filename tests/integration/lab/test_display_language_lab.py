"""Native tools in another display language (issue 19): a host's `display_language: de-DE` makes the lab's
DiskShadow print its report with German labels (`lab.estate.display_language`, the lab's own translation). The
create script reads ids from DiskShadow's alias environment and a shadow copy share by its shape, so a German
host creates, imports and releases a set as an English one does; a script that looks for an English label fails."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from lab_testkit import ESTATES, ProvisionedLab

# isort: split
from lab.estate.fields import EstateError
from lab.estate.loader import load_estate
from lab.handlers import ScriptFailure
from lab.windows import diskshadow

ROOT = "C:\\ProgramData\\backup.hyperv\\shadow"
CSV = "C:\\ClusterStorage\\Volume1\\"


def german_estate(directory: Path, language: str = "de-DE") -> Path:
    """healthy.yml with hv1 and px1 in `language`."""
    directory.mkdir(parents=True, exist_ok=True)
    estate = directory / "estate.yml"
    hosts = [{"name": name, "display_language": language} for name in ("hv1", "px1")]
    estate.write_text(json.dumps({"extends": str(ESTATES / "healthy.yml"), "hosts": hosts}))
    return estate


def create(lab: ProvisionedLab) -> dict:
    return lab.call(
        "hv1",
        "shadow_copy_create",
        {"Volumes": [{"Path": CSV, "Alias": "Vol1"}], "MetadataDir": ROOT, "InProgressTimeoutSeconds": 600},
    )


def test_a_german_host_creates_imports_and_releases_a_set(tmp_path):
    lab = ProvisionedLab(load_estate(german_estate(tmp_path / "estate")), tmp_path / "lab")
    made = create(lab)
    shadow_id = made["Shadows"][0]["ShadowId"]
    path = f"{ROOT}\\{made['SnapshotSetId'].strip('{}')}\\Vol1"
    expose = [{"ShadowId": shadow_id, "Path": path}]
    params = {"SnapshotSetId": made["SnapshotSetId"], "Metadata": made["Metadata"], "Expose": expose}
    assert lab.call("px1", "shadow_copy_import", params)["exposed"] == expose
    released = lab.call("px1", "shadow_copy_release", {"ExposedPaths": [path], "ShadowIds": [shadow_id]})
    assert released["unexposed"] == 1 and released["deleted"] == 1


def test_the_lab_diskshadow_prints_german_labels():
    shadows = [{"Alias": "Vol1", "ShadowId": "{a}", "Volume": "\\\\fs1\\vms\\", "ShadowCopyShare": "\\\\FS1\\vms@{a}"}]
    printed = diskshadow.report("de-DE", "{s}", shadows, "HV1")
    assert "Gerätename der Schattenkopie: \\\\FS1\\vms@{a}" in printed and "Shadow copy" not in printed
    assert "Shadow copy device name: \\\\FS1\\vms@{a}" in diskshadow.report("en-US", "{s}", shadows, "HV1")


def test_a_script_reading_an_english_label_fails_on_a_german_host(tmp_path, monkeypatch):
    """What ties the lab to the script: a copy of the create script that looks for DiskShadow's English
    "Shadow copy ID" label fails on a German host, and the same copy passes on an English one."""
    scripts = tmp_path / "scripts"
    shutil.copytree(diskshadow.SCRIPTS_DIR, scripts)
    script = scripts / "shadow_copy_create.ps1"
    script.write_text(script.read_text() + '\n$null = [regex]::Match($output, "Shadow copy ID = (\\S+)")\n')
    monkeypatch.setattr(diskshadow, "SCRIPTS_DIR", scripts)
    english = ProvisionedLab(load_estate(german_estate(tmp_path / "en", "en-US")), tmp_path / "lab-en")
    assert create(english)["Shadows"][0]["ShadowId"]
    german = ProvisionedLab(load_estate(german_estate(tmp_path / "de")), tmp_path / "lab-de")
    with pytest.raises(ScriptFailure, match="diskshadow on this de-DE host printed no 'Shadow copy'"):
        create(german)


def test_an_unknown_language_is_an_estate_error(tmp_path):
    with pytest.raises(
        EstateError, match=r"display_language: the lab has no labels for 'fr-FR' \(known: en-US, de-DE\)"
    ):
        load_estate(german_estate(tmp_path, "fr-FR"))
