"""A host with a role's PowerShell module but without the role: what the module's cmdlets do there.

The Hyper-V and FailoverClusters modules install without their roles (a management station, a proxy with
Hyper-V tools but no `vmms`). Their cmdlets then fail: `Get-VM` finds no Virtual Machine Management service and
`Get-Cluster` no cluster service. host_facts.ps1 checks the role first (the `vmms` service, an enabled `ClusSvc`)
and reports the section as absent; the lab applies that check only while the section's code makes it
(`guards_role`), so a script that drops it gets the cmdlet's error here, as on Windows. The messages are the
lab's wording of those errors, not copied from a Windows host.
"""

from __future__ import annotations

import re

from lab.handlers.host_facts_context import SectionFailure
from lab.windows.script_code import code

# section: (script, collector function, the role check in its code, the error the module's cmdlet gives without it)
_ROLES = {
    "vms": (
        "facts_vms",
        "Get-VmsSection",
        r"Test-HyperVRole",
        SectionFailure(
            "Hyper-V was unable to find a virtual machine management service.",
            "ObjectNotFound",
            "Microsoft.HyperV.PowerShell.VirtualizationException",
        ),
    ),
    "cluster": (
        "facts_storage",
        "Get-ClusterSection",
        r"Get-Service\s+-Name\s+'ClusSvc'",
        SectionFailure(
            "The cluster service is not running. Make sure that the service is running on all nodes in the cluster.",
            "ConnectionError",
            "Microsoft.FailoverClusters.PowerShell.ClusterCmdletException",
        ),
    ),
}


def _function_body(text: str, name: str) -> str:
    start = re.search(rf"^function\s+{re.escape(name)}\b", text, re.MULTILINE | re.IGNORECASE)
    if start is None:
        return ""
    end = re.search(r"^function\s", text[start.end() :], re.MULTILINE | re.IGNORECASE)
    return text[start.end() : start.end() + end.start()] if end else text[start.end() :]


def guards_role(section: str) -> bool:
    """Whether the section's collector checks the role before it calls the module's cmdlets."""
    script, function, check, _failure = _ROLES[section]
    return re.search(check, _function_body(code(script), function), re.IGNORECASE) is not None


def without_role(section: str) -> SectionFailure:
    """The error of the section's first cmdlet on a host with the module but not the role."""
    return _ROLES[section][3]
