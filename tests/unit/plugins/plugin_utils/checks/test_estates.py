"""Every estate of tests/unit/fixtures/estates.json: each misconfiguration is caught under the
right requirement id with the right status, and nothing else is flagged (no false alarms)."""

from __future__ import annotations

import pytest
from preflight_estates import estate, estate_names, evaluate_estate

from ansible_collections.backup.hyperv.plugins.plugin_utils.checks.evaluate import summarise

ALL_IDS = ["R1", "R6", "R7", "R8", "R9", "R10", "R11", "R12", "R13", "R14", "R15"]


@pytest.mark.parametrize("name", estate_names())
def test_estate_flags_exactly_what_is_wrong(name):
    findings, entry = evaluate_estate(name)
    assert [f.id for f in findings] == ALL_IDS
    flagged = {f.id: f.status for f in findings if f.status != "pass"}
    assert flagged == entry["expect"], {f.id: f.message for f in findings if f.status != "pass"}


@pytest.mark.parametrize("name", estate_names())
def test_every_non_pass_finding_explains_itself(name):
    findings, _ignored = evaluate_estate(name)
    for finding in findings:
        if finding.status in ("fail", "warn", "unknown"):
            assert finding.message and finding.remedy, finding
        assert finding.requirement  # the requirement text travels with the finding


def test_misconfiguration_estates_cover_every_requirement():
    """The estate set itself: each requirement id is caught by at least one misconfigured estate."""
    caught = {rid for name in estate_names() for rid in estate(name)[2]["expect"]}
    assert caught >= set(ALL_IDS)


def test_healthy_estate_summary_is_pass():
    findings, _ignored = evaluate_estate("healthy")
    summary = summarise(findings)
    assert summary["status"] == "pass" and summary["pass"] == len(ALL_IDS)


def test_r8_names_the_cluster():
    findings, _ignored = evaluate_estate("r8_proxy_is_cluster_node")
    r8 = next(f for f in findings if f.id == "R8")
    assert "CL1" in r8.message and r8.evidence["shared_clusters"] == ["CL1"]


def test_r14_explains_which_trust_and_why():
    findings, _ignored = evaluate_estate("r14_trust_wrong_direction")
    r14 = next(f for f in findings if f.id == "R14")
    assert "Inbound" in r14.message and "does not let corp.example.com trust branch.example.net" in r14.message
    findings, _ignored = evaluate_estate("healthy_proxy_in_trusted_forest")
    r14 = next(f for f in findings if f.id == "R14")
    assert "Bidirectional forest trust with branch.example.net" in r14.message
