"""Findings: shape, validation, severity order, and errored sections turned into 'unknown'."""

from __future__ import annotations

import pytest

from ansible_collections.backup.hyperv.plugins.plugin_utils.facts.model import SectionUnavailable
from ansible_collections.backup.hyperv.plugins.plugin_utils.findings import Finding, requirement_check, worst


def test_to_dict_has_the_documented_keys():
    finding = Finding.failed("R8", "PX1 is a node of CL1", {"clusters": ["CL1"]}, "Choose another proxy.")
    assert finding.to_dict() == {
        "id": "R8",
        "requirement": "For a Hyper-V cluster with CSV, the proxy must not be a node of that cluster.",
        "status": "fail",
        "message": "PX1 is a node of CL1",
        "evidence": {"clusters": ["CL1"]},
        "remedy": "Choose another proxy.",
    }


def test_status_and_id_are_validated():
    with pytest.raises(ValueError, match="status"):
        Finding("R8", "bad", "x")
    with pytest.raises(ValueError, match="R99"):
        Finding.passed("R99", "x")


@pytest.mark.parametrize(
    ("statuses", "expected"),
    [([], "pass"), (["pass", "warn"], "warn"), (["warn", "unknown"], "unknown"), (["unknown", "fail", "pass"], "fail")],
)
def test_worst(statuses, expected):
    assert worst(statuses) == expected


def test_requirement_check_turns_missing_sections_into_unknown():
    @requirement_check("R9")
    def needs_disks() -> Finding:
        raise SectionUnavailable("PX1", "disks", "probe error: Access denied")

    finding = needs_disks()
    assert (finding.id, finding.status) == ("R9", "unknown")
    assert finding.evidence == {"host": "PX1", "section": "disks", "reason": "probe error: Access denied"}
    assert "PX1" in finding.remedy and needs_disks.requirement_id == "R9"
