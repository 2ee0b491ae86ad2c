"""The HTML report's page as written: escaped, self-contained, and its figures (bytes, duration, dedup ratio).

tests/unit/plugins/action/test_report_action.py reads the same page back through headless Chromium.
"""

from __future__ import annotations

import re

import pytest
from page_reading import PageText

from ansible_collections.backup.hyperv.plugins.plugin_utils.report import build_report
from ansible_collections.backup.hyperv.plugins.plugin_utils.report_html import (
    dedup_ratio,
    generated_at_of,
    human_bytes,
    human_duration,
    render_html,
)

HOSTILE = '<script>alert("x")</script> & \\\\fs1\\vms <img src="http://example.invalid/x.png">'


def page_with(message: str = "m", vm: str = "hv1/web01", unassessed: dict | None = None) -> str:
    finding = {"id": "R8", "requirement": "r", "status": "fail", "message": message, "evidence": {"e": message}}
    summary = {"status": "fail", "pass": 0, "warn": 0, "fail": 1, "unknown": 0}
    report = build_report(
        {"px1": {"summary": summary, "findings": [{**finding, "remedy": message}]}}, "2026-11-24T22:00:00Z"
    )
    return render_html(report, [{"vm": vm, "failed": True, "msg": message}], unassessed)


def test_values_are_text_not_markup():
    page = page_with(HOSTILE, vm=HOSTILE, unassessed={"px9": HOSTILE})
    text = PageText(page)
    assert "script" not in text.elements and "img" not in text.elements
    assert ("message", HOSTILE) in text.paragraphs
    assert text.tables["backup-results"][1][0] == HOSTILE
    assert text.cell("preflight-summary", "px9", "R1") == f"not assessed: {HOSTILE}"


def test_page_is_self_contained():
    page = page_with()
    assert not re.search(r"(?i)<script|<link|\bsrc=|\bhref=|url\(|@import", page)
    assert generated_at_of(page) == "2026-11-24T22:00:00Z" and generated_at_of("<p>other</p>") is None


@pytest.mark.parametrize(
    ("count", "text"),
    [
        (0, "0 B"),
        (1023, "1023 B"),
        (1024, "1.0 KiB"),
        (50 << 20, "50.0 MiB"),
        (3 << 40, "3.0 TiB"),
        (5 << 50, "5120.0 TiB"),
    ],
)
def test_human_bytes(count, text):
    assert human_bytes(count) == text


@pytest.mark.parametrize(("seconds", "text"), [(4.2, "4.2 s"), (65, "1 min 05 s"), (3725, "1 h 02 min")])
def test_human_duration(seconds, text):
    assert human_duration(seconds) == text


@pytest.mark.parametrize(
    ("stats", "ratio"),
    [
        ({"bytes_logical": 100, "bytes_zero": 20, "bytes_deduplicated": 60}, 0.75),  # 60 of 80 data bytes known
        ({"bytes_logical": 100, "bytes_zero": 0, "bytes_deduplicated": 0}, 0.0),  # a first full backup
        ({"bytes_logical": 100, "bytes_zero": 100, "bytes_deduplicated": 0}, None),  # an empty disk: no data
    ],
)
def test_dedup_ratio_is_the_share_of_the_data_already_stored(stats, ratio):
    assert dedup_ratio(stats) == ratio
