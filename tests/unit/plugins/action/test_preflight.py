"""backup.hyperv.preflight action: facts from hostvars or a facts file, gating, reports, docs.

Uses make_action from this directory's conftest.py (a real ActionModule on a fake connection that
fails on any round trip: preflight must make none). Estates come from tests/unit/fixtures/estates.json.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml
from ansible.errors import AnsibleActionFail

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "plugin_utils"))  # shared estate helpers
from preflight_estates import estate

from ansible_collections.backup.hyperv.plugins.action.preflight import PREFLIGHT_SPEC
from ansible_collections.backup.hyperv.plugins.modules import preflight as preflight_doc

REPO = Path(__file__).resolve().parents[4]
ARGS = {"source_hosts": ["HV1", "HV2"], "smb_servers": ["FS1"]}


def hostvars_of(name: str) -> dict:
    raw, _ignored, _ignored = estate(name)
    return {host: {"ansible_facts": {"hyperv_offhost": facts}} for host, facts in raw.items()}


def run(make_action, estate_name="healthy", check_mode=False, inventory_hostname="PX1", hostvars=None, **args):
    action, calls = make_action("preflight", args={**ARGS, **args}, check_mode=check_mode)
    task_vars = {"hostvars": hostvars or hostvars_of(estate_name), "inventory_hostname": inventory_hostname}
    result = action.run(task_vars=task_vars)
    assert calls == []  # no connection use at all
    return result


def test_healthy_estate_passes_without_failing(make_action):
    result = run(make_action)
    assert not result.get("failed") and result["changed"] is False
    assert result["proxy"] == "PX1" and result["summary"]["status"] == "pass"
    assert [f["id"] for f in result["findings"]] == [
        "R1",
        "R6",
        "R7",
        "R8",
        "R9",
        "R10",
        "R11",
        "R12",
        "R13",
        "R14",
        "R15",
    ]


def test_fail_finding_fails_the_task_and_names_the_requirement(make_action):
    result = run(make_action, "r8_proxy_is_cluster_node")
    assert result["failed"] and result["msg"].splitlines()[0] == "preflight of PX1: fail: R8"
    assert result["summary"]["failed"] == ["R8"]


def findings_by_id(result: dict) -> dict[str, dict]:
    return {finding["id"]: finding for finding in result["findings"]}


def test_failure_message_gives_each_failing_finding_with_its_message_and_remedy(make_action):
    result = run(make_action, "r13_share_permissions_lack_proxy")
    findings = findings_by_id(result)
    lines = result["msg"].splitlines()
    assert lines[0] == "preflight of PX1: fail: R12, R13"
    for rid in ("R12", "R13"):
        assert f"{rid} FAIL: {findings[rid]['message']}" in lines
        assert f"  remedy: {findings[rid]['remedy']}" in lines
    assert len(lines) == 5 and len(result["msg"]) < 80 * 24  # one screen


def test_failure_message_with_fail_on_warn_lists_warnings_and_unknowns(make_action):
    result = run(make_action, "r7_proxy_is_vm", fail_on="warn")
    assert result["msg"].splitlines()[:2] == [
        "preflight of PX1: warn: R7",
        f"R7 WARN: {findings_by_id(result)['R7']['message']}",
    ]
    result = run(make_action, "r9_disks_probe_failed", fail_on="warn")
    r9 = findings_by_id(result)["R9"]
    assert f"R9 UNKNOWN: {r9['message']}\n  remedy: {r9['remedy']}" in result["msg"]
    assert "R1 " not in result["msg"]  # passing findings stay out


@pytest.mark.parametrize(
    ("estate_name", "fail_on", "failed"),
    [
        ("r7_proxy_is_vm", "fail", False),
        ("r7_proxy_is_vm", "warn", True),
        ("r9_disks_probe_failed", "warn", True),
        ("r8_proxy_is_cluster_node", "never", False),
    ],
)
def test_fail_on(make_action, estate_name, fail_on, failed):
    assert bool(run(make_action, estate_name, fail_on=fail_on).get("failed")) is failed


def test_the_result_carries_the_decision(make_action):
    decision = run(make_action, "r8_proxy_is_cluster_node", fail_on="never")["decision"]
    assert (decision["blocked"], decision["blocking"], decision["can_take_jobs"]) == (False, [], False)
    decision = run(make_action, "r1_host_not_managed", fail_on="never")["decision"]
    assert decision["needs"]["managed_servers"] == ["HV2"] and decision["can_take_jobs"] is False  # R1 fails


def test_the_task_fails_exactly_when_the_decision_blocks(make_action):
    result = run(make_action, "r8_proxy_is_cluster_node")
    assert result["failed"] and result["decision"]["blocking"] == ["R8"]


def test_remedied_findings_neither_block_nor_fail_the_task(make_action):
    result = run(make_action, "r10_no_dedup_on_proxy", remedied=["R10", "R11"])
    assert not result.get("failed") and result["decision"]["blocking"] == []
    assert result["summary"]["failed"] == ["R10"]  # still reported
    result = run(make_action, "r13_share_permissions_lack_proxy", remedied=["R12"])
    assert result["msg"].splitlines()[0] == "preflight of PX1: fail: R13" and "R12 FAIL" not in result["msg"]


@pytest.mark.parametrize(("dedup_feature", "features"), [("auto", ["FS-Data-Deduplication"]), ("never", [])])
def test_dedup_feature_says_whether_the_proxy_needs_data_deduplication(make_action, dedup_feature, features):
    assert run(make_action, dedup_feature=dedup_feature)["decision"]["needs"]["features"] == features


def test_an_unknown_requirement_id_in_remedied_is_refused(make_action):
    action, _ignored = make_action("preflight", args={**ARGS, "remedied": ["R2"]})
    with pytest.raises(AnsibleActionFail, match="remedied"):
        action.run(task_vars={"hostvars": hostvars_of("healthy"), "inventory_hostname": "PX1"})


def test_check_mode_returns_the_same_findings(make_action):
    assert (
        run(make_action, "r13_share_permissions_lack_proxy", check_mode=True)["findings"]
        == run(make_action, "r13_share_permissions_lack_proxy")["findings"]
    )


def test_explicit_proxy_overrides_inventory_hostname(make_action):
    assert run(make_action, inventory_hostname="localhost", proxy="PX1")["proxy"] == "PX1"


def test_host_without_facts_gives_unknown_findings_and_a_warning(make_action):
    hostvars = hostvars_of("healthy")
    hostvars["HV2"] = {"ansible_facts": {}}
    result = run(make_action, hostvars=hostvars)
    assert result["warnings"] == ["no hyperv_offhost facts for HV2: their checks are unknown"]
    assert "R1" in result["summary"]["unknown_ids"] and not result.get("failed")


def test_unknown_host_and_invalid_facts_fail_clearly(make_action):
    result = run(make_action, source_hosts=["HV1", "HV7"])
    assert result["failed"] and result["msg"] == "preflight cannot read facts: host 'HV7' is not in the inventory"
    assert "decision" not in result
    hostvars = hostvars_of("healthy")
    hostvars["HV1"]["ansible_facts"]["hyperv_offhost"]["disks"] = "none"
    result = run(make_action, hostvars=hostvars)
    assert result["failed"] and "HV1: hyperv_offhost facts invalid at $.disks" in result["msg"]


def test_bad_option_is_refused(make_action):
    action, _ignored = make_action("preflight", args={**ARGS, "fail_on": "sometimes"})
    with pytest.raises(AnsibleActionFail, match="fail_on"):
        action.run(task_vars={"hostvars": {}, "inventory_hostname": "PX1"})


def write_facts_file(tmp_path: Path, estate_name: str) -> Path:
    raw, _ignored, _ignored = estate(estate_name)
    path = tmp_path / "facts.json"
    path.write_text(json.dumps({"hosts": raw}))
    return path


def test_offline_facts_file_and_reports(make_action, tmp_path):
    facts_file = write_facts_file(tmp_path, "r15_vhd_set")
    result = run(make_action, hostvars={}, facts_file=str(facts_file), report_dir=str(tmp_path / "reports"))
    assert result["summary"]["warned"] == ["R15"] and not result.get("failed")
    files = result["report_files"]
    assert set(files) == {"json", "markdown", "junit"}
    assert json.loads(Path(files["json"]).read_text())["proxies"]["PX1"]["findings"] == result["findings"]
    assert Path(files["json"]).name == "preflight-PX1.json"
    assert ET.parse(files["junit"]).getroot().find("testsuite").get("tests") == "11"


@pytest.mark.parametrize(("estate_name", "status"), [("healthy", "pass"), ("r8_proxy_is_cluster_node", "fail")])
def test_offline_inventory_names_match_the_facts_file_case_blind(make_action, tmp_path, estate_name, status):
    """Inventory names are lower case (px1), the recorded file has the Windows names (PX1): same verdicts."""
    facts_file = write_facts_file(tmp_path, estate_name)
    result = run(
        make_action,
        hostvars={},
        inventory_hostname="px1",
        facts_file=str(facts_file),
        source_hosts=["hv1", "Hv2"],
        smb_servers=["fs1"],
        fail_on="never",
    )
    assert result["proxy"] == "px1" and result["summary"]["status"] == status, result["findings"]


def test_offline_names_that_differ_only_by_case_fail_clearly(make_action, tmp_path):
    raw, _ignored, _ignored = estate("healthy")
    facts_file = tmp_path / "facts.json"
    facts_file.write_text(json.dumps({"hosts": {**raw, "px1": raw["PX1"]}}))
    result = run(make_action, hostvars={}, inventory_hostname="px1", facts_file=str(facts_file))
    assert result["failed"] and result["msg"] == (
        "preflight cannot read facts: host 'px1' matches 'PX1' and 'px1' in the facts file: names that differ "
        "only by case name one Windows computer; keep one of them"
    )


def test_unwritable_report_dir_fails_with_the_reason(make_action, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    result = run(make_action, report_dir=str(blocker / "reports"))
    assert result["failed"] and result["msg"].startswith("preflight cannot write its report: ")
    assert result["findings"]  # the verdicts are still returned
    assert "decision" not in result  # nothing to act on: a role that reads it stops here


def test_documentation_matches_the_argument_spec():
    options = yaml.safe_load(preflight_doc.DOCUMENTATION)["options"]
    assert set(options) == set(PREFLIGHT_SPEC)
    for name, spec in PREFLIGHT_SPEC.items():
        doc = options[name]
        assert doc["type"] == spec["type"], name
        assert doc.get("default") == spec.get("default"), name
        assert doc.get("choices") == spec.get("choices"), name
        assert doc.get("required", False) == spec.get("required", False), name
        assert doc.get("elements") == spec.get("elements"), name


def run_playbook(tmp_path: Path, inventory: Path | str, task_args: dict) -> subprocess.CompletedProcess:
    """ansible-playbook with this checkout as the backup.hyperv collection, one preflight task on PX1."""
    play = {
        "hosts": "PX1",
        "gather_facts": False,
        "tasks": [{"name": "Preflight", "backup.hyperv.preflight": {**ARGS, **task_args}}],
    }
    playbook = tmp_path / "play.yml"
    playbook.write_text(yaml.safe_dump([play]))
    env = {
        **os.environ,
        "ANSIBLE_COLLECTIONS_PATH": str(REPO / "build" / "collections"),
        "ANSIBLE_LOCAL_TEMP": str(tmp_path / "tmp"),
        "ANSIBLE_HOME": str(tmp_path / "home"),
        "ANSIBLE_NOCOLOR": "1",
    }
    command = [str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(inventory), str(playbook)]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=120, check=False)


def test_ansible_playbook_offline_from_facts_file(tmp_path):
    """End to end: collection loader, argument handling, failure gating, report files."""
    facts_file = write_facts_file(tmp_path, "r8_proxy_is_cluster_node")
    args = {"facts_file": str(facts_file), "report_dir": str(tmp_path / "reports")}
    completed = run_playbook(tmp_path, "PX1,", args)
    assert completed.returncode == 2, completed.stderr  # the task failed on R8, as asked
    assert "preflight of PX1: fail: R8" in completed.stdout
    report = json.loads((tmp_path / "reports" / "preflight-PX1.json").read_text())
    assert report["proxies"]["PX1"]["summary"]["failed"] == ["R8"]
    assert (tmp_path / "reports" / "preflight-PX1.md").read_text().count("| R8 | FAIL |") == 1


def test_ansible_playbook_reads_facts_from_hostvars(tmp_path):
    """Facts held in real (lazy, templated) hostvars reach the checks intact."""
    raw, _ignored, _ignored = estate("r15_vhd_set")
    inventory = tmp_path / "inventory.yml"
    hosts = {name: {"ansible_connection": "local", "hyperv_offhost": facts} for name, facts in raw.items()}
    inventory.write_text(yaml.safe_dump({"all": {"hosts": hosts}}))
    completed = run_playbook(tmp_path, inventory, {"fail_on": "warn"})
    assert completed.returncode == 2, completed.stderr
    assert "preflight of PX1: warn: R15" in completed.stdout
