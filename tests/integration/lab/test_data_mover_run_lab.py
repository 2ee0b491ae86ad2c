"""The lab's `data_mover_run.ps1` in-process: the options document's paths in the lab and back in Windows form.

The handler maps every path of the options document (`DataMoverOptions.to_json`, which the script hands
the engine on stdin) into the lab: UNC paths reach the SMB server's share (healthy.yml) and come back as
UNC; a name Windows refuses fails the engine as Windows would. The script finds the data mover by the
record the install of the role's default manifest writes; with two, it runs the one named and otherwise
names both. The playbook tests are in test_data_mover_lab.py.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import yaml
from lab_testkit import ESTATES, ProvisionedLab

# isort: split
from lab.estate.loader import load_estate
from lab.handlers import ScriptFailure

from ansible_collections.backup.hyperv.plugins.module_utils.datamover.settings import DataMoverOptions
from ansible_collections.backup.hyperv.plugins.plugin_utils.desired_state.components import plan_components
from ansible_collections.backup.hyperv.plugins.plugin_utils.desired_state.manifest import validate_manifest

ROLE_DEFAULTS = Path(__file__).resolve().parents[3] / "roles" / "offhost_proxy" / "defaults" / "main.yml"


def run_params(operation: str, repository: str, component: str = "", **params) -> dict:
    """data_mover_run.ps1's parameters as the action plugin sends them: a component's name, the options document."""
    options = DataMoverOptions.from_params(dict(params, operation=operation, repository=repository))
    return {"Component": component, "Options": options.to_json()}


def install_record(lab: ProvisionedLab, mover: dict) -> None:
    """On px1, the record of `mover` (a manifest component) as a fresh install writes it, and its files."""
    manifest = validate_manifest({"components": [mover]})
    steps = [s for s in plan_components({}, manifest, "present").steps if s["action"] == "set_component_version"]
    lab.call("px1", "proxy_components_apply", {"Steps": steps})
    for relative in mover["files"]:
        target = lab.host_file("px1", f"{mover['destination']}\\{relative}")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(b"placeholder")


def default_data_mover() -> dict:
    """The data mover component of the offhost_proxy role's default manifest."""
    manifest = yaml.safe_load(ROLE_DEFAULTS.read_text())["offhost_proxy_manifest"]
    return next(c for c in manifest["components"] if c["role"] == "data_mover")


def healthy_with_component(tmp_path: Path) -> ProvisionedLab:
    """healthy.yml in-process, px1 with the default manifest's data mover record and files in place."""
    lab = ProvisionedLab(load_estate(ESTATES / "healthy.yml"), tmp_path)
    install_record(lab, default_data_mover())
    return lab


def test_the_script_finds_the_data_mover_the_role_default_manifest_installs(tmp_path):
    lab = healthy_with_component(tmp_path)
    reply = lab.call("px1", "data_mover_run", run_params("list", "C:\\Backup\\none"))
    assert reply["ran"] is True and (reply["found"], reply["outdated"]) == (["data_mover"], [])
    assert reply["component"] == {
        "Name": "data_mover",
        "Version": "0.1.0",
        "Destination": "C:\\Program Files\\backup.hyperv\\DataMover",
        "Missing": [],
    }


def test_two_data_movers_run_the_one_named_and_otherwise_name_both(tmp_path):
    lab = healthy_with_component(tmp_path)
    second = {**default_data_mover(), "name": "data_mover_next", "destination": "D:\\DataMover"}
    second["files"] = ["rt\\python.exe", "engine-2.pyz"]
    install_record(lab, second)
    reply = lab.call("px1", "data_mover_run", run_params("list", "C:\\Backup\\none"))
    assert (reply["ran"], reply["component"]) == (False, None)
    assert sorted(reply["found"]) == ["data_mover", "data_mover_next"]
    reply = lab.call("px1", "data_mover_run", run_params("list", "C:\\Backup\\none", component="DATA_MOVER_NEXT"))
    assert reply["ran"] is True and reply["component"]["Destination"] == "D:\\DataMover"
    lab.host_file("px1", "D:\\DataMover\\engine-2.pyz").unlink()
    reply = lab.call("px1", "data_mover_run", run_params("list", "C:\\Backup\\none", component="data_mover_next"))
    assert (reply["ran"], reply["component"]["Missing"]) == (False, ["engine-2.pyz"])  # the record's own engine


def test_unc_paths_are_the_smb_servers_share_and_come_back_as_unc(tmp_path):
    lab = healthy_with_component(tmp_path)
    lab.estate = delegating(lab.estate, "px1")  # inside the shell, a UNC read needs delegation (second hop)
    disk, repository = "\\\\fs1\\vms\\vm3\\vm3.vhdx", "\\\\fs1\\vms\\repo"
    reply = lab.call(
        "px1",
        "data_mover_run",
        run_params("backup", repository, vm="vm3", source=[disk], changed_ranges={disk: [[0, 4096]]}),
    )
    assert (reply["ran"], reply["exit_code"]) == (True, 0), reply["stderr"]
    assert json.loads(reply["stdout"])["disks"][0]["source"] == disk  # the ranges' key was mapped like the source
    assert any(lab.host_file("fs1", "D:\\Shares\\vms\\repo").iterdir())  # on the file server, not the proxy
    reply = lab.call("px1", "data_mover_run", run_params("restore", repository, vm="vm3", destination="C:\\Restore"))
    assert json.loads(reply["stdout"])["outputs"][0]["path"] == "C:\\Restore\\vm3.vhdx"
    reply = lab.call("px1", "data_mover_run", run_params("list", "C:\\Backup\\none"))
    assert reply["exit_code"] == 1 and "C:\\Backup\\none" in reply["stderr"] and str(tmp_path) not in reply["stderr"]
    device = "\\\\?\\GLOBALROOT\\Device\\HarddiskVolumeShadowCopy1\\vm3.vhdx"
    with pytest.raises(ScriptFailure, match="not emulated"):
        lab.call("px1", "data_mover_run", run_params("backup", repository, vm="vm3", source=[device]))


def delegating(estate, host: str):
    """`estate` with `delegation: true` on `host` (Kerberos delegation to the file servers, or CredSSP)."""
    model = estate.model
    hosts = tuple(dataclasses.replace(h, delegation=True) if h.name == host else h for h in model.hosts)
    return dataclasses.replace(estate, model=dataclasses.replace(model, hosts=hosts))


def test_a_unc_read_inside_the_shell_is_a_second_hop_refused_without_delegation(tmp_path):
    lab = healthy_with_component(tmp_path)
    disk = "\\\\fs1\\vms\\vm3\\vm3.vhdx"
    reply = lab.call("px1", "data_mover_run", run_params("backup", "C:\\Backup\\repo", vm="vm3", source=[disk]))
    assert (reply["ran"], reply["exit_code"], reply["stdout"]) == (True, 1, "")
    assert reply["stderr"] == f"hyperv-datamover: error: [WinError 5] Access is denied: {disk!r}\n"
    assert not lab.host_file("px1", "C:\\Backup\\repo").exists()


@pytest.mark.parametrize("destination", ["C:\\Restore\x0bm1", "C:\\Restore\\m1|old", "\\\\fs1\\vms\\m1\t"])
def test_a_name_windows_refuses_fails_the_engine_as_windows_does(tmp_path, destination):
    lab = healthy_with_component(tmp_path)
    reply = lab.call(
        "px1", "data_mover_run", run_params("restore", "C:\\Backup\\repo", vm="vm3", destination=destination)
    )
    assert (reply["ran"], reply["exit_code"], reply["stdout"]) == (True, 1, "")
    winerror = f"[WinError 123] The filename, directory name, or volume label syntax is incorrect: {destination!r}"
    assert reply["stderr"] == f"hyperv-datamover: error: {winerror}\n"
    assert not lab.host_file("px1", "C:\\Restore").exists()
