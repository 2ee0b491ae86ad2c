"""A host with the Hyper-V and FailoverClusters PowerShell modules but neither role (issue 19): host_facts.ps1
checks the role (`vmms`, an enabled `ClusSvc`) before the module's cmdlets and reports the sections absent, and
the checks read that as absence. The lab gives a script that drops the role check the cmdlet's own failure, as
Windows would (lab.handlers.host_facts_roles)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from lab_testkit import ProvisionedLab

# isort: split
from lab.estate.loader import parse_estate
from lab.windows import script_code

from ansible_collections.backup.hyperv.plugins.plugin_utils.checks.cluster import proxy_outside_source_clusters
from ansible_collections.backup.hyperv.plugins.plugin_utils.facts.parse import parse_host_facts
from ansible_collections.backup.hyperv.plugins.plugin_utils.facts.schema import validate_facts

CREDENTIALS = {"username": "Administrator", "password": "x"}
ESTATE = {
    "domains": [{"dns": "contoso.local"}],
    "luns": [{"id": "csv1"}],
    "clusters": [{"name": "CL1", "nodes": ["hv1"], "csvs": [{"lun": "csv1"}]}],
    "hosts": [
        {"name": "hv1", "address": "127.0.0.95", "credentials": CREDENTIALS, "role": "hyperv"},
        # the lab's hosts have every module unless `missing_modules` says otherwise: here the tools, not the roles
        {"name": "px1", "address": "127.0.0.96", "credentials": CREDENTIALS, "role": "proxy", "features": []},
    ],
}
GUARDS = {
    "facts_vms": ["    if (-not (Test-HyperVRole)) { return , $vms }\n"],
    "facts_storage": [
        "    $service = Get-Service -Name 'ClusSvc' -ErrorAction SilentlyContinue\n",
        "    if (-not $service -or \"$($service.StartType)\" -eq 'Disabled') { return $null }\n",
    ],
}


def facts(tmp_path: Path, host: str) -> dict:
    lab = ProvisionedLab(parse_estate(ESTATE), tmp_path / "lab")
    return lab.call(host, "host_facts", {"ProbeTimeout": 60, "Components": []})


def test_the_tools_without_the_roles_are_the_roles_absence(tmp_path):
    document = facts(tmp_path, "px1")
    validate_facts(document, host="px1")
    assert (document["hyperv"], document["cluster"], document["vms"]) == (
        {"installed": False, "version": None},
        None,
        [],
    )
    source = parse_host_facts("hv1", facts(tmp_path / "hv1", "hv1"))
    finding = proxy_outside_source_clusters(parse_host_facts("px1", document), [source])
    assert finding.status == "pass", finding.message


@pytest.mark.parametrize(
    ("script", "section", "message"),
    [
        ("facts_vms", "vms", "Hyper-V was unable to find a virtual machine management service."),
        ("facts_storage", "cluster", "The cluster service is not running."),
    ],
)
def test_a_section_without_its_role_check_fails_as_the_cmdlet_does(tmp_path, monkeypatch, script, section, message):
    scripts = tmp_path / "scripts"
    shutil.copytree(script_code.SCRIPTS_DIR, scripts)
    text = (scripts / f"{script}.ps1").read_text()
    for line in GUARDS[script]:
        assert line in text
        text = text.replace(line, "")
    (scripts / f"{script}.ps1").write_text(text)
    monkeypatch.setattr(script_code, "SCRIPTS_DIR", scripts)
    assert facts(tmp_path, "px1")[section]["error"]["message"].startswith(message)
    assert "error" not in (facts(tmp_path / "node", "hv1")[section] or {})  # the role is there: the cmdlet answers
