"""`playbooks/backup.yml` across a live migration (healthy.yml): vm1 is backed up on hv1, moves to hv2, the other
node of its cluster (`lab move`), and its guest writes. A live migration moves no files, and the resilient change
tracking of a disk lives in files beside it, so hv2 knows the RCT id hv1's reference point gave: the next backup
finds vm1 on hv2, reads only what changed and restores byte for byte. The lab refuses a move Windows would
refuse (a host outside the cluster). A VM that moves during its backup (moves-during-backup.yml) fails alone, and
the checkpoint it took along is released on its new node, so the next run backs it up there."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from lab_testkit import ESTATES, RunningLab, ansible_adhoc, run_lab
from test_site_lab import playbook, proxy_lab

# isort: split
from lab.estate.loader import load_estate
from lab.windows.hoststate import HostState

REPO_ROOT = Path(__file__).resolve().parents[3]
BACKUP = REPO_ROOT / "playbooks" / "backup.yml"
SECRETS = {"repository": "C:\\Backup\\moved", "passphrase": "Lab-Vault-Passphrase-moved"}
COMMON = {f"backup_{key}": value for key, value in SECRETS.items()} | {"backup_vms": ["vm1"]}
VM1_ID = next(vm.id.lower() for vm in load_estate(ESTATES / "healthy.yml").model.host("hv1").vms if vm.name == "vm1")


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningLab]:
    with proxy_lab(ESTATES / "healthy.yml", tmp_path_factory.mktemp("backup-moved")) as lab:
        yield lab


def lab_command(lab: RunningLab, *arguments: str, check: bool = True) -> subprocess.CompletedProcess:
    return run_lab(*arguments, "--state-dir", str(lab.state_dir), check=check)


def data_mover(lab: RunningLab, work: Path, **arguments: Any) -> dict:
    result = ansible_adhoc(lab, work, "px1", "-m", "backup.hyperv.data_mover", "-a", json.dumps(SECRETS | arguments))
    return result["px1"]


def test_a_vm_moved_to_another_node_is_backed_up_there_by_its_changed_ranges(
    deployed: RunningLab, tmp_path: Path
) -> None:
    rc, output = playbook(deployed, tmp_path, BACKUP, COMMON)
    assert rc == 0 and "Stored: hv1/vm1 -> " in output, output[-3000:]

    refused = lab_command(deployed, "move", "hv1", "vm1", "--to", "px1", check=False)
    assert refused.returncode != 0 and "not two nodes of one failover cluster" in refused.stderr, refused.stderr
    moved = json.loads(lab_command(deployed, "move", "hv1", "vm1", "--to", "hv2").stdout)
    assert (moved["from"], moved["to"]) == ("hv1", "hv2")
    gone = lab_command(deployed, "write", "hv1", "vm1", "--ranges", "0:64K", check=False)
    assert gone.returncode != 0 and "hv1 has no VM 'vm1'" in gone.stderr, gone.stderr
    written = json.loads(lab_command(deployed, "write", "hv2", "vm1", "--ranges", "0:64K,3M:128K").stdout)
    copy = tmp_path / "vm1.vhdx"
    shutil.copyfile(written["file"], copy)

    rc, output = playbook(deployed, tmp_path, BACKUP, COMMON)
    assert rc == 0 and "Stored: hv2/vm1 -> " in output, output[-3000:]
    assert "1 disk(s) read by RCT changed ranges" in output, output[-3000:]
    latest = data_mover(deployed, tmp_path, operation="list", vm="vm1")["vms"]["vm1"][-1]
    assert latest["incremental"]["vm1.vhdx"]["mode"] == "changed_ranges", latest["incremental"]
    assert latest["stats"]["bytes_read"] < 1 << 20, latest["stats"]  # the two tracking blocks, not the disk
    restored = data_mover(deployed, tmp_path, operation="restore", vm="vm1", destination="C:\\Restore\\moved")
    assert restored.get("restore_point") == latest["id"], restored
    restored_file = deployed.host_file("px1", "C", "Restore", "moved", "vm1.vhdx")
    assert subprocess.run(["qemu-img", "compare", "-q", str(copy), str(restored_file)]).returncode == 0
    back = json.loads(lab_command(deployed, "move", "hv2", "vm1", "--to", "hv1").stdout)
    assert back["to"] == "hv1"
    rc, output = playbook(deployed, tmp_path, BACKUP, COMMON)
    assert rc == 0 and "Stored: hv1/vm1 -> " in output and "1 disk(s) read by RCT changed ranges" in output


@pytest.fixture(scope="module")
def moving(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningLab]:
    """vm1 live-migrates from hv1 to hv2 right after its recovery checkpoint is taken."""
    with proxy_lab(ESTATES / "moves-during-backup.yml", tmp_path_factory.mktemp("backup-moving")) as lab:
        yield lab


def test_a_vm_that_moves_during_its_backup_keeps_no_checkpoint_and_is_backed_up_on_its_new_node(
    moving: RunningLab, tmp_path: Path
) -> None:
    """hv1's read of the VMs' files, in the checkpoint's round trip, finds vm1 gone, so vm1 fails alone; hv1's
    release finds nothing of it, and the release sent to the run's source hosts after the groups destroys, on hv2,
    the checkpoint that went along, which would otherwise keep vm1 on a differencing layer and make the next run
    refuse it."""
    variables = {**COMMON, "backup_vms": ["vm1", "vm2"]}
    rc, output = playbook(moving, tmp_path, BACKUP, variables)
    assert rc != 0, output[-3000:]
    last_failure = output[output.rindex("fatal: ") :]
    assert "Backup failed on px1 for: hv1/vm1" in last_failure and "1 VM(s) stored, 1 failed" in last_failure
    assert "hv1/vm1: shadow copy: no VM named vm1 on this host (Get-VM): moved to another node" in last_failure
    assert "Releases that failed" not in last_failure and "on none of the run's source hosts" not in last_failure
    hv2 = HostState(moving.state_dir / "hosts" / "hv2" / "state").read()["change_tracking"]["vms"]
    assert not hv2[VM1_ID]["checkpoint"], hv2[VM1_ID]  # released on the node it moved to
    hv1 = HostState(moving.state_dir / "hosts" / "hv1" / "state").read()["change_tracking"]["vms"]
    assert VM1_ID not in hv1
    rc, output = playbook(moving, tmp_path, BACKUP, variables)
    assert rc == 0 and "hv2/vm1 -> " in output and "2 VM(s) stored, 0 failed" in output, output[-3000:]
