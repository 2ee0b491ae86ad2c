"""The component record in the plan: role and where the component lives, written with its version.

A record an older version wrote (only Version) is a change the next converge makes; the data mover's
record names its runtime and engine, which data_mover_run.ps1 reads instead of the role's variable.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from test_desired_state_components import MANIFEST, actions, fixture, state

from ansible_collections.backup.hyperv.plugins.plugin_utils.desired_state.components import (
    parse_components_state,
    plan_components,
)
from ansible_collections.backup.hyperv.plugins.plugin_utils.desired_state.manifest import validate_manifest

ROLE_DEFAULTS = Path(__file__).resolve().parents[4] / "roles" / "offhost_proxy" / "defaults" / "main.yml"


DATA_MOVER_RECORD = {
    "Role": "data_mover",
    "Destination": "C:\\Program Files\\backup.hyperv\\DataMover",
    "Service": "BackupHyperVDataMover",
    "Runtime": "python\\python.exe",
    "Engine": "datamover.pyz",
    "Files": [f["path"] for f in MANIFEST["components"][1]["files"]],
}


def recorded_as(name: str, record: dict | None) -> dict:
    """The converged host, with the read script's `Record` of component `name` replaced."""
    reply = fixture("proxy_components_read_converged.json")["stdout"]
    next(c for c in reply["components"] if c["Name"] == name)["Record"] = record
    return parse_components_state(reply)


@pytest.mark.parametrize(
    "record",
    [
        {"Version": "0.1.0"},  # written by a version that recorded only Version
        {"Version": "0.1.0", **DATA_MOVER_RECORD, "Engine": "old.pyz"},
        {"Version": "0.1.0", **DATA_MOVER_RECORD, "Role": "other"},
        {"Version": "0.1.0", **DATA_MOVER_RECORD, "Service": None},  # written before the record named its service
    ],
)
def test_a_record_without_where_the_data_mover_is_is_brought_up_to_date(record):
    plan = plan_components(recorded_as("data_mover", record), MANIFEST, "present")
    assert plan.steps == [
        {"action": "set_component_version", "component": "data_mover", "version": "0.1.0", "record": DATA_MOVER_RECORD}
    ]  # nothing is copied and no service restarts: only the record is written
    assert plan.changed and plan.before != plan.after  # check mode and diff show it
    assert plan.after["components"]["data_mover"]["record"] == DATA_MOVER_RECORD


def test_a_record_of_another_role_holds_no_runtime_or_engine():
    plan = plan_components(state("fresh_host"), MANIFEST, "present")
    records = {s["component"]: s["record"] for s in plan.steps if s["action"] == "set_component_version"}
    assert records["installer"] == {
        "Role": "installer",
        "Destination": "C:\\Program Files\\backup.hyperv\\Installer",
        "Service": "BackupHyperVInstaller",
        "Runtime": None,  # removed from the record, if an earlier role left one
        "Engine": None,
        "Files": ["BackupHyperVInstaller.exe", "BackupHyperVInstaller.exe.config"],
    }
    stale = {"Version": "0.1.0", **records["installer"], "Runtime": "python\\python.exe"}
    assert actions(plan_components(recorded_as("installer", stale), MANIFEST, "present")) == [
        ("set_component_version", "installer")
    ]


def test_the_role_default_manifest_records_where_its_data_mover_is():
    # What data_mover_run.ps1 reads instead of the role's variable (test_data_mover_run_lab.py runs it).
    manifest = validate_manifest(yaml.safe_load(ROLE_DEFAULTS.read_text())["offhost_proxy_manifest"])
    plan = plan_components({"components": {}}, manifest, "present")  # nothing installed, sources not looked at
    steps = [s for s in plan.steps if s["action"] == "set_component_version" and s["record"]["Role"] == "data_mover"]
    # The data mover runs per job: the default manifest declares no service, so the record names none.
    recorded = [(s["component"], {**s["record"], "Files": None}) for s in steps]
    assert recorded == [("data_mover", {**DATA_MOVER_RECORD, "Service": None, "Files": None})]
    assert "python\\python.exe" in steps[0]["record"]["Files"]  # every file it installs, listed for the next version


@pytest.mark.parametrize("recorded", [["DATAMOVER.PYZ", "old\\gone.dll"], "old\\gone.dll"])
def test_an_upgrade_removes_the_files_the_installed_version_had_and_this_one_does_not(recorded):
    # A wheel's old dist-info, a module a later version dropped: left behind, the installer service would report them
    # as drift for good, and an older engine could import a newer module beside it. Case-blind, as NTFS names are; a
    # REG_MULTI_SZ of one string may come unwrapped.
    current = recorded_as("data_mover", {"Version": "0.0.9", **DATA_MOVER_RECORD, "Files": recorded})
    plan = plan_components(current, MANIFEST, "present")
    removed = [s for s in plan.steps if s["action"] == "remove_files"]
    destination = DATA_MOVER_RECORD["Destination"]
    assert removed == [{"action": "remove_files", "destination": destination, "files": ["old\\gone.dll"]}]
    # the service is stopped while its files go, the record then lists this version's files
    assert [s["action"] for s in plan.steps] == [
        "stop_service",
        "remove_files",
        "set_component_version",
        "start_service",
    ]


def test_a_record_without_its_files_removes_nothing():
    current = recorded_as("data_mover", {"Version": "0.0.9", **DATA_MOVER_RECORD, "Files": None})
    assert "remove_files" not in actions(plan_components(current, MANIFEST, "present"))
