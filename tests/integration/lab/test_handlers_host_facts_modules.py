"""host_facts on hosts that lack a PowerShell module (estate `missing_modules`), as host_facts.ps1's
Assert-Module reports them: absence where the role is absent too, else a NotInstalled section error
that names the module and the feature to install; and what R8 makes of both."""

from __future__ import annotations

import re

import pytest
from lab_testkit import ProvisionedLab

# isort: split
from lab.estate.fields import EstateError
from lab.estate.loader import parse_estate

from ansible_collections.backup.hyperv.plugins.plugin_utils import _pwsh
from ansible_collections.backup.hyperv.plugins.plugin_utils.checks.cluster import proxy_outside_source_clusters
from ansible_collections.backup.hyperv.plugins.plugin_utils.facts.parse import parse_host_facts
from ansible_collections.backup.hyperv.plugins.plugin_utils.facts.schema import validate_facts

CREDENTIALS = {"username": "Administrator", "password": "x"}
BOTH = ["FailoverClusters", "Hyper-V"]
ESTATE = {
    "domains": [{"dns": "contoso.local"}],
    "luns": [{"id": "csv1"}],
    "clusters": [{"name": "CL1", "nodes": ["hv1", "hv2"], "csvs": [{"lun": "csv1"}]}],
    "hosts": [
        {"name": "hv1", "address": "127.0.0.61", "credentials": CREDENTIALS, "role": "hyperv"},
        {
            "name": "hv2",
            "address": "127.0.0.62",
            "credentials": CREDENTIALS,
            "role": "hyperv",
            "missing_modules": BOTH,
            "vms": [{"name": "g1", "disks": [{"path": "C:\\VMs\\g1.vhdx"}]}],
        },
        {
            "name": "px1",
            "address": "127.0.0.63",
            "credentials": CREDENTIALS,
            "role": "proxy",
            "features": [],  # a proxy without the Hyper-V role (the lab's proxies have it by default)
            "luns": ["csv1"],
            "missing_modules": BOTH,
        },
    ],
}


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> ProvisionedLab:
    return ProvisionedLab(parse_estate(ESTATE), tmp_path_factory.mktemp("facts-modules"))


def facts(lab: ProvisionedLab, host: str) -> dict:
    document = lab.call(host, "host_facts", {"ProbeTimeout": 60, "Components": []})
    validate_facts(document, host=host)
    return document


def script_message(module: str, feature: str) -> str:
    """The message host_facts.ps1's Assert-Module writes, read from the script as it is sent."""
    sent = _pwsh.load_script("host_facts").decode("utf-8")
    template = re.search(r'\$message = "(PowerShell module \$Name [^"]+\$Feature)"', sent)
    assert template, "Assert-Module's message not found in host_facts.ps1"
    return template.group(1).replace("$Name", module).replace("$Feature", feature)


def test_without_the_role_a_missing_module_reports_the_absence(lab):
    document = facts(lab, "px1")
    assert document["cluster"] is None  # ClusSvc disabled: not a cluster node
    assert document["vms"] == []  # no vmms: no VMs
    assert document["hyperv"] == {"installed": False, "version": None}


@pytest.mark.parametrize(
    ("section", "module", "feature"),
    [("cluster", "FailoverClusters", "RSAT-Clustering-PowerShell"), ("vms", "Hyper-V", "Hyper-V-PowerShell")],
)
def test_with_the_role_a_missing_module_is_the_sections_error(lab, section, module, feature):
    document = facts(lab, "hv2")
    assert document[section] == {
        "error": {
            "message": script_message(module, feature),
            "category": "NotInstalled",
            "exception": "Microsoft.PowerShell.Commands.WriteErrorException",
        }
    }
    assert document["hyperv"]["installed"] is True  # the sections that need no module still report


def test_r8_passes_for_a_proxy_without_the_clustering_module(lab):
    finding = proxy_outside_source_clusters(
        parse_host_facts("px1", facts(lab, "px1")), [parse_host_facts("hv1", facts(lab, "hv1"))]
    )
    assert finding.status == "pass", finding.message


def test_r8_is_unknown_naming_the_module_a_source_node_lacks(lab):
    sources = [parse_host_facts(name, facts(lab, name)) for name in ("hv1", "hv2")]
    finding = proxy_outside_source_clusters(parse_host_facts("px1", facts(lab, "px1")), sources)
    assert finding.status == "unknown"
    assert "facts of hv2 lack section 'cluster'" in finding.message
    assert "(NotInstalled)" in finding.message
    assert "Install-WindowsFeature -Name RSAT-Clustering-PowerShell" in finding.message


def test_the_estate_refuses_a_module_the_lab_does_not_know():
    host = {**ESTATE["hosts"][0], "missing_modules": ["ActiveDirectory"]}
    with pytest.raises(EstateError, match=r"missing_modules: unknown modules ActiveDirectory"):
        parse_estate({**ESTATE, "hosts": [host, *ESTATE["hosts"][1:]]})
