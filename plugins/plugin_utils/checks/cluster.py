"""R8: an off-host proxy must not be a node of a source cluster with CSVs.

Words: a *source cluster* is the failover cluster a source host is a node of, as its ``cluster``
facts report it. The proxy counts as a node when its own facts name that cluster, or when a
source cluster's node list names the proxy (so R8 still decides when the proxy's own cluster
section errored).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Sequence

from ansible_collections.backup.hyperv.plugins.plugin_utils.checks.common import (
    conclude,
    no_sources,
    normalise_path,
    not_applicable,
    read_section,
)
from ansible_collections.backup.hyperv.plugins.plugin_utils.facts.model import (
    Cluster,
    HostFacts,
    LunId,
    SectionUnavailable,
    SharedVolume,
)
from ansible_collections.backup.hyperv.plugins.plugin_utils.findings import Finding, requirement_check


def _merge_volume(left: SharedVolume, right: SharedVolume) -> SharedVolume:
    """One CSV seen from two nodes: the LUNs either node identified (a node may fail to match its disk)."""
    identified = {(lun.unique_id, lun.serial_number): lun for lun in (*right.luns, *left.luns) if has_identifier(lun)}
    return replace(left, luns=tuple(identified.values())) if identified else left


def _merge(left: Cluster, right: Cluster) -> Cluster:
    """One view of a cluster seen from two nodes: union of nodes and of CSVs (by path)."""
    nodes = tuple(dict.fromkeys((*left.nodes, *right.nodes)))
    volumes = {normalise_path(v.path): v for v in right.shared_volumes}
    for volume in left.shared_volumes:
        key = normalise_path(volume.path)
        volumes[key] = _merge_volume(volume, volumes[key]) if key in volumes else volume
    return Cluster(left.name, nodes, tuple(volumes.values()))


def has_identifier(lun: LunId) -> bool:
    """Whether the node told which disk backs the CSV (a LUN is matched on the proxy by these)."""
    return bool((lun.unique_id or "").strip() or (lun.serial_number or "").strip())


def source_clusters(sources: Sequence[HostFacts]) -> tuple[dict[str, Cluster], dict[str, str]]:
    """Clusters the source hosts are nodes of (by upper-cased name), and the hosts whose section is unusable."""
    sections = read_section(sources, "cluster")
    clusters: dict[str, Cluster] = {}
    for cluster in sections.values.values():
        if cluster is not None:
            key = cluster.name.upper()
            clusters[key] = _merge(clusters[key], cluster) if key in clusters else cluster
    return clusters, sections.gaps


@requirement_check("R8")
def proxy_outside_source_clusters(proxy: HostFacts, sources: Sequence[HostFacts]) -> Finding:
    """R8: the proxy is not a node of any source cluster with CSVs (requirements R8 applies to a Hyper-V
    cluster with CSV: a transportable snapshot of a CSV's LUN imported on a node of its own cluster is what makes
    the cluster fail; a cluster whose VMs are on SMB3 shares has no LUN to import)."""
    if not sources:
        return no_sources("R8")
    every_cluster, gaps = source_clusters(sources)
    clusters = {name: cluster for name, cluster in every_cluster.items() if cluster.shared_volumes}
    gaps = dict(gaps)
    proxy_cluster_names: set[str] = set()
    try:
        proxy_cluster = proxy.section("cluster")
        proxy_cluster_names = {proxy_cluster.name.upper()} if proxy_cluster else set()
    except SectionUnavailable as missing:
        gaps[proxy.name] = str(missing)
    listed_as_node = {name for name, cluster in clusters.items() if proxy.aliases & {n.upper() for n in cluster.nodes}}
    shared = sorted(clusters[name].name for name in (proxy_cluster_names & clusters.keys()) | listed_as_node)
    if not clusters and not gaps:
        reason = "no source cluster has cluster shared volumes" if every_cluster else "no source host is a cluster node"
        return not_applicable("R8", reason)
    evidence = {
        "proxy": proxy.name,
        "proxy_cluster": sorted(proxy_cluster_names),
        "source_clusters": {cluster.name: list(cluster.nodes) for cluster in clusters.values()},
        "shared_clusters": shared,
    }
    return conclude(
        "R8",
        problems=[f"{proxy.name} is a node of source cluster {', '.join(shared)}"] if shared else [],
        gaps=gaps,
        passed=f"{proxy.name} is not a node of any source cluster",
        evidence=evidence,
        remedy=f"Choose a proxy outside cluster {', '.join(shared) or 'the source cluster'}, or evict "
        f"{proxy.name} from it; a proxy inside the cluster makes the cluster fail while VM data is processed.",
    )
