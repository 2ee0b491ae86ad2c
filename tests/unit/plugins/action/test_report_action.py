"""backup.hyperv.report: one HTML page across proxies and per-VM backup results, as a browser shows it.

The page is opened in headless Chromium (Debian's ``chromium``, bindep.txt) from a file:// URL: a
screenshot proves it renders with its colours, and the DOM Chromium built is read back to check the
cells an admin reads. Chromium missing is a failure, not a skip: ``make test`` installs it.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "plugin_utils"))  # shared estate and page helpers
from page_reading import PageText, png_colours
from preflight_estates import evaluate_estate

from ansible_collections.backup.hyperv.plugins.action import report as report_action
from ansible_collections.backup.hyperv.plugins.action.report import REPORT_SPEC
from ansible_collections.backup.hyperv.plugins.modules import report as report_doc
from ansible_collections.backup.hyperv.plugins.plugin_utils.checks.evaluate import summarise

UNC_MESSAGE = "PX1 cannot read \\\\fs1.corp.example.com\\VMS"
QUIESCE = "the application-consistent checkpoint failed: Production checkpoints cannot be created for 'web01'."
WEB01 = {
    "vm": "hv1/web01",
    "proxy": "px1",
    "restore_point": "20261124T220501.123456Z-3f2a9c1e",
    "consistency": "crash",
    "consistency_msg": QUIESCE,
    "stats": {
        "bytes_read": 1 << 30,
        "bytes_stored": 50 << 20,
        "bytes_deduplicated": 896 << 20,  # of 1 GiB of data (2 GiB logical, 1 GiB zero): 87.5 %
        "bytes_logical": 2 << 30,
        "bytes_zero": 1 << 30,
        "duration": 4.2,
    },
    "incremental": {
        "web01.vhdx": {"mode": "changed_ranges", "baseline": "20261123T220501.123456Z-0b1c2d3e"},
        "web01-data.vhdx": {"mode": "full", "fallback_reason": "no RCT id recorded for this disk in the repository"},
    },
}
FILES01 = {"vm": "hv1/files01", "proxy": "px1", "failed": True, "msg": "cannot read \\\\fs1\\vms\\files01"}


def registered_preflight(proxy: str, estate_name: str) -> dict:
    """What ``register`` holds after backup.hyperv.preflight on ``proxy`` for the estate."""
    findings, _ignored = evaluate_estate(estate_name)
    return {
        "changed": False,
        "proxy": proxy,
        "summary": summarise(findings),
        "findings": [f.to_dict() for f in findings],
    }


@pytest.fixture(scope="module")
def preflight_results() -> list[dict]:
    return [
        registered_preflight("px1", "r13_share_permissions_lack_proxy"),  # R12, R13 fail on a UNC path
        registered_preflight("px2", "r8_proxy_is_cluster_node"),  # R8 fail
        {"failed": True, "proxy": "px3", "msg": "preflight cannot read facts: host 'px3' is not in the facts file"},
        {"changed": False, "skipped": True, "skip_reason": "Conditional result was False"},
    ]


def run(make_action, check_mode=False, diff=False, **args):
    action, calls = make_action("report", args=args, check_mode=check_mode)
    action._task.diff = diff
    result = action.run(task_vars={})
    assert calls == []  # the controller only
    return result


def test_writes_the_page_and_a_second_run_changes_nothing(make_action, tmp_path, preflight_results, monkeypatch):
    dest = tmp_path / "reports" / "backup.html"
    monkeypatch.setattr(report_action, "now", lambda: "2026-11-24T22:00:00Z")
    first = run(make_action, dest=str(dest), preflight=preflight_results, backups=[WEB01, FILES01])
    assert first["changed"] and first["dest"] == str(dest) and first["failed_vms"] == ["hv1/files01"]
    page = dest.read_text()
    assert '<time id="generated-at" datetime="2026-11-24T22:00:00Z">' in page

    monkeypatch.setattr(report_action, "now", lambda: "2026-11-25T22:00:00Z")
    again = run(make_action, dest=str(dest), preflight=preflight_results, backups=[WEB01, FILES01])
    assert not again["changed"] and dest.read_text() == page  # only the time would differ

    changed = run(make_action, dest=str(dest), preflight=preflight_results, backups=[WEB01])
    assert changed["changed"] and "2026-11-25T22:00:00Z" in dest.read_text()


def test_check_mode_writes_nothing_and_diff_shows_the_page(make_action, tmp_path, preflight_results):
    dest = tmp_path / "backup.html"
    result = run(make_action, check_mode=True, diff=True, dest=str(dest), preflight=preflight_results)
    assert result["changed"] and not dest.exists()
    assert result["diff"]["before"] == "" and result["diff"]["after"].startswith("<!DOCTYPE html>")
    assert ("message", UNC_MESSAGE) in PageText(result["diff"]["after"]).paragraphs


def test_preflight_entry_without_a_proxy_fails_clearly(make_action, tmp_path):
    result = run(make_action, dest=str(tmp_path / "r.html"), preflight=[{"findings": [], "summary": {}}])
    assert result["failed"] and result["msg"] == (
        "report cannot be prepared: preflight entry 1 names no proxy: give the results registered from "
        "backup.hyperv.preflight"
    )
    assert not (tmp_path / "r.html").exists()


def test_documentation_matches_the_argument_spec():
    options = yaml.safe_load(report_doc.DOCUMENTATION)["options"]

    def compare(documented: dict, specified: dict) -> None:
        assert set(documented) == set(specified)
        for name, spec in specified.items():
            doc = documented[name]
            for key in ("type", "default", "elements", "choices"):
                assert doc.get(key) == spec.get(key), (name, key)
            assert doc.get("required", False) == spec.get("required", False), name
            if "options" in spec:
                compare(doc["suboptions"], spec["options"])

    compare(options, REPORT_SPEC)


def chromium(*arguments: str, profile: Path) -> subprocess.CompletedProcess[str]:
    """Headless Chromium with no network use of its own (no sync, updates, QUIC or background fetches)."""
    executable = shutil.which("chromium")
    if executable is None:
        pytest.fail("chromium is not installed: `make test` installs it (bindep.txt), or apt-get install chromium")
    command = [
        executable,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        *arguments,
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=True)


def test_missing_chromium_fails_and_says_how_to_get_it(monkeypatch, tmp_path):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(pytest.fail.Exception, match=r"`make test` installs it"):
        chromium("--version", profile=tmp_path)


def test_chromium_renders_the_page_with_its_colours(make_action, tmp_path, preflight_results):
    dest = tmp_path / "backup.html"
    run(make_action, dest=str(dest), preflight=preflight_results, backups=[WEB01, FILES01])
    screenshot = tmp_path / "page.png"
    chromium(f"--screenshot={screenshot}", "--window-size=1280,900", dest.as_uri(), profile=tmp_path / "profile")
    width, height, colours = png_colours(screenshot.read_bytes())
    assert (width, height) == (1280, 900)
    assert len(colours) > 8  # not blank
    assert {(0xC6, 0xEF, 0xCE), (0xFF, 0xC7, 0xCE), (0x1F, 0x4E, 0x79)} <= colours  # pass, fail, table header


def test_chromium_dom_shows_the_cells_an_admin_reads(make_action, tmp_path, preflight_results):
    dest = tmp_path / "backup.html"
    run(make_action, dest=str(dest), preflight=preflight_results, backups=[WEB01, FILES01])
    dom = PageText(chromium("--dump-dom", dest.as_uri(), profile=tmp_path / "profile").stdout)
    assert "script" not in dom.elements
    assert dom.cell("preflight-summary", "px2", "R8") == "FAIL"
    assert dom.cell("preflight-summary", "px1", "R8") == "PASS"
    assert dom.cell("preflight-summary", "px1", "R13") == "FAIL"
    assert dom.cell("preflight-summary", "px3", "R1").startswith("not assessed: preflight cannot read facts")
    assert ("message", UNC_MESSAGE) in dom.paragraphs
    header, *rows = dom.tables["backup-results"]
    assert header == [
        "VM",
        "proxy",
        "read",
        "stored",
        "dedup ratio",
        "duration",
        "disks read",
        "consistency",
        "status",
        "restore point or error",
    ]
    assert rows == [
        [
            "hv1/web01",
            "px1",
            "1.0 GiB",
            "50.0 MiB",
            "87.5 %",
            "4.2 s",
            "web01.vhdx: changed ranges; web01-data.vhdx: full (no RCT id recorded for this disk in the repository)",
            f"crash ({QUIESCE})",
            "OK",
            "20261124T220501.123456Z-3f2a9c1e",
        ],
        ["hv1/files01", "px1", "—", "—", "—", "—", "—", "—", "FAILED", "cannot read \\\\fs1\\vms\\files01"],
    ]
