"""R10: when source CSVs have Data Deduplication enabled, the proxy has the Data Deduplication
feature (FS-Data-Deduplication) and the same version as the hosts.

A *dedup CSV* is a CSV path of a source cluster that a node's ``dedup_volumes`` reports enabled
(any node may report it, so the cluster's nodes are pooled). The dedup filter ships with Windows,
so "same version" compares the OS major version and build (as R6) and, when both hosts report
it, the feature's binary version.
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
from ansible_collections.backup.hyperv.plugins.plugin_utils.facts.model import Cluster, HostFacts
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


def _version_problems(proxy: HostFacts, hosts: Sequence[HostFacts]) -> list[str]:
    proxy_os = proxy.section("os")
    proxy_feature = proxy.feature(DEDUP_FEATURE)
    problems = []
    for host in hosts:
        host_os = host.section("os")
        if not same_platform(proxy_os, host_os):
            problems.append(f"{host.name} runs {version_label(host_os)}, {proxy.name} {version_label(proxy_os)}")
            continue
        host_feature = host.feature(DEDUP_FEATURE)
        versions = (proxy_feature and proxy_feature.version, host_feature and host_feature.version)
        if all(versions) and versions[0] != versions[1]:
            problems.append(f"Data Deduplication {versions[1]} on {host.name}, {versions[0]} on {proxy.name}")
    return problems


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
        problems += _version_problems(proxy, [host for host in sources if host.name in dedup_hosts])
    return conclude(
        "R10",
        problems=problems,
        gaps=gaps,
        passed=f"{proxy.name} has Data Deduplication at the version of the hosts with deduplicated CSVs",
        evidence=evidence,
        remedy=f"Install-WindowsFeature {DEDUP_FEATURE} on {proxy.name} and keep it at the hosts' Windows "
        "version and build; otherwise off-host backup of deduplicated CSVs fails.",
    )
