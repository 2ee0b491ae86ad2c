"""playbooks/record_facts.yml on the demo estate, then an offline preflight from the file it wrote.

The file holds every host of hyperv_hosts, offhost_proxies and smb_servers under its inventory name
(lower case in the lab); the offline preflight names them as Windows does (PX2, HV1) and still finds them,
with the verdicts playbooks/preflight.yml gives online on the same estate (px2, a node of cluster CL1,
fails R8).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import yaml
from lab_testkit import ESTATES, TESTS_DIR, ansible_environment, estate_lab

RECORD = TESTS_DIR.parent / "playbooks" / "record_facts.yml"
PREFLIGHT = TESTS_DIR.parent / "playbooks" / "preflight.yml"


def ansible_playbook(
    inventory: Path, playbook: Path, work_dir: Path, *options: str
) -> subprocess.CompletedProcess[str]:
    command = [str(Path(sys.executable).with_name("ansible-playbook")), "-i", str(inventory), str(playbook), *options]
    return subprocess.run(
        command,
        cwd=work_dir,
        capture_output=True,
        text=True,
        env=ansible_environment(work_dir),
        timeout=180,
        check=False,
    )


def offline_preflight_play(facts_file: Path, report_dir: Path) -> list[dict]:
    """Preflight of PX1 and PX2 from the facts file only, named as Windows names them."""
    args = {
        "source_hosts": ["HV1", "HV2"],
        "smb_servers": ["FS1"],
        "facts_file": str(facts_file),
        "fail_on": "never",
        "report_dir": str(report_dir),
    }
    tasks = [
        {"name": f"Preflight of {proxy}", "backup.hyperv.preflight": {**args, "proxy": proxy}}
        for proxy in ("PX1", "PX2")
    ]
    return [{"name": "Offline preflight", "hosts": "localhost", "gather_facts": False, "tasks": tasks}]


def verdicts(report_dir: Path, proxy: str) -> dict[str, str]:
    report = json.loads((report_dir / f"preflight-{proxy}.json").read_text())
    return {finding["id"]: finding["status"] for finding in report["proxies"][proxy]["findings"]}


def test_a_limited_run_writes_the_facts_of_the_hosts_it_probed(tmp_path):
    # AWX's Limit leaves localhost out: the file is written from the first probed host, delegated to the controller.
    with estate_lab(ESTATES / "demo.yml", tmp_path / "lab") as lab:
        limited = ansible_playbook(lab.inventory, RECORD, tmp_path, "--limit", "hyperv_hosts:offhost_proxies")
    assert limited.returncode == 0, limited.stdout[-3000:]
    hosts = json.loads((tmp_path / "hyperv_offhost_facts.json").read_text())["hosts"]
    assert set(hosts) == {"hv1", "hv2", "px1", "px2"}
    assert "no hyperv_offhost facts for fs1" in limited.stdout


def test_a_preflight_limited_to_one_proxy_still_judges_it_against_its_hosts(tmp_path):
    # AWX's Limit: the source hosts and the file server are out of the plays, probed by delegation; px2, a node of
    # cluster CL1, still fails R8 instead of a green run of unknowns.
    with estate_lab(ESTATES / "demo.yml", tmp_path / "lab") as lab:
        limited = ansible_playbook(lab.inventory, PREFLIGHT, tmp_path, "--limit", "px2")
    assert limited.returncode != 0, limited.stdout[-3000:]
    assert '"blocking": ["R8"]' in limited.stdout or "R8" in limited.stdout[limited.stdout.rindex("fatal") :]
    assert "no hyperv_offhost facts for" not in limited.stdout, limited.stdout[-3000:]


def test_recorded_facts_feed_an_offline_preflight(tmp_path):
    with estate_lab(ESTATES / "demo.yml", tmp_path / "lab") as lab:
        recorded = ansible_playbook(lab.inventory, RECORD, tmp_path)
        assert recorded.returncode == 0, recorded.stdout[-3000:]
        online_options = [
            "-e",
            json.dumps({"preflight_fail_on": "never", "preflight_report_dir": str(tmp_path / "online")}),
        ]
        online = ansible_playbook(lab.inventory, PREFLIGHT, tmp_path, *online_options)
        assert online.returncode == 0, online.stdout[-3000:]
        inventory_names = set(lab.status["hosts"])
    facts_file = tmp_path / "hyperv_offhost_facts.json"  # the default path, in the directory it ran from
    hosts = json.loads(facts_file.read_text())["hosts"]
    assert set(hosts) == inventory_names - {"px3"}  # px3 is in no group of the three
    assert all(facts["schema_version"].startswith("1.") for facts in hosts.values())

    # the lab is down: this run reads nothing but the file
    playbook = tmp_path / "offline.yml"
    playbook.write_text(yaml.safe_dump(offline_preflight_play(facts_file, tmp_path / "offline")))
    no_hosts = tmp_path / "no-hosts.yml"
    no_hosts.write_text("all: {}\n")
    offline = ansible_playbook(no_hosts, playbook, tmp_path)
    assert offline.returncode == 0, offline.stdout[-3000:]
    for proxy in ("px1", "px2"):
        assert verdicts(tmp_path / "offline", proxy.upper()) == verdicts(tmp_path / "online", proxy), proxy
    assert verdicts(tmp_path / "offline", "PX2")["R8"] == "fail"
