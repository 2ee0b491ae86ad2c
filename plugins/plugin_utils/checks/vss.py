"""R11: a VSS hardware provider that supports transportable shadow copies is installed on the
proxy and on every source host (CSV estates only).

Providers come from ``vss_providers`` (vssadmin list providers). Windows reports a provider's
type but has no query for transportable support, so ``transportable`` is usually null: a
hardware provider counts unless the facts say explicitly that it is not transportable (the
hardware providers Microsoft certifies for this use support transportable shadow copies).
"""

from __future__ import annotations

from typing import Sequence

from ansible_collections.backup.hyperv.plugins.plugin_utils.checks.cluster import source_clusters
from ansible_collections.backup.hyperv.plugins.plugin_utils.checks.common import (
    conclude,
    no_sources,
    not_applicable,
    read_section,
)
from ansible_collections.backup.hyperv.plugins.plugin_utils.facts.model import HostFacts, VssProvider
from ansible_collections.backup.hyperv.plugins.plugin_utils.findings import Finding, requirement_check


def _classify(providers: Sequence[VssProvider]) -> tuple[str, list[str]]:
    """'ok' or 'missing', with the names of the hardware providers not known to lack transport."""
    usable = [p for p in providers if p.type == "hardware" and p.transportable is not False]
    names = [f"{p.name} {p.version or ''}".strip() for p in usable]
    return ("ok" if usable else "missing"), names


@requirement_check("R11")
def transportable_hardware_providers(proxy: HostFacts, sources: Sequence[HostFacts]) -> Finding:
    """R11: proxy and every source host have a transportable hardware VSS provider."""
    if not sources:
        return no_sources("R11")
    clusters, cluster_gaps = source_clusters(sources)
    if not any(cluster.shared_volumes for cluster in clusters.values()) and not cluster_gaps:
        return not_applicable("R11", "no source cluster has Cluster Shared Volumes")
    providers = read_section([proxy, *sources], "vss_providers")
    verdicts = {host: _classify(items) for host, items in providers.values.items()}
    missing = sorted(host for host, (state, _ignored) in verdicts.items() if state == "missing")
    return conclude(
        "R11",
        problems=[f"no transportable VSS hardware provider on {', '.join(missing)}"] if missing else [],
        gaps=[*providers.gaps.values(), *cluster_gaps.values()],
        passed="the proxy and all source hosts have a transportable VSS hardware provider",
        evidence={"hardware_providers": {host: names for host, (_ignored, names) in sorted(verdicts.items())}},
        remedy="Install and configure the storage vendor's VSS hardware provider (name the server that controls "
        "the LUNs and the array credentials) on the hosts named; any Microsoft-certified provider qualifies.",
    )
