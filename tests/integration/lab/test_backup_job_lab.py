"""`playbooks/backup.yml` on the lab: what a `--limit` covers, and what a VM with a VHD Set disk does to a run
(issue 15: "px1 backed up nothing" under a limit; one VHD Set VM stopped every other VM's backup).

One lab of tests/lab/estates/r15-vhd-set.yml (cluster CL1 = hv1 + hv2, proxy px1 serving both, file server
fs1; vm1 and vm3 on hv1, vm2 and vm4 on hv2, vm4 with a `.vhds` disk) with the packages staged and px1
deployed once by `playbooks/offhost_proxy.yml`. Each test runs `backup.yml` and then reads the repository
back on px1 with `data_mover operation=list`, so what was stored is checked independently of the
playbook's own messages. The repository is shared by the tests: each compares restore point counts
before and after its own run.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
import yaml
from lab_testkit import ESTATES, RunningLab, ansible_adhoc, handled_since
from test_site_lab import playbook, staged_lab

# isort: split
from lab.windows.hoststate import HostState, read_counters

REPO_ROOT = Path(__file__).resolve().parents[3]
BACKUP = REPO_ROOT / "playbooks" / "backup.yml"
OFFHOST_PROXY = REPO_ROOT / "playbooks" / "offhost_proxy.yml"
COMMON = {
    "backup_repository": "C:\\Backup\\repo",
    "backup_passphrase": "Lab-Vault-Passphrase-backup-job",
    "backup_encryption": "aes-256-gcm",
}
VHDX_VMS = ["vm1", "vm2", "vm3"]  # vm4's only disk is a VHD Set (R15)


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningLab]:
    """The estate with px1 made a proxy (components installed, so preflight finds a data mover)."""
    work = tmp_path_factory.mktemp("backup-job")
    with staged_lab(ESTATES / "r15-vhd-set.yml", work / "lab") as lab:
        rc, output = playbook(lab, work, OFFHOST_PROXY, {})
        assert rc == 0, output[-3000:]
        yield lab


def restore_points(lab: RunningLab, work: Path) -> dict[str, int]:
    """{VM: number of restore points} in the repository, as px1's data mover lists it (none before the first)."""
    arguments = {"operation": "list", **{key: COMMON[f"backup_{key}"] for key in ("repository", "passphrase")}}
    listed = ansible_adhoc(lab, work, "px1", "-m", "backup.hyperv.data_mover", "-a", json.dumps(arguments))
    result = listed["px1"]
    if "vms" not in result:  # the tree callback keeps no `failed` key: a failed list has only msg, rc, stderr
        assert "no repository at" in result["msg"], result
        return {}
    return {vm: len(points) for vm, points in result["vms"].items()}


def backup_run(
    lab: RunningLab, work: Path, extra: dict[str, Any], *options: str, inventory: RunningLab | None = None
) -> tuple[int, str, set[str]]:
    """`backup.yml` with `extra` and `options` (on `inventory`'s inventory, default the lab's); (rc, output, the VMs
    that got a new restore point)."""
    before = restore_points(lab, work)
    rc, output = playbook(inventory or lab, work, BACKUP, {**COMMON, **extra}, *options)
    after = restore_points(lab, work)
    return rc, output, {vm for vm, count in after.items() if count > before.get(vm, 0)}


def test_limit_to_a_proxy_backs_up_the_vms_of_the_hosts_it_serves(deployed: RunningLab, tmp_path: Path) -> None:
    rc, output, stored = backup_run(deployed, tmp_path, {"backup_vms": ["vm1", "vm2"]}, "--limit", "px1")
    assert rc == 0, output[-3000:]
    assert stored == {"vm1", "vm2"}, output[-3000:]
    assert "no hyperv_offhost facts for" not in output, output[-3000:]  # fs1, which no play targets, was probed too


def test_backup_vms_given_as_key_value_text_names_the_vms(deployed: RunningLab, tmp_path: Path) -> None:
    # `-e backup_vms=vm1,vm2` (or an AWX text survey) is text, not a list: one VM per comma, not per character.
    rc, output, stored = backup_run(deployed, tmp_path, {}, "--limit", "px1", "-e", "backup_vms=vm1,vm2")
    assert rc == 0, output[-3000:]
    assert stored == {"vm1", "vm2"}, output[-3000:]


def test_limit_without_a_proxy_fails_naming_the_proxies_to_limit_to(deployed: RunningLab, tmp_path: Path) -> None:
    rc, output, stored = backup_run(deployed, tmp_path, {"backup_vms": ["vm1"]}, "--limit", "hv1")
    assert rc != 0, output[-3000:]
    assert "names no host of offhost_proxies" in output and "--limit hv1,px1" in output, output[-3000:]
    assert stored == set()


def test_limit_to_a_proxy_that_serves_no_vm_fails(deployed: RunningLab, tmp_path: Path) -> None:
    rc, output, stored = backup_run(deployed, tmp_path, {"offhost_proxy_source_hosts": []}, "--limit", "px1")
    assert rc != 0, output[-3000:]
    assert "No VM to back up" in output, output[-3000:]
    assert stored == set()


@pytest.mark.parametrize(
    ("extra", "refusal"),
    [
        ({"backup_vms": ["vm1", "ghost"]}, "reports the VM(s) ghost."),
        ({"backup_repository": ""}, "Set backup_repository, the repository directory on the data mover host."),
    ],
)
def test_a_refused_plan_names_its_reason_and_stores_nothing(
    deployed: RunningLab, tmp_path: Path, extra: dict[str, Any], refusal: str
) -> None:
    rc, output, stored = backup_run(deployed, tmp_path, extra)
    assert rc != 0, output[-3000:]
    assert refusal in output, output[-3000:]
    assert stored == set()


def with_unreachable_source_host(lab: RunningLab, work: Path) -> RunningLab:
    """The lab's inventory plus hv9, a source host of hyperv_hosts that refuses connections (nothing listens)."""
    inventory = yaml.safe_load(lab.inventory.read_text())
    groups = inventory["all"]["children"]
    groups["windows"]["hosts"]["hv9"] = {
        **groups["windows"]["hosts"]["hv1"],
        "ansible_host": "127.0.0.99",
        "ansible_port": 1,
    }
    groups["hyperv_hosts"]["hosts"]["hv9"] = None
    (work / "inventory").mkdir()
    (work / "inventory" / "inventory.yml").write_text(yaml.safe_dump(inventory))
    return RunningLab(work / "inventory", lab.status)


def test_a_source_host_outside_the_limit_that_cannot_be_probed_fails_the_run_after_the_others(
    deployed: RunningLab, tmp_path: Path
) -> None:
    inventory = with_unreachable_source_host(deployed, tmp_path)
    extra = {"backup_vhd_set_policy": "skip"}
    rc, output, stored = backup_run(deployed, tmp_path, extra, "--limit", "px1", inventory=inventory)
    assert rc == 2, output[-3000:]
    assert stored == set(VHDX_VMS), output[-3000:]
    last_failure = output[output.rindex("fatal: ") :]
    assert "The VMs of hv9 were not backed up: the host could not be probed" in last_failure, output[-3000:]
    assert "[WARNING] hv9 reported no VM list (no hyperv_offhost facts); its VMs are left out." in output


def test_a_vm_asked_for_on_a_host_that_cannot_be_probed_is_refused_naming_the_host(
    deployed: RunningLab, tmp_path: Path
) -> None:
    inventory = with_unreachable_source_host(deployed, tmp_path)
    extra = {"backup_vms": ["vm1", "vm9"]}
    rc, output, stored = backup_run(deployed, tmp_path, extra, "--limit", "px1", inventory=inventory)
    assert rc != 0, output[-3000:]
    assert "reports the VM(s) vm9." in output and "Hosts without a VM list: hv9: no hyperv_offhost facts." in output
    assert stored == set()


class BackupRows(HTMLParser):
    """The rows of the HTML report's backup table: {VM: [cell texts]}."""

    def __init__(self, page: str) -> None:
        super().__init__()
        self.rows: dict[str, list[str]] = {}
        self._in_table = False
        self._row: list[str] | None = None
        self.feed(page)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table":
            self._in_table = ("id", "backup-results") in attrs
        elif self._in_table and tag == "tr":
            self._row = []
        elif self._row is not None and tag == "td":
            self._row.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag == "tr" and self._row:
            self.rows[self._row[0]] = self._row
        if tag in ("tr", "table"):
            self._row = None

    def handle_data(self, data: str) -> None:
        if self._row:
            self._row[-1] += data


def test_a_vhd_set_vm_is_refused_at_the_end_and_every_other_vm_backed_up(deployed: RunningLab, tmp_path: Path) -> None:
    report = tmp_path / "report.html"
    rc, output, stored = backup_run(deployed, tmp_path, {"backup_report_html": str(report)})
    assert rc == 2, output[-3000:]
    assert stored == set(VHDX_VMS), output[-3000:]
    last_failure = output[output.rindex("fatal: ") :]
    assert "R15" in last_failure and "hv2/vm4" in last_failure and "backup_vhd_set_policy=skip" in last_failure
    # The report is written before the run's last verdict, with one row per VM the proxies backed up.
    rows = BackupRows(report.read_text(encoding="utf-8")).rows
    assert {vm.split("/")[1] for vm in rows} == set(VHDX_VMS), rows
    for cells in rows.values():
        _vm, proxy, read, stored_bytes = cells[:4]
        assert proxy == "px1" and read != "—" and stored_bytes != "—", cells


def test_vhd_set_policy_skip_backs_up_the_others_and_passes(deployed: RunningLab, tmp_path: Path) -> None:
    rc, output, stored = backup_run(deployed, tmp_path, {"backup_vhd_set_policy": "skip"})
    assert rc == 0, output[-3000:]
    assert stored == set(VHDX_VMS)
    assert "R15: skipping hv2/vm4" in output


def test_an_unknown_vhd_set_policy_fails_before_any_host_is_reached(deployed: RunningLab, tmp_path: Path) -> None:
    requests = len(deployed.log())
    rc, output = playbook(deployed, tmp_path, BACKUP, {**COMMON, "backup_vhd_set_policy": "ignore"})
    assert rc != 0, output[-3000:]
    assert "backup_vhd_set_policy must be one of fail, skip (got 'ignore')" in output, output[-3000:]
    assert len(deployed.log()) == requests  # no probe, no job: nothing was sent to any host


def test_variables_a_groups_tasks_would_refuse_fail_the_run_before_any_host_is_reached(
    deployed: RunningLab, tmp_path: Path
) -> None:
    """A block size that is not a power of two and a relative expose folder would be refused by the data mover's
    and group_snapshot's tasks, after each group's checkpoints and shadow copy: the first play names both."""
    requests = len(deployed.log())
    bad = {"backup_block_size": "3M", "backup_expose_root": "shadows", "backup_rct_audit": "perhaps"}
    rc, output = playbook(deployed, tmp_path, BACKUP, {**COMMON, **bad})
    assert rc != 0, output[-3000:]
    assert "Fix these variables of the run; no host was reached. backup_block_size: block_size '3M'" in output
    assert "backup_expose_root: expose_root: 'shadows' must be an absolute Windows path" in output, output[-3000:]
    assert "backup_rct_audit must be true or false (got 'perhaps')" in output, output[-3000:]
    assert len(deployed.log()) == requests  # no probe, no checkpoint, no shadow copy


def test_a_volume_group_costs_its_source_host_three_round_trips(deployed: RunningLab, tmp_path: Path) -> None:
    """group_snapshot: checkpoint + read, create + reference, and both releases, each one batch (one command)."""
    before = len(deployed.log("hv1"))
    rc, output, stored = backup_run(deployed, tmp_path, {"backup_vms": ["vm1"]}, "--limit", "px1")
    assert rc == 0 and stored == {"vm1"}, output[-3000:]
    steps = [name for name in handled_since(deployed, "hv1", before) if "change_tracking" in name or "shadow" in name]
    assert steps == [
        "collection:change_tracking_checkpoint+shadow_copy_read",
        "collection:shadow_copy_create+change_tracking_reference",
        "collection:change_tracking_release+shadow_copy_release",
    ]


def test_a_volume_group_costs_its_proxy_one_task_for_the_import_the_job_and_the_release(
    deployed: RunningLab, tmp_path: Path
) -> None:
    """data_mover with shadow_copy: the import, the job's start (which polls it to its end) and the release are round
    trips of one task, so in one WinRM shell; the run's other tasks on px1 are its probe and the repository's read."""
    points = restore_points(deployed, tmp_path)
    before = len(deployed.log("px1"))
    rc, output = playbook(deployed, tmp_path, BACKUP, {**COMMON, "backup_vms": ["vm1"]}, "--limit", "px1")
    records = deployed.log("px1")[before:]
    assert rc == 0 and restore_points(deployed, tmp_path)["vm1"] == points.get("vm1", 0) + 1, output[-3000:]
    handled = [str(record.get("handled_by", "")) for record in records]
    steps = [name for name in handled if "shadow_copy" in name or "data_mover" in name]
    assert steps == [
        "collection:data_mover_start",  # the repository's baselines
        "collection:shadow_copy_import",
        "collection:data_mover_start",
        "collection:shadow_copy_release",
    ], steps
    shells = [record for record in records if record.get("operation") == "Create"]
    assert len(shells) == 3, [(r.get("operation"), r.get("handled_by")) for r in records]  # probe, baselines, group


def newest_point(lab: RunningLab, work: Path, vm: str) -> dict[str, Any]:
    """The VM's newest restore point as px1's data mover lists it."""
    arguments = {"operation": "list", **{key: COMMON[f"backup_{key}"] for key in ("repository", "passphrase")}}
    listed = ansible_adhoc(lab, work, "px1", "-m", "backup.hyperv.data_mover", "-a", json.dumps(arguments))
    return listed["px1"]["vms"][vm][-1]


def test_backup_block_size_sets_the_chunk_size_of_the_restore_point(deployed: RunningLab, tmp_path: Path) -> None:
    rc, output, stored = backup_run(deployed, tmp_path, {"backup_vms": ["vm3"], "backup_block_size": "256K"})
    assert rc == 0 and stored == {"vm3"}, output[-3000:]
    disks = newest_point(deployed, tmp_path, "vm3")["disks"]
    assert disks and {disk["chunk_size"] for disk in disks} == {256 * 1024}, disks


def test_a_host_where_another_requester_keeps_vss_busy_fails_its_groups_alone(
    deployed: RunningLab, tmp_path: Path
) -> None:
    """VSS_E_SNAPSHOT_SET_IN_PROGRESS on hv2 for longer than the create script tries (600 s): hv2's group fails
    naming the cause and its checkpoint is released; hv1's VMs are stored; the run fails at the end naming vm2."""
    hv2 = HostState(deployed.state_dir / "hosts" / "hv2" / "state")
    with hv2.edit() as state:
        state["vss_other_requester"] = 1000
    try:
        rc, output, stored = backup_run(deployed, tmp_path, {"backup_vhd_set_policy": "skip"})
    finally:
        with hv2.edit() as state:
            state["vss_other_requester"] = 0
    assert rc == 2 and stored == {"vm1", "vm3"}, output[-3000:]
    last_failure = output[output.rindex("fatal: ") :]
    assert "hv2/vm2" in last_failure and "kept creating a shadow copy set on this host for 600 s" in last_failure
    assert "VSS_E_SNAPSHOT_SET_IN_PROGRESS" in last_failure
    assert read_counters(hv2.path.parent)["vss_in_progress"] >= 41  # 1 + 600 // 15 attempts
    held = [vm["checkpoint"] for vm in hv2.read().get("change_tracking", {}).get("vms", {}).values()]
    assert held and not any(held), f"no checkpoint taken, or one left behind on hv2: {held}"


def test_vms_no_healthy_proxy_serves_are_left_out_and_the_others_stored(deployed: RunningLab, tmp_path: Path) -> None:
    """px1 serves hv1 only: hv2's VMs are named and left out, hv1's are stored, then the run fails naming hv2's
    (one host without a healthy proxy used to stop the whole estate's backup before any VM)."""
    extra = {"offhost_proxy_source_hosts": ["hv1"], "backup_vhd_set_policy": "skip"}
    rc, output, stored = backup_run(deployed, tmp_path, extra)
    assert rc != 0 and stored == {"vm1", "vm3"}, output[-3000:]
    last_failure = output[output.rindex("fatal: ") :]
    assert "No healthy proxy of the run serves the host of hv2/vm2" in last_failure, last_failure
    assert "No healthy proxy of the run serves the host of hv2/vm2" in output[: output.index("PLAY [Back up")]


def test_a_repository_the_proxy_cannot_read_fails_each_of_its_vms_and_the_report_names_them(
    deployed: RunningLab, tmp_path: Path
) -> None:
    # A wrong passphrase: the baselines cannot be read. The proxy stays in the run, each VM it was given is a failed
    # row of the report and of the last verdict, instead of a proxy dropped with its VMs unaccounted for.
    (tmp_path / "first").mkdir()
    rc, output, _stored = backup_run(deployed, tmp_path / "first", {"backup_vms": ["vm1"]}, "--limit", "px1")
    assert rc == 0, output[-3000:]
    report = tmp_path / "report.html"
    extra = {"backup_vms": ["vm1", "vm2"], "backup_passphrase": "not-the-key", "backup_report_html": str(report)}
    rc, output, stored = backup_run(deployed, tmp_path, extra, "--limit", "px1")
    assert rc == 2 and stored == set(), output[-3000:]
    last_failure = output[output.rindex("fatal: ") :]
    assert "hv1/vm1" in last_failure and "hv2/vm2" in last_failure, last_failure
    assert "the repository could not be read" in last_failure, last_failure
    rows = BackupRows(report.read_text(encoding="utf-8")).rows
    assert {vm.split("/")[1] for vm in rows} == {"vm1", "vm2"}, rows
