"""R10: when source CSVs have Data Deduplication enabled, the proxy has the Data Deduplication
feature (FS-Data-Deduplication) and the same version as the hosts.

A *dedup CSV* is a CSV path of a source cluster that a node's ``dedup_volumes`` reports enabled
(any node may report it, so the cluster's nodes are pooled).

"Same version" is R6's rule (``version.same_platform``: NT major.minor and build), not the
feature's file version. Data Deduplication is part of Windows and its binaries (``ddpsvc.dll``)
are serviced by the monthly cumulative updates, so their file revision follows the update
revision (UBR) that R6 already lets differ. Microsoft supports a deduplicated CSV on cluster nodes
that merely have the feature installed ("Data Deduplication interoperability", Failover
Clustering: https://learn.microsoft.com/windows-server/storage/data-deduplication/interop), and
nodes of one cluster routinely sit at different update levels; a proxy is no different. The
file versions are reported as evidence only.
"""

from __future__ import annotations

from typing import Sequence

from ansible_collections.backup.hyperv.plugins.plugin_utils.checks.common import (
    conclude,
    no_sources,
    normalise_path,
    not_applicable,
    read_section,
)
from ansible_collections.backup.hyperv.plugins.plugin_utils.checks.version import same_platform, version_label
from ansible_collections.backup.hyperv.plugins.plugin_utils.facts.model import Cluster, HostFacts, SectionUnavailable
from ansible_collections.backup.hyperv.plugins.plugin_utils.findings import Finding, requirement_check

DEDUP_FEATURE = "FS-Data-Deduplication"


def dedup_csv_hosts(sources: Sequence[HostFacts]) -> tuple[dict[str, list[str]], list[str]]:
    """Source hosts whose cluster has a deduplicated CSV -> those CSV paths; plus unusable sections."""
    clusters = read_section(sources, "cluster")
    dedup = read_section(sources, "dedup_volumes")
    enabled_by_cluster: dict[str, set[str]] = {}
    for host, cluster in clusters.values.items():
        if isinstance(cluster, Cluster) and host in dedup.values:
            enabled = {normalise_path(v.volume) for v in dedup.values[host] if v.enabled}
            enabled_by_cluster.setdefault(cluster.name.upper(), set()).update(enabled)
    result: dict[str, list[str]] = {}
    for host, cluster in clusters.values.items():
        if isinstance(cluster, Cluster):
            pooled = enabled_by_cluster.get(cluster.name.upper(), set())
            paths = [v.path for v in cluster.shared_volumes if normalise_path(v.path) in pooled]
            if paths:
                result[host] = paths
    return result, [*clusters.gaps.values(), *dedup.gaps.values()]


def hosts_with_dedup_volumes(sources: Sequence[HostFacts]) -> list[str]:
    """Source hosts that report a volume with Data Deduplication enabled, CSV or not (an unusable
    ``dedup_volumes`` section counts as none): the proxy reads their shadow copies, and a deduplicated
    file reads as its data only where Data Deduplication runs to rehydrate it ("About Data Deduplication
    Backup/Restore API", nonoptimized backup: https://learn.microsoft.com/previous-versions/hh449202(v=vs.85))."""
    volumes = read_section(sources, "dedup_volumes").values
    return [host.name for host in sources if any(volume.enabled for volume in volumes.get(host.name, ()))]


def _version_problems(proxy: HostFacts, hosts: Sequence[HostFacts]) -> list[str]:
    """Hosts whose Windows version or build differs from the proxy's (R6's rule; the UBR may differ)."""
    proxy_os = proxy.section("os")
    return [
        f"{host.name} runs {version_label(host.section('os'))}, {proxy.name} {version_label(proxy_os)}"
        for host in hosts
        if not same_platform(proxy_os, host.section("os"))
    ]


def _feature_version(host: HostFacts) -> str | None:
    """The feature's file version for the evidence; an unusable ``features`` section only leaves it out."""
    try:
        feature = host.feature(DEDUP_FEATURE)
    except SectionUnavailable:
        return None
    return feature.version if feature else None


@requirement_check("R10")
def proxy_matches_dedup_hosts(proxy: HostFacts, sources: Sequence[HostFacts]) -> Finding:
    """R10: deduplicated source CSVs need the dedup feature on the proxy, at the hosts' version."""
    if not sources:
        return no_sources("R10")
    dedup_hosts, gaps = dedup_csv_hosts(sources)
    if not dedup_hosts and not gaps:
        return not_applicable("R10", "no source CSV has Data Deduplication enabled")
    evidence: dict[str, object] = {"dedup_csvs": dedup_hosts}
    problems = []
    if dedup_hosts:
        feature = proxy.feature(DEDUP_FEATURE)
        installed = bool(feature and feature.installed)
        evidence["proxy_feature"] = {"installed": installed, "version": feature.version if feature else None}
        if not installed:
            problems.append(f"{proxy.name} lacks the Data Deduplication feature ({DEDUP_FEATURE})")
        dedup_sources = [host for host in sources if host.name in dedup_hosts]
        evidence["feature_versions"] = {host.name: _feature_version(host) for host in (proxy, *dedup_sources)}
        problems += _version_problems(proxy, dedup_sources)
    return conclude(
        "R10",
        problems=problems,
        gaps=gaps,
        passed=f"{proxy.name} has Data Deduplication and the Windows version and build of the hosts with "
        "deduplicated CSVs",
        evidence=evidence,
        remedy=f"Install-WindowsFeature {DEDUP_FEATURE} on {proxy.name}, on the hosts' Windows version and build "
        "(the cumulative update level may differ); otherwise off-host backup of deduplicated CSVs fails.",
    )
