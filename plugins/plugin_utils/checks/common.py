"""Helpers the checks share: per-host section reads that tolerate errors, and verdict assembly.

A check over many hosts should not become ``unknown`` because one host's section errored when
another host already shows a definite failure; ``HostSections`` keeps the usable values and the
reasons for the unusable ones apart, and ``conclude`` turns problems and gaps into one finding.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

from ansible_collections.backup.hyperv.plugins.plugin_utils.facts.model import HostFacts, SectionUnavailable
from ansible_collections.backup.hyperv.plugins.plugin_utils.findings import Finding

RERUN_FACTS = "Re-run backup.hyperv.host_facts on the hosts named and fix what stops the probe."


@dataclass
class HostSections:
    """Values of one section across hosts: ``values[host]`` or ``gaps[host]`` (why it is unusable)."""

    values: dict[str, Any] = field(default_factory=dict)
    gaps: dict[str, str] = field(default_factory=dict)


def read_section(hosts: Iterable[HostFacts], section: str) -> HostSections:
    """Read ``section`` of every host, recording errors instead of raising."""
    result = HostSections()
    for host in hosts:
        try:
            result.values[host.name] = host.section(section)
        except SectionUnavailable as missing:
            result.gaps[host.name] = str(missing)
    return result


def conclude(
    requirement_id: str,
    *,
    problems: list[str],
    gaps: Mapping[str, str] | list[str],
    passed: str,
    evidence: Mapping[str, Any],
    remedy: str,
    problem_status: str = "fail",
    unknown_remedy: str | None = None,
) -> Finding:
    """One finding from what a check saw: problems win, then gaps (unknown), else pass.

    ``unknown_remedy`` replaces RERUN_FACTS for checks whose gaps are not only unusable sections
    (e.g. R9's unidentified LUNs).
    """
    gap_list = list(gaps.values()) if isinstance(gaps, Mapping) else list(gaps)
    evidence = {**evidence, **({"unknown": gap_list} if gap_list else {})}
    if problems:
        return Finding(requirement_id, problem_status, "; ".join(problems), evidence, remedy)
    if gap_list:
        return Finding.unknown(
            requirement_id, "cannot decide: " + "; ".join(gap_list), evidence, unknown_remedy or RERUN_FACTS
        )
    return Finding.passed(requirement_id, passed, evidence)


def not_applicable(requirement_id: str, reason: str, evidence: Mapping[str, Any] | None = None) -> Finding:
    """A pass that says the requirement does not apply to this estate."""
    return Finding.passed(requirement_id, f"not applicable: {reason}", {"applicable": False, **(evidence or {})})


def no_sources(requirement_id: str) -> Finding:
    return Finding.unknown(
        requirement_id, "no source hosts given", {}, "Name the Hyper-V hosts this proxy serves (source_hosts)."
    )


def normalise_path(path: str) -> str:
    """Windows paths compare case-insensitively and without a trailing separator."""
    return path.replace("/", "\\").rstrip("\\").lower()
