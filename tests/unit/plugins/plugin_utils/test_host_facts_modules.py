"""host_facts.ps1 checks a section's PowerShell module before it calls the module's cmdlets, and
only where the role is installed (else the section reports the absence: null cluster, no VMs)."""

from __future__ import annotations

import re

import pytest

from ansible_collections.backup.hyperv.plugins.plugin_utils import _pwsh


def function_body(name: str) -> str:
    """The code of `function name { ... }` in host_facts.ps1 as it is sent (includes expanded), no comments."""
    sent = _pwsh.load_script("host_facts").decode("utf-8")
    found = re.search(rf"^function {name} \{{\r?\n(.*?)^\}}", sent, re.MULTILINE | re.DOTALL)
    assert found, f"{name} not found in the sent host_facts script"
    return "\n".join(line for line in found.group(1).splitlines() if not line.lstrip().startswith("#"))


def positions(body: str, *patterns: str) -> list[int]:
    """Where each pattern first occurs in `body` (-1 when absent)."""
    return [(m.start() if (m := re.search(p, body)) else -1) for p in patterns]


@pytest.mark.parametrize(
    ("section", "role_test", "assert_module", "first_cmdlet"),
    [
        (
            "Get-ClusterSection",
            r"-eq 'Disabled'\) \{ return \$null \}",
            r"Assert-Module 'FailoverClusters' 'RSAT-Clustering-PowerShell'",
            r"Get-Cluster\b",
        ),
        (
            "Get-VmsSection",
            r"if \(-not \(Test-HyperVRole\)\) \{ return , \$vms \}",
            r"Assert-Module 'Hyper-V' 'Hyper-V-PowerShell'",
            r"\bGet-VM\b",
        ),
    ],
)
def test_the_section_checks_its_module_after_the_role_and_before_its_cmdlets(
    section, role_test, assert_module, first_cmdlet
):
    role, module, cmdlet = positions(function_body(section), role_test, assert_module, first_cmdlet)
    assert -1 < role < module < cmdlet, (role, module, cmdlet)


def test_a_missing_module_fails_the_section_as_not_installed_naming_the_feature():
    body = function_body("Assert-Module")
    assert "Get-Module -ListAvailable -Name $Name" in body
    assert re.search(r"Write-Error -Message \$message -Category NotInstalled -ErrorAction Stop", body)
    assert "Install-WindowsFeature -Name $Feature" in body
