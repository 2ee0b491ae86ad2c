"""The decision preflight hands to roles and playbooks: what blocks a proxy, what it needs, whether it
can take backup jobs. Roles and playbooks branch on these fields and work out no verdict of their own.

Words:
- *blocking*: the findings whose status ``fail_on`` counts (``FAILING_STATUSES``), less those the
  caller remedies itself (``remedied``, e.g. the offhost_proxy role installs R10's feature and R11's
  provider); the preflight task fails when any blocks.
- *needs*: what the proxy needs for its source hosts. Missing today: ``managed_servers`` (source
  hosts not shown to be managed servers, R1: the offhost_proxy role stops on them whatever
  ``fail_on`` says) and ``components`` (roles of the backup components, R2-R4, that the proxy's
  facts do not list). Required, present or not: ``features`` (Windows features beyond the ones every
  proxy gets: Data Deduplication, per ``dedup_feature``) and ``vss_provider`` (R11 applies: a source
  cluster has CSVs, or that cannot be ruled out).
- *can take jobs*: no finding fails and the proxy runs a data mover (R3): what backup.yml asks of a
  proxy before it gives it VMs.
"""

from __future__ import annotations

from typing import Any, Collection, Mapping, Sequence

from ansible_collections.backup.hyperv.plugins.plugin_utils.argspec import DEFAULT_COMPONENTS
from ansible_collections.backup.hyperv.plugins.plugin_utils.checks.common import read_section
from ansible_collections.backup.hyperv.plugins.plugin_utils.checks.dedup import DEDUP_FEATURE, hosts_with_dedup_volumes
from ansible_collections.backup.hyperv.plugins.plugin_utils.checks.managed import hosts_to_manage
from ansible_collections.backup.hyperv.plugins.plugin_utils.facts.model import HostFacts
from ansible_collections.backup.hyperv.plugins.plugin_utils.findings import Finding

# fail_on -> the finding statuses that block (and fail the preflight task)
FAILING_STATUSES: Mapping[str, frozenset[str]] = {
    "fail": frozenset({"fail"}),
    "warn": frozenset({"fail", "unknown", "warn"}),
    "never": frozenset(),
}
# auto: Data Deduplication when a source host reports a deduplicated volume; always; never
DEDUP_FEATURE_CHOICES = ("auto", "always", "never")
# The components a proxy runs: installer (R2), data mover (R3), Hyper-V integration (R4)
PROXY_COMPONENT_ROLES = tuple(component["role"] for component in DEFAULT_COMPONENTS)


def blocking_ids(findings: Sequence[Finding], fail_on: str, remedied: Collection[str] = ()) -> list[str]:
    """Ids of the findings that block, in the findings' order."""
    if fail_on not in FAILING_STATUSES:
        raise ValueError(f"fail_on must be one of {', '.join(FAILING_STATUSES)}, not {fail_on!r}")
    statuses = FAILING_STATUSES[fail_on]
    return [finding.id for finding in findings if finding.status in statuses and finding.id not in remedied]


def features_needed(sources: Sequence[HostFacts], dedup_feature: str) -> list[str]:
    """Windows features the proxy needs for these source hosts (beyond those every proxy gets)."""
    if dedup_feature not in DEDUP_FEATURE_CHOICES:
        raise ValueError(f"dedup_feature must be one of {', '.join(DEDUP_FEATURE_CHOICES)}, not {dedup_feature!r}")
    wanted = dedup_feature == "always" or (dedup_feature == "auto" and bool(hosts_with_dedup_volumes(sources)))
    return [DEDUP_FEATURE] if wanted else []


def vss_provider_needed(findings: Sequence[Finding]) -> bool:
    """R11 applies, or cannot be ruled out: only its not-applicable pass says no provider is needed."""
    r11 = next((finding for finding in findings if finding.id == "R11"), None)
    return r11 is None or r11.evidence.get("applicable", True) is not False


def components_missing(proxy: HostFacts) -> list[str]:
    """Roles of the proxy components its facts do not list (all of them when ``components`` is unusable)."""
    listed = read_section([proxy], "components").values.get(proxy.name, ())
    present = {component.role for component in listed}
    return [role for role in PROXY_COMPONENT_ROLES if role not in present]


def decide(
    proxy: HostFacts,
    sources: Sequence[HostFacts],
    findings: Sequence[Finding],
    *,
    fail_on: str = "fail",
    remedied: Collection[str] = (),
    dedup_feature: str = "auto",
) -> dict[str, Any]:
    """The decision for ``proxy`` serving ``sources``, from its ``findings`` and the facts (JSON types)."""
    blocking = blocking_ids(findings, fail_on, remedied)
    missing = components_missing(proxy)
    return {
        "blocked": bool(blocking),
        "blocking": blocking,
        "needs": {
            "managed_servers": hosts_to_manage(sources),
            "features": features_needed(sources, dedup_feature),
            "vss_provider": vss_provider_needed(findings),
            "components": missing,
        },
        "can_take_jobs": not any(finding.status == "fail" for finding in findings) and "data_mover" not in missing,
    }
