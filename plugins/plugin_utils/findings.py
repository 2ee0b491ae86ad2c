"""Findings: the verdict of one preflight check on one requirement (R1, R6-R15).

A finding is ``{id, requirement, status, message, evidence, remedy}`` where ``status`` is
``pass`` (requirement met or not applicable; evidence says which), ``warn`` (met but not
recommended, or only some VMs affected), ``fail`` (not met) or ``unknown`` (the facts needed are
missing or a probe section errored; the message names host and section).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from ansible_collections.backup.hyperv.plugins.plugin_utils.facts.model import SectionUnavailable

STATUSES = ("pass", "warn", "fail", "unknown")

REQUIREMENTS: Mapping[str, str] = {
    "R1": "The Hyper-V hosts a proxy will serve must be managed servers before the proxy role is assigned.",
    "R6": "The Windows/Hyper-V version of the proxy equals that of every source host (same major version and build).",
    "R7": "A proxy that is itself a VM (nested Hyper-V) is for evaluation only: warn, do not fail.",
    "R8": "For a Hyper-V cluster with CSV, the proxy must not be a node of that cluster.",
    "R9": "The proxy has read access to the SAN LUNs that back the source CSVs.",
    "R10": "For CSVs with Data Deduplication: host and proxy versions coincide and the proxy has the feature.",
    "R11": "A transportable VSS hardware provider is installed on the proxy and on every source host.",
    "R12": "The proxy has read access to the SMB3 share that holds the VM files.",
    "R13": "The proxy's computer account has read permission on the SMB3 share: share permissions and file-system ACL.",
    "R14": "The proxy is in the SMB3 server's domain, or the server's domain trusts the proxy's domain.",
    "R15": "VMs with VHD Set disks (.vhds) cannot be backed up off-host.",
}


@dataclass(frozen=True)
class Finding:
    """One check's verdict; ``evidence`` is JSON-serialisable."""

    id: str
    status: str
    message: str
    evidence: Mapping[str, Any] = field(default_factory=dict)
    remedy: str = ""

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"finding status must be one of {STATUSES}, not {self.status!r}")
        if self.id not in REQUIREMENTS:
            raise ValueError(f"unknown requirement id {self.id!r}")

    @property
    def requirement(self) -> str:
        return REQUIREMENTS[self.id]

    @classmethod
    def passed(cls, id: str, message: str, evidence: Mapping[str, Any] | None = None) -> Finding:
        return cls(id, "pass", message, evidence or {})

    @classmethod
    def warned(cls, id: str, message: str, evidence: Mapping[str, Any] | None = None, remedy: str = "") -> Finding:
        return cls(id, "warn", message, evidence or {}, remedy)

    @classmethod
    def failed(cls, id: str, message: str, evidence: Mapping[str, Any] | None = None, remedy: str = "") -> Finding:
        return cls(id, "fail", message, evidence or {}, remedy)

    @classmethod
    def unknown(cls, id: str, message: str, evidence: Mapping[str, Any] | None = None, remedy: str = "") -> Finding:
        return cls(id, "unknown", message, evidence or {}, remedy)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "requirement": self.requirement,
            "status": self.status,
            "message": self.message,
            "evidence": dict(self.evidence),
            "remedy": self.remedy,
        }


def worst(statuses: list[str]) -> str:
    """The most severe of ``statuses``: fail > unknown > warn > pass (pass when empty)."""
    order = ("pass", "warn", "unknown", "fail")
    return max(statuses, key=order.index, default="pass")


def requirement_check(requirement_id: str) -> Callable[[Callable[..., Finding]], Callable[..., Finding]]:
    """Decorate a check so that missing or errored facts sections become an ``unknown`` finding."""

    def decorate(check: Callable[..., Finding]) -> Callable[..., Finding]:
        @functools.wraps(check)
        def run(*args: Any, **kwargs: Any) -> Finding:
            try:
                return check(*args, **kwargs)
            except SectionUnavailable as missing:
                return Finding.unknown(
                    requirement_id,
                    str(missing),
                    evidence={"host": missing.host, "section": missing.section, "reason": missing.reason},
                    remedy=f"Re-run backup.hyperv.host_facts on {missing.host} and fix what stops it collecting "
                    f"'{missing.section}'.",
                )

        run.requirement_id = requirement_id  # type: ignore[attr-defined]
        return run

    return decorate
