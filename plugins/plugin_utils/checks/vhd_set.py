"""R15: VMs with VHD Set disks (.vhds) cannot be backed up off-host; name them before a job runs.

A disk is a VHD Set when Get-VHD reports ``VhdFormat`` VHDSet or its path ends in ``.vhds``.
The status is ``warn``: the proxy itself is fit, but off-host jobs that include these VMs fail,
so they must be excluded from off-host jobs (or backed up on-host).
"""

from __future__ import annotations

from typing import Sequence

from ansible_collections.backup.hyperv.plugins.plugin_utils.checks.common import conclude, no_sources, read_section
from ansible_collections.backup.hyperv.plugins.plugin_utils.checks.vhd_set_rule import is_vhd_set_file
from ansible_collections.backup.hyperv.plugins.plugin_utils.facts.model import HostFacts, VirtualDisk
from ansible_collections.backup.hyperv.plugins.plugin_utils.findings import Finding, requirement_check


def is_vhd_set(disk: VirtualDisk) -> bool:
    return is_vhd_set_file(disk.format, disk.path)


@requirement_check("R15")
def no_vhd_set_disks(sources: Sequence[HostFacts]) -> Finding:
    """R15: warn about every source VM with a VHD Set disk."""
    if not sources:
        return no_sources("R15")
    vms = read_section(sources, "vms")
    affected: dict[str, list[str]] = {}
    counted = 0
    for host, host_vms in sorted(vms.values.items()):
        for vm in host_vms:
            counted += 1
            paths = [disk.path for disk in vm.disks if is_vhd_set(disk)]
            if paths:
                affected[f"{host}/{vm.name}"] = paths
    return conclude(
        "R15",
        problems=[f"VMs with VHD Set disks cannot be backed up off-host: {', '.join(affected)}"] if affected else [],
        gaps=vms.gaps,
        passed=f"none of the {counted} source VMs has a VHD Set disk",
        evidence={"vhd_set_vms": affected},
        remedy="Exclude these VMs from off-host backup jobs (back them up on-host), or convert their VHD Set "
        "disks to VHDX (Convert-VHD) if they need not be shared.",
        problem_status="warn",
    )
