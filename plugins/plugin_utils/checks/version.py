"""Proxy platform checks: R6 (same Windows major version and build as every source host) and R7
(a proxy that is itself a VM is for evaluation only).

Windows Server 2016, 2019, 2022 and 2025 all report NT version 10.0; the build number (14393,
17763, 20348, 26100) tells them apart, so R6 compares major.minor and build. The update revision
(UBR) and the Hyper-V role version are reported as evidence only.
"""

from __future__ import annotations

from typing import Sequence

from ansible_collections.backup.hyperv.plugins.plugin_utils.checks.common import conclude, no_sources, read_section
from ansible_collections.backup.hyperv.plugins.plugin_utils.facts.model import HostFacts, HyperVRole, OsInfo
from ansible_collections.backup.hyperv.plugins.plugin_utils.findings import Finding, requirement_check


def version_label(os_info: OsInfo) -> str:
    ubr = f".{os_info.ubr}" if os_info.ubr is not None else ""
    return f"{os_info.caption} {os_info.major} build {os_info.build}{ubr}"


def same_platform(left: OsInfo, right: OsInfo) -> bool:
    """R6's notion of equal versions: same NT major.minor and same build."""
    return (left.major, left.build) == (right.major, right.build)


def _hyperv_version(host: HostFacts) -> str | None:
    return host.hyperv.version if isinstance(host.hyperv, HyperVRole) else None


@requirement_check("R6")
def proxy_version_matches_sources(proxy: HostFacts, sources: Sequence[HostFacts]) -> Finding:
    """R6: proxy and every source host run the same Windows major version and build."""
    if not sources:
        return no_sources("R6")
    proxy_os = proxy.section("os")
    source_os = read_section(sources, "os")
    mismatched = sorted(host for host, info in source_os.values.items() if not same_platform(proxy_os, info))
    evidence = {
        "proxy": {"version": version_label(proxy_os), "hyperv": _hyperv_version(proxy)},
        "sources": {host: version_label(info) for host, info in sorted(source_os.values.items())},
        "mismatched": mismatched,
    }
    others = ", ".join(f"{host} ({version_label(source_os.values[host])})" for host in mismatched)
    problems = [f"{proxy.name} runs {proxy_os.major} build {proxy_os.build}, unlike {others}"]
    return conclude(
        "R6",
        problems=problems if mismatched else [],
        gaps=source_os.gaps,
        passed=f"{proxy.name} and all source hosts run {proxy_os.major} build {proxy_os.build}",
        evidence=evidence,
        remedy="Use a proxy with the same Windows Server version and build as the source hosts "
        "(upgrade or reinstall the proxy, or choose another).",
    )


@requirement_check("R7")
def proxy_is_physical(proxy: HostFacts) -> Finding:
    """R7: warn when the proxy is a VM (nested Hyper-V); fine for evaluation, not for production."""
    os_info = proxy.section("os")
    evidence = {
        "manufacturer": os_info.manufacturer,
        "model": os_info.model,
        "is_virtual_machine": os_info.is_virtual_machine,
    }
    if os_info.is_virtual_machine is None:
        return Finding.unknown(
            "R7", f"the facts of {proxy.name} do not say whether it is a VM", evidence, "Re-run host_facts."
        )
    if os_info.is_virtual_machine:
        return Finding.warned(
            "R7",
            f"{proxy.name} is a virtual machine ({os_info.model}); nested Hyper-V is for evaluation, not production",
            evidence,
            "Use a physical server as the production off-host proxy.",
        )
    return Finding.passed("R7", f"{proxy.name} is a physical machine", evidence)
