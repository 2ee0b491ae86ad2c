"""DiskShadow that exits 0 having done nothing (issue 19): the estate's `diskshadow_no_op` makes the named commands
report success and leave the host's shadow copies as they were. The import and release scripts compare
Win32_ShadowCopy with what they asked for after DiskShadow runs; the lab applies that comparison only while the
script makes it (`lab.windows.diskshadow.script_checks_after`), so these tests fail if a script's check goes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from lab_testkit import ESTATES, ProvisionedLab, ansible_adhoc, estate_lab

# isort: split
from lab.collection import run_collection_request
from lab.estate.fields import EstateError
from lab.estate.loader import load_estate
from lab.handlers import ScriptFailure
from lab.windows import diskshadow

from ansible_collections.backup.hyperv.plugins.plugin_utils._pwsh import build_request

ROOT = "C:\\ProgramData\\backup.hyperv\\shadow"
CSV = "C:\\ClusterStorage\\Volume1\\"


def no_op_estate(directory: Path, *commands: str) -> Path:
    """healthy.yml with px1's DiskShadow doing nothing for `commands`."""
    directory.mkdir(parents=True, exist_ok=True)
    estate = directory / "estate.yml"
    px1 = {"name": "px1", "diskshadow_no_op": list(commands)}
    estate.write_text(json.dumps({"extends": str(ESTATES / "healthy.yml"), "hosts": [px1]}))
    return estate


def provisioned(tmp_path: Path, *commands: str) -> ProvisionedLab:
    return ProvisionedLab(load_estate(no_op_estate(tmp_path / "estate", *commands)), tmp_path / "lab")


def create_set(lab: ProvisionedLab) -> tuple[dict, list[dict]]:
    made = lab.call(
        "hv1",
        "shadow_copy_create",
        {"Volumes": [{"Path": CSV, "Alias": "Vol1"}], "MetadataDir": ROOT, "InProgressTimeoutSeconds": 600},
    )
    folder = f"{ROOT}\\{made['SnapshotSetId'].strip('{}')}"
    return made, [{"ShadowId": made["Shadows"][0]["ShadowId"], "Path": f"{folder}\\Vol1"}]


def import_params(made: dict, expose: list[dict]) -> dict:
    return {"SnapshotSetId": made["SnapshotSetId"], "Metadata": made["Metadata"], "Expose": expose}


def run_script(lab: ProvisionedLab, host: str, name: str, params: dict) -> tuple[int, dict]:
    """The collection's script as `_pwsh.py` sends it, answered by the lab: (exit code, reply)."""
    outcome = run_collection_request(lab.contexts[host], build_request(name, params).decode().splitlines())
    return outcome.exit_code, json.loads(outcome.output[0])


def test_an_import_diskshadow_skipped_fails_the_script_naming_the_set(tmp_path):
    lab = provisioned(tmp_path, "import")
    made, _expose = create_set(lab)
    code, reply = run_script(lab, "px1", "shadow_copy_import", import_params(made, []))
    assert code == 1 and reply["failed"] is True
    assert reply["msg"] == (
        f"diskshadow reported success but Win32_ShadowCopy lists no shadow copy of set {made['SnapshotSetId']}"
    )


def test_a_release_diskshadow_skipped_fails_instead_of_reporting_the_copies_deleted(tmp_path):
    lab = provisioned(tmp_path, "delete", "unexpose")
    made, expose = create_set(lab)
    lab.call("px1", "shadow_copy_import", import_params(made, expose))
    release = {"ExposedPaths": [expose[0]["Path"]], "ShadowIds": [expose[0]["ShadowId"]]}
    code, reply = run_script(lab, "px1", "shadow_copy_release", release)
    assert code == 1
    assert reply["msg"] == (
        f"diskshadow reported success but Win32_ShadowCopy still lists {expose[0]['ShadowId']}, {expose[0]['Path']}"
    )


def test_without_the_scripts_check_the_lab_reports_the_false_success_windows_would(tmp_path, monkeypatch):
    """What ties the lab to the script: with the `Assert-Imported` call taken out of a copy of the script, the same
    skipped `expose` is reported done, as DiskShadow's exit code alone would have it."""
    scripts = tmp_path / "scripts"
    shutil.copytree(diskshadow.SCRIPTS_DIR, scripts)
    script = scripts / "shadow_copy_import.ps1"
    body = script.read_text()
    assert "    Assert-Imported -SetId" in body
    script.write_text(body.replace("    Assert-Imported -SetId", "    # check removed: -SetId"))
    lab = provisioned(tmp_path, "expose")
    made, expose = create_set(lab)
    with pytest.raises(ScriptFailure, match="is not exposed at"):
        lab.call("px1", "shadow_copy_import", import_params(made, expose))
    monkeypatch.setattr(diskshadow, "SCRIPTS_DIR", scripts)
    assert lab.call("px1", "shadow_copy_import", import_params(made, expose))["exposed"] == expose


def test_an_unknown_command_is_an_estate_error(tmp_path):
    with pytest.raises(EstateError, match=r"diskshadow_no_op: unknown DiskShadow commands expos \(known: import"):
        load_estate(no_op_estate(tmp_path, "expos"))


def test_the_shadow_copy_task_fails_with_a_clear_message_when_expose_did_nothing(tmp_path):
    with estate_lab(no_op_estate(tmp_path / "estate", "expose"), tmp_path / "lab") as lab:

        def run(host: str, args: dict) -> dict:
            return ansible_adhoc(lab, tmp_path, host, "-m", "backup.hyperv.shadow_copy", "-a", json.dumps(args))[host]

        made = run("hv1", {"vms": ["vm1"]})
        imported = run(
            "px1", {"state": "imported", **{k: made[k] for k in ("snapshot_set_id", "metadata", "shadow_copies")}}
        )
        # the tree callback keeps no `failed` key: a failed task has rc and msg, and no result of its own
        assert imported["rc"] == 1 and "exposed_path" not in imported and imported["changed"] is False, imported
        shadow_id = made["shadow_copies"][0]["shadow_id"]
        assert imported["msg"].startswith(f"shadow_copy_import.ps1: diskshadow reported success but {shadow_id} is")
        assert "not exposed at C:\\ProgramData\\backup.hyperv\\shadow\\" in imported["msg"]
        again = run("px1", {"state": "absent", "snapshot_set_id": made["snapshot_set_id"]})
        assert again["changed"] is True and "rc" not in again  # what the import did is released
