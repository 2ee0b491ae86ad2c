"""R1: the Hyper-V hosts a proxy serves are managed servers (their installer service is present).

A host is managed when its ``components`` facts list a component with role ``installer``
(the installer service that registering a managed server installs, R2). Present but not running
is still managed; the finding notes it.
"""

from __future__ import annotations

from typing import Sequence

from ansible_collections.backup.hyperv.plugins.plugin_utils.checks.common import conclude, no_sources, read_section
from ansible_collections.backup.hyperv.plugins.plugin_utils.facts.model import Component, HostFacts
from ansible_collections.backup.hyperv.plugins.plugin_utils.findings import Finding, requirement_check


def installer_service(components: Sequence[Component]) -> Component | None:
    """The host's installer service, the component that makes it a managed server (None: not managed).

    A record of the installer role without a service (the service was removed) does not make it managed.
    """
    return next((item for item in components if item.role == "installer" and item.service_name), None)


def hosts_to_manage(sources: Sequence[HostFacts]) -> list[str]:
    """Source hosts not shown to be managed servers, in the given order: their facts list no installer
    service, or their ``components`` section is unusable (errored, not collected, no facts at all)."""
    components = read_section(sources, "components")
    return [
        host.name
        for host in sources
        if host.name not in components.values or installer_service(components.values[host.name]) is None
    ]


@requirement_check("R1")
def source_hosts_are_managed(sources: Sequence[HostFacts]) -> Finding:
    """R1: every source host runs the installer service."""
    if not sources:
        return no_sources("R1")
    components = read_section(sources, "components")
    installers: dict[str, dict[str, object]] = {}
    unmanaged: list[str] = []
    for host, items in components.values.items():
        installer = installer_service(items)
        if installer is None:
            unmanaged.append(host)
        else:
            installers[host] = {
                "service": installer.service_name,
                "version": installer.version,
                "state": installer.state,
            }
    stopped = sorted(host for host, info in installers.items() if str(info["state"]).lower() != "running")
    return conclude(
        "R1",
        problems=[f"not managed servers (no installer service): {', '.join(sorted(unmanaged))}"] if unmanaged else [],
        gaps=components.gaps,
        passed="all source hosts are managed servers"
        + (f" (installer service not running on {', '.join(stopped)})" if stopped else ""),
        evidence={"installer_services": installers, "unmanaged": sorted(unmanaged)},
        remedy="Apply the backup.hyperv.managed_server role to these hosts before assigning the proxy role.",
    )
