"""`playbooks/backup.yml` with a guest that cannot quiesce (tests/lab/estates/guest-cannot-quiesce.yml): vm1's
application-consistent recovery checkpoint fails, so the job takes a crash-consistent one and says so in the
summary line and the HTML report; with `backup_crash_consistent_fallback: false` vm1 fails alone, naming why, and
keeps no checkpoint on its host, while vm2 and vm3 are stored."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from lab_testkit import ESTATES, RunningLab, ansible_adhoc
from test_site_lab import playbook, staged_lab

# isort: split
from lab.windows.hoststate import HostState

REPO_ROOT = Path(__file__).resolve().parents[3]
BACKUP = REPO_ROOT / "playbooks" / "backup.yml"
OFFHOST_PROXY = REPO_ROOT / "playbooks" / "offhost_proxy.yml"
COMMON = {"backup_repository": "C:\\Backup\\consistency", "backup_passphrase": "Lab-Vault-Passphrase-consistency"}
QUIESCE = "Production checkpoints cannot be created for 'vm1'."


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningLab]:
    work = tmp_path_factory.mktemp("backup-consistency")
    with staged_lab(ESTATES / "guest-cannot-quiesce.yml", work / "lab") as lab:
        rc, output = playbook(lab, work, OFFHOST_PROXY, {})
        assert rc == 0, output[-3000:]
        yield lab


def restore_points(lab: RunningLab, work: Path) -> dict[str, int]:
    arguments = {"operation": "list", **{key: COMMON[f"backup_{key}"] for key in ("repository", "passphrase")}}
    result = ansible_adhoc(lab, work, "px1", "-m", "backup.hyperv.data_mover", "-a", json.dumps(arguments))["px1"]
    return {vm: len(points) for vm, points in result.get("vms", {}).items()}


def test_a_guest_that_cannot_quiesce_is_stored_crash_consistent_and_named(deployed: RunningLab, tmp_path: Path) -> None:
    report = tmp_path / "backup.html"
    rc, output = playbook(deployed, tmp_path, BACKUP, {**COMMON, "backup_report_html": str(report)})
    assert rc == 0, output[-3000:]
    assert "crash consistent (the guest could not quiesce): hv1/vm1;" in output, output[-3000:]
    assert "hv2/vm2" not in output.split("crash consistent")[1].split(";")[0]  # vm2's guest quiesced
    assert restore_points(deployed, tmp_path) == {"vm1": 1, "vm2": 1, "vm3": 1}
    page = report.read_text()
    assert "<td>crash (the application-consistent checkpoint failed: Production checkpoints cannot be created" in page
    assert page.count("<td>application</td>") == 2, page


def test_without_the_fallback_the_guest_that_cannot_quiesce_fails_alone(deployed: RunningLab, tmp_path: Path) -> None:
    before = restore_points(deployed, tmp_path)
    rc, output = playbook(deployed, tmp_path, BACKUP, {**COMMON, "backup_crash_consistent_fallback": False})
    assert rc != 0, output[-3000:]
    assert (
        "checkpoint: no application-consistent recovery checkpoint of VM 'vm1' (the crash-consistent fallback is off): "
        f"{QUIESCE}"
    ) in output, output[-3000:]
    after = restore_points(deployed, tmp_path)
    assert {vm: after[vm] - before.get(vm, 0) for vm in after} == {"vm1": 0, "vm2": 1, "vm3": 1}
    held = HostState(deployed.state_dir / "hosts" / "hv1" / "state").read()["change_tracking"]["vms"]
    assert held and all(not record["checkpoint"] for record in held.values()), held  # none left on the host
