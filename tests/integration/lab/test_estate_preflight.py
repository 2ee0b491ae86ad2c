"""playbooks/preflight.yml against each estate of tests/lab/estates, through the real connection plugins.

The healthy estate fails nothing (no false alarm; R11 warns, see UNPROVEN); each broken estate
fails exactly the requirement it breaks.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from lab_testkit import ESTATES, TESTS_DIR, ansible_environment, estate_lab, handled_since

# R11 warns wherever hosts have a hardware VSS provider: host_facts reports `transportable: null`
# (Windows has no such flag; only a test transportable shadow copy proves it, docs/preflight.md).
UNPROVEN = {"R11": "warn"}
EXPECTED = {  # estate: {proxy: the findings that do not pass}
    "healthy": {"px1": UNPROVEN},
    "demo": {"px1": UNPROVEN, "px2": {"R8": "fail", **UNPROVEN}},
    "r1-unmanaged-host": {"px1": {"R1": "fail", **UNPROVEN}},
    "r6-version-mismatch": {"px1": {"R6": "fail", **UNPROVEN}},
    "r7-virtual-proxy": {"px1": {"R7": "warn", **UNPROVEN}},
    "r8-cluster-node-proxy": {"px1": {"R8": "fail", **UNPROVEN}},
    "r9-lun-unreadable": {"px1": {"R9": "fail", **UNPROVEN}},
    "r10-dedup-without-feature": {"px1": {"R10": "fail", **UNPROVEN}},
    "r11-no-hardware-provider": {"px1": {"R11": "fail"}},
    "r13-share-acl-denies": {"px1": {"R12": "fail", "R13": "fail", **UNPROVEN}},  # a denying layer fails R12 too
    "r14-no-trust": {"px1": {"R14": "fail", **UNPROVEN}},
    "r15-vhd-set": {"px1": {"R15": "warn", **UNPROVEN}},
}
PLAYBOOK = TESTS_DIR.parent / "playbooks" / "preflight.yml"


def run_preflight(lab, work_dir: Path) -> subprocess.CompletedProcess[str]:
    command = [
        str(Path(sys.executable).with_name("ansible-playbook")),
        "-i",
        str(lab.inventory),
        str(PLAYBOOK),
        "-e",
        json.dumps({"preflight_fail_on": "never", "preflight_report_dir": str(work_dir / "reports")}),
    ]
    return subprocess.run(
        command, capture_output=True, text=True, env=ansible_environment(work_dir), timeout=120, check=False
    )


@pytest.mark.parametrize("estate", sorted(EXPECTED))
def test_preflight_finds_what_the_estate_breaks(estate, tmp_path):
    with estate_lab(ESTATES / f"{estate}.yml", tmp_path / "lab") as lab:
        result = run_preflight(lab, tmp_path)
        assert result.returncode == 0, result.stdout[-3000:]
        for host in lab.status["hosts"]:
            probes = [name for name in handled_since(lab, host, 0) if name.startswith("collection:")]
            assert probes in (["collection:host_facts"], []), (host, probes)  # one probe per host, if any
    for proxy, expected in EXPECTED[estate].items():
        report = json.loads((tmp_path / "reports" / f"preflight-{proxy}.json").read_text())
        findings = report["proxies"][proxy]["findings"]
        assert len(findings) == 11  # R1, R6-R15
        assert {f["id"]: f["status"] for f in findings if f["status"] != "pass"} == expected, findings
