"""Run every preflight check for one proxy against its source hosts and SMB3 servers.

``evaluate_proxy`` returns the findings in requirement order (R1, R6-R15); ``summarise`` counts
them and gives the overall status (the worst: fail > unknown > warn > pass).
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

from ansible_collections.backup.hyperv.plugins.plugin_utils.checks.cluster import proxy_outside_source_clusters
from ansible_collections.backup.hyperv.plugins.plugin_utils.checks.dedup import proxy_matches_dedup_hosts
from ansible_collections.backup.hyperv.plugins.plugin_utils.checks.lun import proxy_reads_csv_luns
from ansible_collections.backup.hyperv.plugins.plugin_utils.checks.managed import source_hosts_are_managed
from ansible_collections.backup.hyperv.plugins.plugin_utils.checks.smb_access import (
    computer_account_reads_shares,
    proxy_reads_vm_shares,
)
from ansible_collections.backup.hyperv.plugins.plugin_utils.checks.trust import server_domain_trusts_proxy
from ansible_collections.backup.hyperv.plugins.plugin_utils.checks.version import (
    proxy_is_physical,
    proxy_version_matches_sources,
)
from ansible_collections.backup.hyperv.plugins.plugin_utils.checks.vhd_set import no_vhd_set_disks
from ansible_collections.backup.hyperv.plugins.plugin_utils.checks.vss import transportable_hardware_providers
from ansible_collections.backup.hyperv.plugins.plugin_utils.facts.model import HostFacts
from ansible_collections.backup.hyperv.plugins.plugin_utils.findings import STATUSES, Finding, worst

Check = Callable[[HostFacts, Sequence[HostFacts], Sequence[HostFacts]], Finding]

CHECKS: tuple[tuple[str, Check], ...] = (
    ("R1", lambda proxy, sources, smb: source_hosts_are_managed(sources)),
    ("R6", lambda proxy, sources, smb: proxy_version_matches_sources(proxy, sources)),
    ("R7", lambda proxy, sources, smb: proxy_is_physical(proxy)),
    ("R8", lambda proxy, sources, smb: proxy_outside_source_clusters(proxy, sources)),
    ("R9", lambda proxy, sources, smb: proxy_reads_csv_luns(proxy, sources)),
    ("R10", lambda proxy, sources, smb: proxy_matches_dedup_hosts(proxy, sources)),
    ("R11", lambda proxy, sources, smb: transportable_hardware_providers(proxy, sources)),
    ("R12", proxy_reads_vm_shares),
    ("R13", computer_account_reads_shares),
    ("R14", server_domain_trusts_proxy),
    ("R15", lambda proxy, sources, smb: no_vhd_set_disks(sources)),
)


def evaluate_proxy(
    proxy: HostFacts, sources: Sequence[HostFacts], smb_servers: Sequence[HostFacts] = ()
) -> list[Finding]:
    """All findings for ``proxy`` serving ``sources`` (whose VM files may sit on ``smb_servers``)."""
    return [check(proxy, tuple(sources), tuple(smb_servers)) for _ignored, check in CHECKS]


def summarise(findings: Sequence[Finding]) -> dict[str, Any]:
    """Counts per status, the overall status, and the ids per status."""
    summary: dict[str, Any] = {status: sum(f.status == status for f in findings) for status in STATUSES}
    summary["status"] = worst([f.status for f in findings])
    summary["failed"] = [f.id for f in findings if f.status == "fail"]
    summary["warned"] = [f.id for f in findings if f.status == "warn"]
    summary["unknown_ids"] = [f.id for f in findings if f.status == "unknown"]
    return summary
