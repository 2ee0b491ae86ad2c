"""`playbooks/backup.yml` with a VM whose disk is a differencing disk of a golden image on another CSV
(tests/lab/estates/golden-image.yml). The volume group's set holds both CSVs; on the proxy each shadow copy is a
folder of its own, where the child's parent locator cannot lead, so the job names the parent's path on the proxy
(the data mover's job entry `parents`) and the data mover checks it is the parent the child was made from. The VM
is stored on day 1 and on an incremental day 2, and each restore point restores to the chain's merged content. A VM
whose golden image is on an SMB3 share while its disk is on a CSV fails alone, saying what to do: no one set holds
both kinds of storage."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from lab_testkit import ESTATES, RunningLab, ansible_adhoc
from test_site_lab import playbook, proxy_lab

# isort: split
from lab.estate.loader import load_estate
from lab.windows.storage import local_path

REPO_ROOT = Path(__file__).resolve().parents[3]
BACKUP = REPO_ROOT / "playbooks" / "backup.yml"
SECRETS = {"repository": "C:\\Backup\\golden", "passphrase": "Lab-Vault-Passphrase-golden"}
COMMON = {f"backup_{key}": value for key, value in SECRETS.items()} | {"backup_vms": ["vm1", "vdi1"]}
GOLD = "C:\\ClusterStorage\\Volume2\\Gold\\gold.vhdx"


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningLab]:
    with proxy_lab(ESTATES / "golden-image.yml", tmp_path_factory.mktemp("backup-golden")) as lab:
        yield lab


def data_mover(lab: RunningLab, work: Path, **arguments: object) -> dict:
    return ansible_adhoc(lab, work, "px1", "-m", "backup.hyperv.data_mover", "-a", json.dumps(SECRETS | arguments))[
        "px1"
    ]


def test_a_disk_whose_parent_is_a_golden_image_on_another_csv_is_stored_and_restores_to_its_merged_content(
    deployed: RunningLab, tmp_path: Path
) -> None:
    gold = local_path(load_estate(ESTATES / "golden-image.yml").model, deployed.state_dir, "hv1", GOLD)
    for day in (1, 2):
        rc, output = playbook(deployed, tmp_path, BACKUP, COMMON)
        assert rc == 0, output[-3000:]
        assert "px1: 2 VM(s) stored, 0 failed" in output, output[-3000:]
        point = data_mover(deployed, tmp_path, operation="list", vm="vdi1")["vms"]["vdi1"][-1]
        (disk,) = point["disks"]
        assert disk["vhd_type"] == "differencing" and disk["name"] == "vdi1.vhdx"
        assert point["incremental"]["vdi1.vhdx"]["mode"] == ("full" if day == 1 else "changed_ranges"), point
        restored = data_mover(deployed, tmp_path, operation="restore", vm="vdi1", destination=f"C:\\Restore\\{day}")
        assert restored.get("restore_point") == point["id"], restored
        # the lab's child is empty (nothing written since it was made): the merged content is the golden image's
        merged = deployed.host_file("px1", "C", "Restore", str(day), "vdi1.vhdx")
        assert subprocess.run(["qemu-img", "compare", "-q", str(gold), str(merged)]).returncode == 0


def test_a_disk_on_a_csv_whose_parent_is_on_an_smb3_share_fails_alone_saying_what_to_do(
    deployed: RunningLab, tmp_path: Path
) -> None:
    rc, output = playbook(deployed, tmp_path, BACKUP, {**COMMON, "backup_vms": ["vdi1", "vdi2"]})
    assert rc != 0, output[-3000:]
    last_failure = output[output.rindex("fatal: ") :]
    mixed = "hv1/vdi2: shadow copy: the VM files are on SMB3 shares (\\\\\\\\fs1\\\\vms\\\\)"  # JSON-escaped
    assert mixed in last_failure, last_failure
    assert "VM vdi2 cannot be taken at one point in time" in last_failure and "Merge-VHD" in last_failure
    assert "px1: 1 VM(s) stored, 1 failed" in last_failure, last_failure
