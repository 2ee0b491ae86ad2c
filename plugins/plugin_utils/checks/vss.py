"""R11: a VSS hardware provider that supports transportable shadow copies is installed on the
proxy and on every source host (CSV estates only).

Providers come from ``vss_providers`` (Win32_ShadowProvider, as ``vssadmin list providers``
lists them). Windows records each provider's type (``Type`` 3 = hardware, also under
``HKLM\\SYSTEM\\CurrentControlSet\\Services\\VSS\\Providers\\{id}``) but no flag saying whether it can
make transportable shadow copies ("Win32_ShadowProvider class",
https://learn.microsoft.com/previous-versions/windows/desktop/vsswmi/win32-shadowprovider).
Only a hardware provider can, and only creating one proves it: a requester sets
``VSS_CTX_BACKUP | VSS_VOLSNAP_ATTR_TRANSPORTABLE`` ("Transportable Shadow Copies",
https://learn.microsoft.com/windows/win32/vss/transportable-shadow-copies), DiskShadow
``set option transportable`` ("set option",
https://learn.microsoft.com/windows-server/administration/windows-commands/set-option).

Words, per host: a hardware provider is *proven* when its facts say ``transportable: true`` (a
test transportable shadow copy succeeded), *ruled out* when they say ``false``, and *unproven*
when they say null, which is what ``host_facts`` reports. A host with no hardware provider that
is proven or unproven fails R11; a host whose best is unproven makes R11 ``warn`` with that
reason (unless a failure or an unusable section decides first); proven everywhere passes.
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

# Windows keeps no record of such a test that host_facts could read, so live facts stay unproven.
PROVE_IT = (
    "Prove it once with a test transportable shadow copy: on a source host, DiskShadow set context persistent, "
    "set option transportable, set metadata <file>.cab, add volume <CSV>, create; on the proxy, load metadata "
    "<file>.cab, import (backup.hyperv.shadow_copy does the same). Windows keeps no record of the test, so this "
    "stays a warning on live facts; an offline facts file may record transportable: true for a provider so proven."
)


def _label(provider: VssProvider) -> str:
    return f"{provider.name} {provider.version or ''}".strip()


def _hardware(providers: Sequence[VssProvider]) -> dict[str, list[str]]:
    """The host's hardware providers that are not ruled out, split into proven and unproven."""
    hardware = [p for p in providers if p.type == "hardware"]
    return {
        "proven": [_label(p) for p in hardware if p.transportable is True],
        "unproven": [_label(p) for p in hardware if p.transportable is None],
    }


@requirement_check("R11")
def transportable_hardware_providers(proxy: HostFacts, sources: Sequence[HostFacts]) -> Finding:
    """R11: proxy and every source host have a transportable hardware VSS provider."""
    if not sources:
        return no_sources("R11")
    clusters, cluster_gaps = source_clusters(sources)
    if not any(cluster.shared_volumes for cluster in clusters.values()) and not cluster_gaps:
        return not_applicable("R11", "no source cluster has Cluster Shared Volumes")
    providers = read_section([proxy, *sources], "vss_providers")
    found = {host: _hardware(items) for host, items in providers.values.items()}
    missing = sorted(host for host, kinds in found.items() if not kinds["proven"] and not kinds["unproven"])
    unproven = sorted(host for host, kinds in found.items() if not kinds["proven"] and kinds["unproven"])
    evidence = {"hardware_providers": dict(sorted(found.items()))}
    finding = conclude(
        "R11",
        problems=[f"no transportable VSS hardware provider on {', '.join(missing)}"] if missing else [],
        gaps=[*providers.gaps.values(), *cluster_gaps.values()],
        passed="the proxy and all source hosts have a VSS hardware provider proven to make transportable shadow copies",
        evidence=evidence,
        remedy="Install and configure the storage vendor's VSS hardware provider (name the server that controls "
        "the LUNs and the array credentials) on the hosts named; any Microsoft-certified provider qualifies.",
    )
    if finding.status != "pass" or not unproven:
        return finding
    names = "; ".join(f"{host}: {', '.join(found[host]['unproven'])}" for host in unproven)
    return Finding.warned(
        "R11",
        f"a VSS hardware provider is registered on {', '.join(unproven)} ({names}), but Windows does not report "
        "whether a provider makes transportable shadow copies and the facts hold no proof that it does",
        evidence,
        PROVE_IT,
    )
