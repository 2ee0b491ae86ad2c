"""Preflight reports: one document per run, written as JSON, Markdown and JUnit XML.

The report is ``{"generated_at", "status", "proxies": {proxy: {"summary", "findings"}}}`` with
findings as Finding.to_dict(). JUnit XML has one ``testsuite`` per proxy and one ``testcase`` per
finding: ``fail`` becomes a ``<failure>``, ``unknown`` a ``<skipped>`` (the check could not be
decided, which is neither a defect of the estate nor of the tool), ``warn`` a passing test case
with a ``status=warn`` property and the warning in ``<system-out>``; ``pass`` a plain test case.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Mapping

from ansible_collections.backup.hyperv.plugins.plugin_utils.findings import worst

FORMATS = {"json": ".json", "markdown": ".md", "junit": ".junit.xml"}
STATUS_LABELS = {"pass": "PASS", "warn": "WARN", "fail": "FAIL", "unknown": "UNKNOWN"}


def build_report(per_proxy: Mapping[str, Mapping[str, Any]], generated_at: str | None = None) -> dict[str, Any]:
    """Report document from ``{proxy: {"summary": ..., "findings": [finding dicts]}}``."""
    return {
        "generated_at": generated_at or datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "status": worst([result["summary"]["status"] for result in per_proxy.values()]),
        "proxies": {name: dict(result) for name, result in per_proxy.items()},
    }


def render_json(report: Mapping[str, Any]) -> str:
    return json.dumps(report, indent=2, sort_keys=False) + "\n"


# Markdown that would otherwise be read as syntax: inline anywhere, block markers at the start of a line
_MARKDOWN_INLINE = re.compile(r"([\\`*_\[\]<>|&#~!])")
_MARKDOWN_BLOCK_START = re.compile(r"^(\d*)([-+=.)])")


def markdown_text(text: object) -> str:
    """``text`` as Markdown that renders as exactly that text, on one line, in a paragraph, heading or table cell.

    CommonMark lets any ASCII punctuation be escaped with a backslash (spec section 2.4, "Backslash
    escapes"); we escape the characters that open inline syntax (emphasis, code, links, raw HTML,
    entities) or split a GFM table cell, so ``\\\\fs1\\vms`` keeps both backslashes. Line breaks and runs
    of spaces become one space (as a reader sees them, and a table cell allows no line break); a leading
    ``-``, ``+``, ``=`` or ``1.`` would start a list or underline a heading, so it is escaped too.
    """
    escaped = _MARKDOWN_INLINE.sub(r"\\\1", " ".join(str(text).split()))
    return _MARKDOWN_BLOCK_START.sub(lambda match: f"{match[1]}\\{match[2]}", escaped)


def _markdown_details(finding: Mapping[str, Any]) -> Iterable[str]:
    label = STATUS_LABELS[finding["status"]]
    yield f"#### {finding['id']} {label}: {markdown_text(finding['requirement'])}"
    yield ""
    yield markdown_text(finding["message"])
    yield ""
    if finding["remedy"]:
        yield f"**Remedy:** {markdown_text(finding['remedy'])}"
        yield ""
    yield "```json"  # no line of indented JSON starts with a backtick, so nothing inside closes the fence
    yield json.dumps(finding["evidence"], indent=2)
    yield "```"
    yield ""


def render_markdown(report: Mapping[str, Any]) -> str:
    headline = f"Generated {report['generated_at']}; overall **{report['status']}**."
    lines = ["# Off-host proxy preflight", "", headline, ""]
    for proxy, result in report["proxies"].items():
        summary = result["summary"]
        counts = ", ".join(f"{summary[s]} {s}" for s in STATUS_LABELS)
        lines += [f"## Proxy {markdown_text(proxy)}: {summary['status']}", "", counts, ""]
        lines += ["| id | status | finding |", "|---|---|---|"]
        lines += [
            f"| {f['id']} | {STATUS_LABELS[f['status']]} | {markdown_text(f['message'])} |" for f in result["findings"]
        ]
        lines.append("")
        for finding in result["findings"]:
            if finding["status"] != "pass":
                lines += list(_markdown_details(finding))
    return "\n".join(lines).rstrip("\n") + "\n"


def _testcase(suite: ET.Element, proxy: str, finding: Mapping[str, Any]) -> None:
    name = f"{finding['id']} {finding['requirement']}"
    case = ET.SubElement(suite, "testcase", classname=f"backup.hyperv.preflight.{proxy}", name=name)
    properties = ET.SubElement(case, "properties")
    ET.SubElement(properties, "property", name="status", value=finding["status"])
    detail = json.dumps({"evidence": finding["evidence"], "remedy": finding["remedy"]}, indent=2)
    if finding["status"] == "fail":
        failure = ET.SubElement(case, "failure", message=finding["message"], type="fail")
        failure.text = detail
    elif finding["status"] == "unknown":
        ET.SubElement(case, "skipped", message=f"unknown: {finding['message']}")
    ET.SubElement(case, "system-out").text = f"{STATUS_LABELS[finding['status']]}: {finding['message']}\n{detail}"


def render_junit(report: Mapping[str, Any]) -> str:
    suites = ET.Element("testsuites", name="backup.hyperv.preflight")
    for proxy, result in report["proxies"].items():
        findings = result["findings"]
        suite = ET.SubElement(
            suites,
            "testsuite",
            name=f"preflight {proxy}",
            tests=str(len(findings)),
            failures=str(sum(f["status"] == "fail" for f in findings)),
            errors="0",
            skipped=str(sum(f["status"] == "unknown" for f in findings)),
            timestamp=report["generated_at"],
        )
        for finding in findings:
            _testcase(suite, proxy, finding)
    ET.indent(suites)
    return ET.tostring(suites, encoding="unicode", xml_declaration=True) + "\n"


RENDERERS = {"json": render_json, "markdown": render_markdown, "junit": render_junit}


def write_reports(
    report: Mapping[str, Any], directory: str | Path, formats: Iterable[str], stem: str = "preflight"
) -> dict[str, str]:
    """Write the report as ``<directory>/<stem><suffix>`` in each format; return ``{format: path}``."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    written = {}
    for name in formats:
        path = directory / f"{stem}{FORMATS[name]}"
        path.write_text(RENDERERS[name](report), encoding="utf-8")
        written[name] = str(path)
    return written
