"""Reports: JSON round trip, Markdown table and details, JUnit XML mapping of statuses.

The Markdown is checked as a reader sees it: rendered by markdown-it-py (CommonMark with the GFM
table extension, as GitHub, GitLab and most viewers render it), then read back as text.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from html.parser import HTMLParser

import pytest
from markdown_it import MarkdownIt
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


class RenderedText(HTMLParser):
    """The text of each block element of rendered HTML, as (tag, text) in document order; table rows as lists."""

    BLOCKS = ("h1", "h2", "h4", "p", "pre", "td", "th")

    def __init__(self) -> None:
        super().__init__()
        self.blocks: list[tuple[str, str]] = []
        self.rows: list[list[str]] = []
        self._open: list[str] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag == "tr":
            self.rows.append([])
        if tag in self.BLOCKS:
            self.blocks.append((tag, ""))
            self._open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in self.BLOCKS:
            self._open.pop()
            if tag in ("td", "th"):
                self.rows[-1].append(self.blocks[-1][1])

    def handle_data(self, data: str) -> None:
        if self._open:
            tag, text = self.blocks[-1]
            self.blocks[-1] = (tag, text + data)


def rendered(markdown: str) -> RenderedText:
    parser = RenderedText()
    parser.feed(MarkdownIt("commonmark").enable("table").render(markdown))
    return parser


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
    page = rendered(render_markdown(mixed_report))
    assert ("h2", "Proxy PX1-r8_proxy_is_cluster_node: fail") in page.blocks
    assert ["R8", "FAIL", "PX1 is a node of source cluster CL1"] in page.rows
    headings = [text for tag, text in page.blocks if tag == "h4"]
    assert any(text.startswith("R8 FAIL: ") for text in headings)
    assert not any(text.startswith("R1 ") for text in headings)  # passing findings stay in the table only
    assert any(tag == "p" and text.startswith("Remedy: Choose a proxy outside") for tag, text in page.blocks)


AWKWARD = "\\\\fs1\\vms | *not em* _nor_ `code` <b>raw</b> [link](x) &amp; # ~~s~~ ![i](y)"


def one_finding_report(proxy: str = "PX1", **finding: str) -> dict:
    base = {"id": "R12", "requirement": "r", "status": "fail", "message": "m", "evidence": {}, "remedy": "fix"}
    summary = {"status": "fail", "pass": 0, "warn": 0, "fail": 1, "unknown": 0}
    return build_report({proxy: {"summary": summary, "findings": [{**base, **finding}]}})


def test_markdown_escapes_pipes():
    rows = rendered(render_markdown(one_finding_report(message="a|b"))).rows
    assert ["R12", "FAIL", "a|b"] in rows


@pytest.mark.parametrize(
    "text",
    [
        AWKWARD,
        "CORP\\PX1$ lacks read on \\\\fs1.corp.example.com\\VMS",
        "C:\\| a backslash before a pipe",
        "- not a list item",
        "1. not a numbered item",
        "+ plus",
        "= not a heading underline",
        "> not a quote",
        "    not code",
        "line one\nline two",
    ],
)
def test_markdown_renders_text_as_written(text):
    """Table cell, heading, message and remedy show the text a CommonMark reader would otherwise eat."""
    page = rendered(render_markdown(one_finding_report("PX1_a*b", message=text, remedy=text, requirement=text)))
    expected = " ".join(text.split())  # a reader sees line breaks and runs of spaces as one space
    assert ["R12", "FAIL", expected] in page.rows
    heading = page.blocks.index(("h4", f"R12 FAIL: {expected}"))
    message, remedy = page.blocks[heading + 1 : heading + 3]
    assert (message, remedy) == (("p", expected), ("p", f"Remedy: {expected}"))
    assert ("h2", "Proxy PX1_a*b: fail") in page.blocks


def test_markdown_unc_path_of_a_real_finding_renders_intact():
    report = report_of("r13_share_permissions_lack_proxy")
    page = rendered(render_markdown(report))
    r12 = next(row for row in page.rows if row[0] == "R12")
    assert r12 == ["R12", "FAIL", "PX1 cannot read \\\\fs1.corp.example.com\\VMS"]


def test_write_reports(tmp_path, mixed_report):
    written = write_reports(mixed_report, tmp_path / "out", ["json", "markdown", "junit"], stem="preflight-PX1")
    assert sorted(written) == ["json", "junit", "markdown"]
    assert json.loads((tmp_path / "out" / "preflight-PX1.json").read_text()) == mixed_report
    assert (tmp_path / "out" / "preflight-PX1.md").read_text().startswith("# Off-host proxy preflight")
    ET.parse(tmp_path / "out" / "preflight-PX1.junit.xml")
