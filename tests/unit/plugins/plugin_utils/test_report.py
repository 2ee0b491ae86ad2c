"""Reports: JSON round trip, Markdown table and details, JUnit XML mapping of statuses."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest
from preflight_estates import evaluate_estate

from ansible_collections.backup.hyperv.plugins.plugin_utils.checks.evaluate import summarise
from ansible_collections.backup.hyperv.plugins.plugin_utils.report import (
    build_report,
    render_junit,
    render_markdown,
    write_reports,
)


def report_of(*estate_names: str) -> dict:
    per_proxy = {}
    for name in estate_names:
        findings, _ignored = evaluate_estate(name)
        per_proxy[f"PX1-{name}"] = {"summary": summarise(findings), "findings": [f.to_dict() for f in findings]}
    return build_report(per_proxy, generated_at="2026-11-24T22:00:00Z")


@pytest.fixture(scope="module")
def mixed_report() -> dict:
    # fail (R8), warn (R7), unknown (R9) and pass in one report
    return report_of("healthy", "r8_proxy_is_cluster_node", "r7_proxy_is_vm", "r9_disks_probe_failed")


def test_overall_status_is_the_worst(mixed_report):
    assert mixed_report["status"] == "fail"
    assert mixed_report["proxies"]["PX1-healthy"]["summary"]["status"] == "pass"


def test_junit_maps_statuses(mixed_report):
    root = ET.fromstring(render_junit(mixed_report))
    suites = {suite.get("name"): suite for suite in root.iter("testsuite")}
    assert len(suites) == 4 and all(suite.get("tests") == "11" for suite in suites.values())

    def case(suite: str, rid: str) -> ET.Element:
        return next(c for c in suites[f"preflight PX1-{suite}"].iter("testcase") if c.get("name").startswith(f"{rid} "))

    assert suites["preflight PX1-r8_proxy_is_cluster_node"].get("failures") == "1"
    failure = case("r8_proxy_is_cluster_node", "R8").find("failure")
    assert failure is not None and "CL1" in failure.get("message") and "remedy" in failure.text
    skipped = case("r9_disks_probe_failed", "R9").find("skipped")
    assert skipped is not None and skipped.get("message").startswith("unknown: ")
    assert suites["preflight PX1-r9_disks_probe_failed"].get("skipped") == "1"
    warned = case("r7_proxy_is_vm", "R7")
    assert warned.find("failure") is None and warned.find("skipped") is None
    assert warned.find("properties/property").get("value") == "warn"
    assert warned.find("system-out").text.startswith("WARN: ")
    assert case("healthy", "R1").find("failure") is None


def test_markdown_has_table_and_details_for_non_pass(mixed_report):
    text = render_markdown(mixed_report)
    assert "## Proxy PX1-r8_proxy_is_cluster_node: fail" in text
    assert "| R8 | FAIL | PX1 is a node of source cluster CL1 |" in text
    assert "#### R8 FAIL:" in text and "**Remedy:**" in text
    assert "#### R1 " not in text  # passing findings stay in the table only


def test_markdown_escapes_pipes():
    report = build_report(
        {
            "PX1": {
                "summary": {"status": "fail", "pass": 0, "warn": 0, "fail": 1, "unknown": 0},
                "findings": [
                    {"id": "R8", "requirement": "r", "status": "fail", "message": "a|b", "evidence": {}, "remedy": ""}
                ],
            }
        }
    )
    assert "| R8 | FAIL | a\\|b |" in render_markdown(report)


def test_write_reports(tmp_path, mixed_report):
    written = write_reports(mixed_report, tmp_path / "out", ["json", "markdown", "junit"], stem="preflight-PX1")
    assert sorted(written) == ["json", "junit", "markdown"]
    assert json.loads((tmp_path / "out" / "preflight-PX1.json").read_text()) == mixed_report
    assert (tmp_path / "out" / "preflight-PX1.md").read_text().startswith("# Off-host proxy preflight")
    ET.parse(tmp_path / "out" / "preflight-PX1.junit.xml")
